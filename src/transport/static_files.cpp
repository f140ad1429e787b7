#include "transport/static_files.h"

#include <fmt/format.h>
#include <boost/url/parse.hpp>

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>

namespace dispatch {

namespace {

namespace fs = std::filesystem;

std::string_view content_type_of(const fs::path& path) {
  const std::string extension = path.extension().string();
  if (extension == ".html" || extension == ".htm") return "text/html; charset=utf-8";
  if (extension == ".js" || extension == ".mjs") return "text/javascript; charset=utf-8";
  if (extension == ".css") return "text/css; charset=utf-8";
  if (extension == ".json") return "application/json";
  if (extension == ".svg") return "image/svg+xml";
  if (extension == ".png") return "image/png";
  if (extension == ".ico") return "image/x-icon";
  if (extension == ".txt" || extension == ".md") return "text/plain; charset=utf-8";
  if (extension == ".wasm") return "application/wasm";
  return "application/octet-stream";
}

std::string plain_response(int status, std::string_view reason, std::string_view code,
                           std::string_view message) {
  std::string body = fmt::format("{{\"error\":\"{}\",\"message\":\"{}\"}}", code, message);
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
      "Connection: close\r\n\r\n{}",
      status, reason, body.size(), body);
}

StaticFile answer(std::string response) {
  StaticFile reply;
  reply.head = std::move(response);
  return reply;
}

StaticFile not_found() {
  return answer(plain_response(404, "Not Found", "not_found", "no such file"));
}

}  // namespace

StaticFile static_file_for(const std::string& root, std::string_view target, bool head_only) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) {
    return answer(plain_response(400, "Bad Request", "bad_request", "bad request target"));
  }

  fs::path relative;
  for (auto segment : parsed->segments()) {  // percent-decoded
    if (segment.empty() || segment == ".") continue;
    if (segment == ".." || segment.find('\0') != std::string::npos ||
        segment.find('/') != std::string::npos || segment.find('\\') != std::string::npos) {
      return not_found();
    }
    relative /= segment;
  }

  std::error_code error;
  const fs::path base = fs::canonical(root, error);
  if (error) return not_found();
  fs::path file = fs::weakly_canonical(base / relative, error);
  if (error) return not_found();
  if (fs::is_directory(file, error)) file /= "index.html";
  // The resolved file (after symlinks) must still lie inside the directory.
  auto [base_end, file_position] =
      std::mismatch(base.begin(), base.end(), file.begin(), file.end());
  if (base_end != base.end() || !fs::is_regular_file(file, error)) return not_found();
  // Opened without following a last symlink swapped in since the check; its size is the open
  // file's, whatever happens to the path later.
  UniqueFd opened(::open(file.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  struct stat status {};
  if (!opened || ::fstat(opened.get(), &status) != 0 || !S_ISREG(status.st_mode))
    return not_found();

  StaticFile reply;
  reply.size = static_cast<uint64_t>(status.st_size);
  reply.head = fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n"
      "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n",
      content_type_of(file), reply.size);
  reply.head_only = head_only;
  if (!head_only) reply.file = std::move(opened);
  return reply;
}

}  // namespace dispatch
