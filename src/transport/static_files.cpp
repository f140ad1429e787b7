#include "transport/static_files.h"

#include <fmt/format.h>
#include <boost/url/parse.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace dispatch {

namespace {

namespace fs = std::filesystem;

constexpr std::uintmax_t max_file_size = 16 * 1024 * 1024;

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

std::string not_found() {
  return plain_response(404, "Not Found", "not_found", "no such file");
}

}  // namespace

std::string static_file_response(const std::string& root, std::string_view target, bool head_only) {
  auto parsed = boost::urls::parse_origin_form(target);
  if (!parsed) return plain_response(400, "Bad Request", "bad_request", "bad request target");

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
  const std::uintmax_t size = fs::file_size(file, error);
  if (error || size > max_file_size) return not_found();

  std::string body;
  if (!head_only) {
    std::ifstream in(file, std::ios::binary);
    std::ostringstream contents;
    contents << in.rdbuf();
    body = contents.str();
  }
  return fmt::format(
      "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\n"
      "X-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n{}",
      content_type_of(file), size, body);
}

}  // namespace dispatch
