// Serving the files of server.static_dir over plain HTTP on the WebSocket port, for demo pages
// (examples/chat). GET and HEAD only; `/` and directories mean `index.html`; the percent-decoded
// path may not leave the directory (no `..`, no symlink out of it); one request per connection.
// Deciding is here (the file, opened, and its response head); sending is StaticDownload's, which
// streams the file from the kernel's page cache, so no file is ever read into memory.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

namespace dispatch {

// An open descriptor, closed with its owner.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

// A file to send: the response head, then `size` bytes of `file` (none for HEAD).
struct StaticFile {
  std::string head;
  UniqueFd file;
  uint64_t size = 0;
  bool head_only = false;
};

// What to answer `target` (the request target, e.g. "/chat.js?v=2"): a file, or else (when
// `file` is not set) the whole response in `head`: 400 or 404.
StaticFile static_file_for(const std::string& root, std::string_view target, bool head_only);

}  // namespace dispatch
