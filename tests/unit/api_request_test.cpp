// The server API's request checks (src/api/): the head (key, route, method, size) and the JSON
// bodies, each bad form with its error and field.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "api/api_body.h"
#include "api/api_request.h"

namespace dispatch::api {
namespace {

const std::string kKey = "the-api-key-0123456789abcdef0123456789";

std::string head(std::string_view request_line, std::string_view extra = {}) {
  return std::string(request_line) + "\r\nHost: x\r\nAuthorization: Bearer " + kKey + "\r\n" +
         std::string(extra) + "\r\n";
}

ApiError error_of(const std::variant<Request, ApiError>& checked) {
  EXPECT_TRUE(std::holds_alternative<ApiError>(checked));
  return std::holds_alternative<ApiError>(checked) ? std::get<ApiError>(checked) : ApiError{};
}

TEST(ApiRequest, TheBearerKeyMustMatchExactly) {
  EXPECT_TRUE(bearer_matches("Bearer " + kKey, kKey));
  EXPECT_TRUE(bearer_matches("bearer  " + kKey + " ", kKey));
  EXPECT_FALSE(bearer_matches("Bearer " + kKey + "x", kKey));
  EXPECT_FALSE(bearer_matches("Bearer " + kKey.substr(1), kKey));
  EXPECT_FALSE(bearer_matches(kKey, kKey));
  EXPECT_FALSE(bearer_matches("Basic " + kKey, kKey));
  EXPECT_FALSE(bearer_matches("Bearer ", ""));  // no key: nothing matches
}

TEST(ApiRequest, RoutesMethodsAndRoomIds) {
  auto publish = check_request(head("POST /api/publish HTTP/1.1", "Content-Length: 12\r\n"), kKey);
  ASSERT_TRUE(std::holds_alternative<Request>(publish));
  EXPECT_EQ(std::get<Request>(publish).route, Route::publish);
  EXPECT_EQ(std::get<Request>(publish).body_length, 12u);

  auto room = check_request(head("GET /api/rooms/chat%3Aa%2Fb?x=1 HTTP/1.1"), kKey);
  ASSERT_TRUE(std::holds_alternative<Request>(room));
  EXPECT_EQ(std::get<Request>(room).route, Route::room_info);
  EXPECT_EQ(std::get<Request>(room).room, "chat:a/b");

  const ApiError wrong_method = error_of(check_request(head("PUT /api/reload HTTP/1.1"), kKey));
  EXPECT_EQ(wrong_method.status, 405);
  EXPECT_EQ(wrong_method.allow, "POST");
  EXPECT_EQ(error_of(check_request(head("GET /api/rooms HTTP/1.1"), kKey)).status, 404);
  EXPECT_EQ(error_of(check_request(head("GET /api/rooms/a/b HTTP/1.1"), kKey)).status, 404);
  EXPECT_EQ(error_of(check_request(head("GET /api HTTP/1.1"), kKey)).status, 404);
}

TEST(ApiRequest, TheKeyIsCheckedBeforeTheRouteAndTheOffApiIsNotFound) {
  const std::string no_key = "GET /api/nowhere HTTP/1.1\r\nHost: x\r\n\r\n";
  EXPECT_EQ(error_of(check_request(no_key, kKey)).status, 401);
  EXPECT_EQ(error_of(check_request(no_key, kKey)).code, "unauthorized");
  EXPECT_EQ(error_of(check_request(head("POST /api/publish HTTP/1.1"), "")).status, 404);
}

TEST(ApiRequest, BodiesOverOneMebibyteAndChunkedBodiesAreRefusedFromTheHead) {
  EXPECT_EQ(error_of(check_request(
                         head("POST /api/publish HTTP/1.1", "Content-Length: 1048577\r\n"), kKey))
                .status,
            413);
  EXPECT_EQ(
      error_of(
          check_request(head("POST /api/publish HTTP/1.1", "Transfer-Encoding: chunked\r\n"), kKey))
          .status,
      411);
  auto fits =
      check_request(head("POST /api/publish HTTP/1.1", "Content-Length: 1048576\r\n"), kKey);
  ASSERT_TRUE(std::holds_alternative<Request>(fits));
  EXPECT_EQ(std::get<Request>(fits).body_length, max_body_size);
  EXPECT_EQ(error_of(check_request("POST /api/publish HTTP/1.1\r\nHost: x\r\nContent-Length: "
                                   "-1\r\nAuthorization: Bearer " +
                                       kKey + "\r\n\r\n",
                                   kKey))
                .status,
            400);
}

TEST(ApiBody, APublishKeepsItsPayloadAndTargets) {
  auto read =
      read_publish_body(R"({"target": "room:r", "event": "e", "payload": {"a": [1, 2.5]}})");
  ASSERT_TRUE(std::holds_alternative<PublishBody>(read));
  const PublishBody& body = std::get<PublishBody>(read);
  EXPECT_FALSE(body.batch);
  ASSERT_EQ(body.items.size(), 1u);
  const PublishItem& item = std::get<PublishItem>(body.items[0]);
  EXPECT_EQ(item.kind, TargetKind::room);
  EXPECT_EQ(item.name, "r");
  EXPECT_EQ(item.event, "e");
  EXPECT_EQ(item.payload_json, R"({"a":[1,2.5]})");

  auto everyone =
      read_publish_body(R"([{"target": "*", "event": "e"}, {"target": "user:u", "event": "f"}])");
  const PublishBody& batch = std::get<PublishBody>(everyone);
  EXPECT_TRUE(batch.batch);
  EXPECT_EQ(std::get<PublishItem>(batch.items[0]).kind, TargetKind::everyone);
  EXPECT_EQ(std::get<PublishItem>(batch.items[0]).payload_json, "null");
  EXPECT_EQ(std::get<PublishItem>(batch.items[1]).kind, TargetKind::user);
  EXPECT_EQ(std::get<PublishItem>(batch.items[1]).name, "u");
}

TEST(ApiBody, EachBadFormNamesItsField) {
  struct Case {
    const char* body;
    const char* code;
    const char* field;
  };
  for (const Case& c :
       {Case{"{", "bad_json", ""}, Case{"5", "wrong_type", ""},
        Case{R"({"event": "e"})", "missing_field", "target"},
        Case{R"({"target": "room:r", "event": 1})", "wrong_type", "event"},
        Case{R"({"target": "topic:r", "event": "e"})", "bad_target", "target"},
        Case{R"({"target": "room:r", "event": "e", "x": 1})", "unknown_field", "x"}}) {
    auto read = read_publish_body(c.body);
    ASSERT_TRUE(std::holds_alternative<ApiError>(read)) << c.body;
    EXPECT_EQ(std::get<ApiError>(read).status, 400) << c.body;
    EXPECT_EQ(std::get<ApiError>(read).code, c.code) << c.body;
    EXPECT_EQ(std::get<ApiError>(read).field, c.field) << c.body;
  }
  auto batch = read_publish_body(R"([{"target": "*", "event": "e"}, {"target": "*"}])");
  const PublishBody& body = std::get<PublishBody>(batch);
  EXPECT_EQ(std::get<ApiError>(body.items[1]).field, "[1].event");
}

TEST(ApiBody, DisconnectNeedsAUserAndAShortReason) {
  auto read = read_disconnect_body(R"({"user": "u"})");
  ASSERT_TRUE(std::holds_alternative<DisconnectRequest>(read));
  EXPECT_EQ(std::get<DisconnectRequest>(read).reason, "disconnected");
  EXPECT_EQ(std::get<ApiError>(read_disconnect_body(R"({"user": ""})")).field, "user");
  EXPECT_EQ(std::get<ApiError>(read_disconnect_body(R"({"user": "u", "reason": ")" +
                                                    std::string(124, 'r') + "\"}"))
                .code,
            "reason_too_long");
}

}  // namespace
}  // namespace dispatch::api
