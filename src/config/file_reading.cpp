#include "config/file_reading.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace dispatch::config {

namespace {

std::string describe_file_type(mode_t mode) {
  if (S_ISDIR(mode)) return "it is a directory, not a file";
  if (S_ISFIFO(mode)) return "it is a FIFO (named pipe), not a regular file";
  if (S_ISSOCK(mode)) return "it is a socket, not a regular file";
  if (S_ISCHR(mode) || S_ISBLK(mode)) return "it is a device, not a regular file";
  return "it is not a regular file";
}

}  // namespace

FileReadResult read_regular_file(const std::string& path) {
  FileReadResult result;
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    result.missing = errno == ENOENT;
    result.error = std::strerror(errno);
    return result;
  }
  struct stat status {};
  if (::fstat(fd, &status) != 0) {
    result.error = std::strerror(errno);
  } else if (!S_ISREG(status.st_mode)) {
    result.error = describe_file_type(status.st_mode);
  } else {
    std::string contents;
    contents.reserve(static_cast<size_t>(status.st_size));
    char buffer[16 * 1024];
    for (;;) {
      const ssize_t got = ::read(fd, buffer, sizeof buffer);
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) {
        result.error = std::strerror(errno);
        break;
      }
      if (got == 0) {
        result.contents = std::move(contents);
        break;
      }
      contents.append(buffer, static_cast<size_t>(got));
    }
  }
  ::close(fd);
  return result;
}

}  // namespace dispatch::config
