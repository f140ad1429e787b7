// The messages nodes exchange over Redis (cluster/wire_message.h) and where names live
// (cluster/redis_names.h).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <set>

#include "cluster/redis_names.h"
#include "cluster/wire_message.h"
#include "frames/server_frames.h"

namespace dispatch::cluster {
namespace {

std::string frame_bytes(std::string_view payload) {
  FrameRef frame = build_event_frame("said", payload);
  return std::string(frame->bytes());
}

WireMessage decoded(const std::string& bytes) {
  auto result = decode_wire_message(bytes);
  if (auto* problem = std::get_if<std::string>(&result)) {
    ADD_FAILURE() << *problem;
    return {};
  }
  return std::get<WireMessage>(result);
}

std::string problem_of(std::string_view bytes) {
  auto result = decode_wire_message(bytes);
  auto* problem = std::get_if<std::string>(&result);
  return problem ? *problem : "decoded";
}

TEST(ClusterWire, FramesTravelAsTheirBytesWithOriginAndTarget) {
  const std::string frame = frame_bytes(R"({"n":1})");
  const std::string wire = encode_frame(WireKind::room_frame, "ab12cd34", "lobby", frame);
  EXPECT_EQ(wire.substr(0, 2), "D1");
  const WireMessage message = decoded(wire);
  EXPECT_EQ(message.kind, WireKind::room_frame);
  EXPECT_EQ(message.origin, "ab12cd34");
  EXPECT_EQ(message.target, "lobby");
  EXPECT_EQ(message.frame, frame);

  // Long frames (16- and 64-bit WebSocket lengths) pass whole.
  for (size_t size : {200u, 70000u}) {
    std::string text(size + 2, 'x');
    text.front() = text.back() = '"';
    const std::string big = frame_bytes(text);
    const std::string wire_bytes = encode_frame(WireKind::all_frame, "n", "", big);
    EXPECT_EQ(decoded(wire_bytes).frame, big);
  }
}

TEST(ClusterWire, MembershipAndCloseMessagesRoundTrip) {
  // (A WireMessage views the bytes it was decoded from: they must outlive it.)
  const std::string join_bytes = encode_join("n1", "alice", "room:a", true, 70000);
  const WireMessage join = decoded(join_bytes);
  EXPECT_EQ(join.kind, WireKind::join_user);
  EXPECT_EQ(join.target, "alice");
  EXPECT_EQ(join.room, "room:a");
  EXPECT_TRUE(join.counts_users);
  EXPECT_EQ(join.request, 70000u);
  const std::string joined_bytes = encode_answer("n2", 70000);
  const WireMessage joined = decoded(joined_bytes);
  EXPECT_EQ(joined.kind, WireKind::answer);
  EXPECT_EQ(joined.origin, "n2");
  EXPECT_EQ(joined.request, 70000u);
  EXPECT_EQ(joined.body, "");
  const std::string leave_bytes = encode_leave("n1", "alice", "room:a");
  const WireMessage leave = decoded(leave_bytes);
  EXPECT_EQ(leave.kind, WireKind::leave_user);
  EXPECT_EQ(leave.room, "room:a");
  const std::string close_bytes = encode_close("n1", "bob", 4003, "banned");
  const WireMessage close = decoded(close_bytes);
  EXPECT_EQ(close.kind, WireKind::close_user);
  EXPECT_EQ(close.target, "bob");
  EXPECT_EQ(close.code, 4003);
  EXPECT_EQ(close.reason, "banned");
  const std::string session_bytes =
      encode_close_session("n1", "bob", 0x1234567890ULL, 4001, "replaced by newer connection");
  const WireMessage session = decoded(session_bytes);
  EXPECT_EQ(session.kind, WireKind::close_session);
  EXPECT_EQ(session.target, "bob");
  EXPECT_EQ(session.session, 0x1234567890ULL);
  EXPECT_EQ(session.code, 4001);
  EXPECT_EQ(session.reason, "replaced by newer connection");
  EXPECT_EQ(problem_of(session_bytes.substr(0, session_bytes.size() - 30)),
            "the message is cut short");
}

TEST(ClusterWire, BadMessagesAreRefusedWithTheReason) {
  const std::string frame = frame_bytes("1");
  const std::string good = encode_frame(WireKind::user_frame, "n1", "bob", frame);
  EXPECT_EQ(problem_of(""), "not a Dispatch cluster message");
  EXPECT_EQ(problem_of("hello"), "not a Dispatch cluster message");
  std::string next_version = good;
  next_version[1] = '2';
  EXPECT_THAT(problem_of(next_version), ::testing::HasSubstr("format version 2"));
  EXPECT_EQ(problem_of(good.substr(0, 6)), "the message is cut short");
  // A frame cut short, or one with its length wrong, would reach clients as garbage.
  EXPECT_EQ(problem_of(good.substr(0, good.size() - 1)),
            "the message does not carry one whole WebSocket text frame");
  std::string masked = good;
  masked[masked.size() - frame.size() + 1] |= static_cast<char>(0x80);
  EXPECT_EQ(problem_of(masked), "the message does not carry one whole WebSocket text frame");
  std::string unknown = good;
  unknown[2] = 'z';
  EXPECT_EQ(problem_of(unknown), "unknown message kind 122");
  std::string no_origin = encode_frame(WireKind::user_frame, "", "bob", frame);
  EXPECT_EQ(problem_of(no_origin), "the message has no origin node id");
  EXPECT_EQ(problem_of(encode_leave("n1", "alice", "")), "the message names no room");
  EXPECT_EQ(problem_of(encode_answer("n2", 7).substr(0, 9)), "the message is cut short");
  EXPECT_EQ(problem_of(encode_room_query("n2", "", 7)), "the message names no room");
}

TEST(ClusterWire, RoomQueriesAreAnsweredWithTheMembers) {
  const std::string query_bytes = encode_room_query("n1", "lobby", 9);
  const WireMessage query = decoded(query_bytes);
  EXPECT_EQ(query.kind, WireKind::room_query);
  EXPECT_EQ(query.target, "lobby");
  EXPECT_EQ(query.request, 9u);

  std::string members;
  encode_member(members, "n2-1", "alice");
  encode_member(members, "n2-7", "bob\x1f\"");  // any bytes a user id may hold
  const std::string answer_bytes = encode_answer("n2", 9, members);
  const WireMessage answer = decoded(answer_bytes);
  EXPECT_EQ(answer.body, members);
  auto list = decode_members(answer.body);
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[0].connection, "n2-1");
  EXPECT_EQ((*list)[1].user, "bob\x1f\"");
  EXPECT_TRUE(decode_members("")->empty());
  EXPECT_FALSE(decode_members(members.substr(0, members.size() - 1)));
}

TEST(ClusterChannels, NamesAndShardsAreStable) {
  const RedisNames one("dispatch", 1);
  EXPECT_EQ(one.room("lobby"), "dispatch:room:lobby");
  EXPECT_EQ(one.user("alice"), "dispatch:user:alice");
  EXPECT_EQ(one.everyone(), "dispatch:all");
  EXPECT_EQ(one.room_shard("anything"), 0u);
  // FNV-1a 64: the same number on every machine and build (nodes must agree on it).
  EXPECT_EQ(stable_hash(""), 0xcbf29ce484222325ULL);
  EXPECT_EQ(stable_hash("a"), 0xaf63dc4c8601ec8cULL);
  const RedisNames three("dispatch", 3);
  std::set<uint32_t> used;
  for (int i = 0; i < 60; ++i) used.insert(three.room_shard("room-" + std::to_string(i)));
  EXPECT_EQ(used, (std::set<uint32_t>{0, 1, 2}));  // names spread over every shard
  EXPECT_EQ(three.room_shard("lobby"), three.room_shard("lobby"));
}

}  // namespace
}  // namespace dispatch::cluster
