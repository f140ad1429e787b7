// The Redis client (src/redis/) against a real redis-server started by the test: URLs, pipelined
// commands in order, binary-safe values, AUTH and SELECT from the URL, pub/sub with its
// confirmation, and a server killed and started again (the client says so once, answers what
// was in flight with errors, reconnects by itself and subscribes again).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "redis/redis_client.h"
#include "redis/redis_url.h"
#include "redis_test_support.h"

namespace dispatch::redis {
namespace {

using test_support::RedisServerProcess;

RedisUrl url_for(const RedisServerProcess& server, std::string suffix = "",
                 std::string credentials = "") {
  auto parsed = parse_redis_url("redis://" + credentials +
                                "127.0.0.1:" + std::to_string(server.port()) + suffix);
  EXPECT_TRUE(std::holds_alternative<RedisUrl>(parsed));
  return std::get<RedisUrl>(parsed);
}

// Runs the io_context until `done` holds (fails the test after 10 s).
void run_until(boost::asio::io_context& io, const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!done()) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "timed out";
    io.run_for(std::chrono::milliseconds(5));
  }
}

RedisReply call(boost::asio::io_context& io, RedisClient& client, std::vector<std::string> argv) {
  std::optional<RedisReply> answer;
  client.command(std::move(argv), [&](const RedisReply& reply) { answer = reply; });
  run_until(io, [&] { return answer.has_value(); });
  return answer.value_or(RedisReply::error("no answer"));
}

TEST(RedisUrl, ParsesHostPortPasswordAndDb) {
  auto url = std::get<RedisUrl>(parse_redis_url("redis://:s3cret@10.0.0.5:6380/2"));
  EXPECT_EQ(url.host, "10.0.0.5");
  EXPECT_EQ(url.port, 6380);
  EXPECT_EQ(url.password, "s3cret");
  EXPECT_EQ(url.username, "");
  EXPECT_EQ(url.db, 2u);
  EXPECT_EQ(url.display(), "10.0.0.5:6380/2");  // no credentials
  auto acl = std::get<RedisUrl>(parse_redis_url("redis://app:pw@redis.internal"));
  EXPECT_EQ(acl.username, "app");
  EXPECT_EQ(acl.password, "pw");
  EXPECT_EQ(acl.port, 6379);
  EXPECT_EQ(std::get<RedisUrl>(parse_redis_url("redis://[::1]:7000")).host, "::1");
  EXPECT_EQ(std::get<RedisUrl>(parse_redis_url("redis://secret@h")).password, "secret");
}

TEST(RedisUrl, BadFormsSayWhatIsWrongWithoutThePassword) {
  for (const char* text : {"", "127.0.0.1:6379", "http://h:1", "rediss://h:1", "redis://",
                           "redis://h:0", "redis://h:70000", "redis://h:x", "redis://h/x",
                           "redis://h/1?timeout=1", "redis://:hunter2@h:99999"}) {
    auto parsed = parse_redis_url(text);
    ASSERT_TRUE(std::holds_alternative<std::string>(parsed)) << text;
    EXPECT_FALSE(std::get<std::string>(parsed).empty()) << text;
    EXPECT_THAT(std::get<std::string>(parsed), ::testing::Not(::testing::HasSubstr("hunter2")));
  }
  EXPECT_THAT(std::get<std::string>(parse_redis_url("rediss://h:1")), ::testing::HasSubstr("TLS"));
}

TEST(RedisClient, ReconnectDelaysGrowWithJitterAndAreCapped) {
  EXPECT_EQ(RedisClient::reconnect_delay(1, 0.0).count(), 50);
  EXPECT_EQ(RedisClient::reconnect_delay(1, 0.999).count(), 99);
  EXPECT_EQ(RedisClient::reconnect_delay(3, 0.0).count(), 200);
  EXPECT_EQ(RedisClient::reconnect_delay(40, 0.0).count(), 2500);
  EXPECT_LE(RedisClient::reconnect_delay(40, 0.999).count(), 5000);
}

TEST(RedisClient, PipelinedCommandsAreAnsweredInOrderAndValuesAreBinarySafe) {
  RedisServerProcess server;
  ASSERT_TRUE(server.running());
  boost::asio::io_context io;
  RedisClient client(io, url_for(server));
  client.start();
  run_until(io, [&] { return client.connected(); });

  std::vector<int64_t> answers;
  for (int i = 0; i < 1000; ++i) {
    client.command({"INCR", "counter"},
                   [&](const RedisReply& reply) { answers.push_back(reply.integer); });
  }
  run_until(io, [&] { return answers.size() == 1000; });
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(answers[i], i + 1);

  const std::string binary("a\0b\xff\r\n", 6);
  EXPECT_EQ(call(io, client, {"SET", binary, binary}).text, "OK");
  const RedisReply got = call(io, client, {"GET", binary});
  EXPECT_EQ(got.type, RedisReply::Type::string);
  EXPECT_EQ(got.text, binary);
  EXPECT_EQ(call(io, client, {"GET", "missing"}).type, RedisReply::Type::nil);
  EXPECT_TRUE(call(io, client, {"NOSUCHCOMMAND"}).is_error());
}

TEST(RedisClient, AuthAndSelectComeFromTheUrl) {
  RedisServerProcess server("pw-for-tests");
  ASSERT_TRUE(server.running());
  boost::asio::io_context io;
  RedisClient client(io, url_for(server, "/3", ":pw-for-tests@"));
  client.start();
  run_until(io, [&] { return client.connected(); });
  const RedisReply info = call(io, client, {"CLIENT", "INFO"});
  EXPECT_THAT(info.text, ::testing::HasSubstr(" db=3 "));

  // A refused AUTH: the client never counts as connected (a node is not ready), its commands
  // are answered with errors, and it keeps trying with backoff.
  std::vector<bool> states;
  RedisClient wrong(io, url_for(server, "", ":wrong@"),
                    {[&](bool connected) { states.push_back(connected); }, {}});
  wrong.start();
  io.restart();
  io.run_for(std::chrono::milliseconds(600));
  EXPECT_FALSE(wrong.connected());
  EXPECT_THAT(states, ::testing::Not(::testing::Contains(true)));
  EXPECT_TRUE(call(io, wrong, {"GET", "k"}).is_error());
}

TEST(RedisClient, SubscribersGetMessagesAfterTheConfirmationAndNoneAfterUnsubscribing) {
  RedisServerProcess server;
  ASSERT_TRUE(server.running());
  boost::asio::io_context io;
  std::vector<std::string> received;
  RedisClient subscriber(io, url_for(server),
                         {{}, [&](std::string_view channel, std::string_view message) {
                            received.push_back(std::string(channel) + "=" + std::string(message));
                          }});
  RedisClient publisher(io, url_for(server));
  subscriber.start();
  publisher.start();
  run_until(io, [&] { return subscriber.connected() && publisher.connected(); });

  bool confirmed = false;
  subscriber.subscribe("room:a", [&] { confirmed = true; });
  run_until(io, [&] { return confirmed; });
  EXPECT_EQ(call(io, publisher, {"PUBLISH", "room:a", "hello"}).integer, 1);  // one receiver
  run_until(io, [&] { return !received.empty(); });
  EXPECT_THAT(received, ::testing::ElementsAre("room:a=hello"));

  bool again = false;  // already subscribed: confirmed at once
  subscriber.subscribe("room:a", [&] { again = true; });
  EXPECT_TRUE(again);

  subscriber.unsubscribe("room:a");
  run_until(io, [&] {
    return call(io, publisher, {"PUBSUB", "NUMSUB", "room:a"}).elements.at(1).integer == 0;
  });
  EXPECT_EQ(call(io, publisher, {"PUBLISH", "room:a", "late"}).integer, 0);
}

TEST(RedisClient, ARestartedServerIsReconnectedAndResubscribedByItself) {
  RedisServerProcess server;
  ASSERT_TRUE(server.running());
  boost::asio::io_context io;
  std::vector<bool> states;
  std::vector<std::string> received;
  RedisClient subscriber(
      io, url_for(server),
      {[&](bool connected) { states.push_back(connected); },
       [&](std::string_view, std::string_view message) { received.emplace_back(message); }});
  RedisClient publisher(io, url_for(server));
  subscriber.start();
  publisher.start();
  run_until(io, [&] { return subscriber.connected() && publisher.connected(); });
  bool confirmed = false;
  subscriber.subscribe("ch", [&] { confirmed = true; });
  run_until(io, [&] { return confirmed; });

  // In flight when the server dies: answered with an error, never left hanging.
  std::optional<RedisReply> in_flight;
  publisher.command({"BLPOP", "never", "0"}, [&](const RedisReply& reply) { in_flight = reply; });
  io.run_for(std::chrono::milliseconds(20));
  server.kill();
  run_until(io, [&] { return in_flight.has_value() && !subscriber.connected(); });
  EXPECT_TRUE(in_flight->is_error());
  EXPECT_TRUE(call(io, publisher, {"PING"}).is_error());  // while down: an error at once

  ASSERT_TRUE(server.start());
  run_until(io, [&] { return subscriber.connected() && publisher.connected(); });
  EXPECT_EQ(states, (std::vector<bool>{true, false, true}));  // once per change
  EXPECT_EQ(call(io, publisher, {"PING"}).text, "PONG");
  // Subscribed again without being asked: a publish reaches it.
  run_until(io, [&] {
    return call(io, publisher, {"PUBSUB", "NUMSUB", "ch"}).elements.at(1).integer == 1;
  });
  EXPECT_EQ(call(io, publisher, {"PUBLISH", "ch", "back"}).integer, 1);
  run_until(io, [&] { return !received.empty(); });
  EXPECT_THAT(received, ::testing::ElementsAre("back"));
}

}  // namespace
}  // namespace dispatch::redis
