#include "api/api_error.h"

#include <fmt/format.h>
#include <boost/beast/http/status.hpp>

#include "template/json_escape.h"

namespace dispatch::api {

std::string error_json(const ApiError& error) {
  std::string body = "{\"error\":\"";
  append_json_escaped(body, error.code);
  body += "\",\"message\":\"";
  append_json_escaped(body, error.message);
  body += '"';
  if (!error.field.empty()) {
    body += ",\"field\":\"";
    append_json_escaped(body, error.field);
    body += '"';
  }
  body += '}';
  return body;
}

std::string json_response(int status, std::string_view body, std::string_view extra_headers) {
  namespace http = boost::beast::http;
  return fmt::format(
      "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n"
      "Cache-Control: no-store\r\n{}Connection: close\r\n\r\n{}",
      status, http::obsolete_reason(static_cast<http::status>(status)), body.size(), extra_headers,
      body);
}

std::string error_response(const ApiError& error) {
  std::string headers;
  if (error.status == 401) headers = "WWW-Authenticate: Bearer realm=\"dispatch\"\r\n";
  if (error.status == 405 && !error.allow.empty()) headers = "Allow: " + error.allow + "\r\n";
  return json_response(error.status, error_json(error), headers);
}

}  // namespace dispatch::api
