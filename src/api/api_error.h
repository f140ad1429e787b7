// The server API's answers (SPEC 5): JSON bodies, and errors as
// {"error": "<code>", "message": "…", "field": "…"} with the HTTP status that fits.
#pragma once

#include <string>
#include <string_view>

namespace dispatch::api {

struct ApiError {
  int status = 400;
  std::string code;     // "bad_json", "missing_field", "unauthorized", ...
  std::string message;  // a sentence for the backend's developer
  std::string field;    // the field at fault ("target", "[2].event"); "" when none
  std::string allow;    // 405: the methods the route takes (the Allow header)
};

// {"error":…,"message":…[,"field":…]}
std::string error_json(const ApiError& error);

// A whole HTTP/1.1 response with a JSON body; the connection closes after it.
std::string json_response(int status, std::string_view body, std::string_view extra_headers = {});

// The error as a response, with WWW-Authenticate (401) or Allow (405) where they belong.
std::string error_response(const ApiError& error);

}  // namespace dispatch::api
