// Reading a config or .env file without ever blocking: the path is opened with O_NONBLOCK and
// checked with fstat before anything is read, so a directory, a FIFO, a socket or a device is a
// clear error instead of a hang (a FIFO with no writer would block a plain read forever).
#pragma once

#include <optional>
#include <string>

namespace dispatch::config {

struct FileReadResult {
  std::optional<std::string> contents;  // set when the file was read
  bool missing = false;                 // the path does not exist
  std::string error;                    // why it was not read, e.g. "it is a directory"
};

// Reads a whole regular file.
FileReadResult read_regular_file(const std::string& path);

}  // namespace dispatch::config
