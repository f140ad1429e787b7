#include "api/api_request.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/url/parse.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <optional>
#include <vector>

namespace dispatch::api {

namespace http = boost::beast::http;

namespace {

bool iequals_prefix(std::string_view text, std::string_view prefix) {
  return text.size() >= prefix.size() &&
         std::equal(prefix.begin(), prefix.end(), text.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

using Digest = std::array<unsigned char, 32>;

Digest sha256(std::string_view text) {
  Digest digest{};
  unsigned int size = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) {
    digest.fill(0xff);  // cannot happen with the default provider; then nothing matches it
  }
  return digest;
}

ApiError error(int status, std::string code, std::string message, std::string field = {}) {
  return ApiError{status, std::move(code), std::move(message), std::move(field), {}};
}

ApiError wrong_method(std::string_view allowed, std::string_view path) {
  ApiError refused = error(405, "method_not_allowed",
                           std::string(path) + " takes " + std::string(allowed) + " requests");
  refused.allow = std::string(allowed);
  return refused;
}

struct Matched {
  Route route;
  std::string room;
  http::verb method;  // the one the route takes
};

// The route of a decoded path: /api/publish, /api/disconnect, /api/reload, /api/rooms/{id},
// /api/rooms/{id}/history.
std::optional<Matched> match_route(const std::vector<std::string>& segments) {
  if (segments.size() == 2 && segments[0] == "api") {
    if (segments[1] == "publish") return Matched{Route::publish, {}, http::verb::post};
    if (segments[1] == "disconnect") return Matched{Route::disconnect, {}, http::verb::post};
    if (segments[1] == "reload") return Matched{Route::reload, {}, http::verb::post};
  }
  if (segments.size() == 3 && segments[0] == "api" && segments[1] == "rooms" &&
      !segments[2].empty()) {
    return Matched{Route::room_info, segments[2], http::verb::get};
  }
  if (segments.size() == 4 && segments[0] == "api" && segments[1] == "rooms" &&
      !segments[2].empty() && segments[3] == "history") {
    return Matched{Route::room_history, segments[2], http::verb::get};
  }
  return std::nullopt;
}

}  // namespace

std::string_view route_name(Route route) {
  switch (route) {
    case Route::publish:
      return "publish";
    case Route::room_info:
      return "rooms";
    case Route::room_history:
      return "history";
    case Route::disconnect:
      return "disconnect";
    case Route::reload:
      return "reload";
  }
  return "none";
}

bool bearer_matches(std::string_view authorization, std::string_view key) {
  if (!iequals_prefix(authorization, "bearer ")) return false;
  std::string_view candidate = authorization.substr(7);
  while (!candidate.empty() && (candidate.front() == ' ' || candidate.front() == '\t')) {
    candidate.remove_prefix(1);
  }
  while (!candidate.empty() && (candidate.back() == ' ' || candidate.back() == '\t')) {
    candidate.remove_suffix(1);
  }
  const Digest given = sha256(candidate);
  const Digest expected = sha256(key);
  return CRYPTO_memcmp(given.data(), expected.data(), given.size()) == 0 && !key.empty();
}

std::variant<Request, ApiError> check_request(std::string_view head, std::string_view api_key) {
  if (api_key.empty()) {
    return error(404, "not_found",
                 "the server API is off: set api.key in the config (or DISPATCH_API_KEY)");
  }
  http::request_parser<http::empty_body> parser;
  parser.header_limit(std::numeric_limits<std::uint32_t>::max());
  parser.body_limit(boost::none);  // the size is checked below, with an answer that says so
  parser.eager(false);
  boost::beast::error_code parse_error;
  parser.put(boost::asio::buffer(head.data(), head.size()), parse_error);
  if (parse_error || !parser.is_header_done()) {
    return error(400, "bad_request",
                 "the request is not valid HTTP/1.1" +
                     (parse_error ? " (" + parse_error.message() + ")" : std::string()));
  }
  const auto& request = parser.get();
  const std::string_view authorization(request[http::field::authorization]);
  if (authorization.empty()) {
    return error(401, "unauthorized", "send the API key as `Authorization: Bearer <api.key>`");
  }
  if (!bearer_matches(authorization, api_key)) {
    return error(401, "unauthorized", "the API key is wrong (Authorization: Bearer <api.key>)");
  }

  const std::string_view target(request.target().data(), request.target().size());
  auto url = boost::urls::parse_origin_form(target);
  if (!url) return error(400, "bad_request", "the request target is not a valid URL path");
  std::vector<std::string> segments;
  for (const std::string segment : url->segments()) segments.push_back(segment);
  const std::string path(url->encoded_path());
  const std::optional<Matched> matched = match_route(segments);
  if (!matched) {
    return error(404, "not_found",
                 "no API route " + path +
                     "; the routes are POST /api/publish, GET /api/rooms/{id}, "
                     "GET /api/rooms/{id}/history, POST /api/disconnect, POST /api/reload");
  }
  if (request.method() != matched->method) {
    return wrong_method(matched->method == http::verb::get ? "GET" : "POST", path);
  }

  Request checked;
  checked.route = matched->route;
  checked.room = matched->room;
  if (checked.route == Route::room_history) {
    for (const auto& param : url->params()) {
      if (param.key != "since") continue;
      const std::string value(param.value);
      auto [end, problem] =
          std::from_chars(value.data(), value.data() + value.size(), checked.since);
      if (value.empty() || problem != std::errc() || end != value.data() + value.size()) {
        return error(400, "bad_request",
                     "`since` must be an offset: a non-negative integer, like ?since=41", "since");
      }
    }
  }
  if (matched->method == http::verb::get) return checked;  // a GET's body, if any, is ignored
  if (parser.chunked()) {
    return error(411, "length_required",
                 "send the body with a Content-Length header (chunked bodies are not taken)");
  }
  const auto length = parser.content_length();
  if (length && *length > max_body_size) {
    return error(413, "body_too_large",
                 "the body is " + std::to_string(*length) + " bytes; at most " +
                     std::to_string(max_body_size) + " (1 MiB) are taken: split a batch");
  }
  checked.body_length = length ? static_cast<size_t>(*length) : 0;
  return checked;
}

}  // namespace dispatch::api
