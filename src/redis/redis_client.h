// One connection to one Redis server, driven by an Asio io_context (an event loop's): commands
// are pipelined (written as they come, answered in order), and a client used for SUBSCRIBE gets
// each message through a callback. It reconnects by itself with backoff and jitter when the
// connection is lost or refused, sends AUTH and SELECT from the URL first, subscribes again to
// its channels, and says once per change whether it is connected. A command never hangs: while
// disconnected it is answered at once with an error, and commands in flight when the connection
// drops are answered with one.
//
// The RESP protocol is hiredis's (libhiredis-dev 0.14); hiredis ships event adapters for
// libevent, libev and libuv but none for Asio, so redis/asio_events.h attaches its async context
// to the io_context (a few dozen lines over redisAsyncContext's `ev` hooks).
//
// Single-threaded: every call, and every callback, on the io_context's thread. Connecting
// resolves the host with getaddrinfo (blocking): give an address, or a name in /etc/hosts.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "redis/redis_reply.h"
#include "redis/redis_url.h"

struct redisAsyncContext;

namespace dispatch::redis {

class AsioEvents;

class RedisClient {
 public:
  using ReplyHandler = std::function<void(const RedisReply& reply)>;
  struct Callbacks {
    std::function<void(bool connected)> on_state;  // once per change
    // A message on a subscribed channel.
    std::function<void(std::string_view channel, std::string_view message)> on_message;
  };

  RedisClient(boost::asio::io_context& io, RedisUrl url, Callbacks callbacks = {});
  ~RedisClient();  // disconnects; what is in flight is answered with an error first
  RedisClient(const RedisClient&) = delete;
  RedisClient& operator=(const RedisClient&) = delete;

  void start();
  bool connected() const { return connected_; }
  const RedisUrl& url() const { return url_; }

  // Sends a command (binary-safe arguments). `done` gets its reply, or an error reply when the
  // connection is down or drops before the answer; an empty `done` discards the reply.
  void command(std::vector<std::string> argv, ReplyHandler done);

  // SUBSCRIBE, kept across reconnects. `settled` runs once there is nothing more to wait for:
  // when Redis has confirmed it (messages published after that reach this client; at once when
  // it is confirmed already), or when the channel is unsubscribed or the connection is down
  // before that (at once while disconnected).
  void subscribe(const std::string& channel, std::function<void()> settled = {});
  // Whether Redis has confirmed the subscription on the current connection.
  bool confirmed(std::string_view channel) const {
    auto found = subscriptions_.find(channel);
    return found != subscriptions_.end() && found->second.confirmed;
  }
  void unsubscribe(const std::string& channel);

  // The delay before reconnect attempt n (1, 2, …): 100 ms doubled per attempt up to 5 s, half
  // of it random ("equal jitter") so that nodes do not come back in lockstep.
  static std::chrono::milliseconds reconnect_delay(uint32_t attempt, double random_fraction);

 private:
  static void on_connect(const redisAsyncContext* context, int status);
  static void on_disconnect(const redisAsyncContext* context, int status);
  static void on_reply(redisAsyncContext* context, void* reply, void* handler);
  static void on_subscription_reply(redisAsyncContext* context, void* reply, void* client);

  void connect();
  void lost();  // the context is gone (refused, dropped): schedule a reconnect
  void set_connected(bool connected);
  void send_subscribe(const std::string& channel);
  void handle_subscription_reply(const RedisReply& reply);

  boost::asio::io_context& io_;
  RedisUrl url_;
  Callbacks callbacks_;
  redisAsyncContext* context_ = nullptr;
  std::shared_ptr<AsioEvents> events_;
  boost::asio::steady_timer reconnect_timer_;
  uint32_t failed_attempts_ = 0;
  bool connected_ = false;
  bool stopping_ = false;
  struct Subscription {
    bool confirmed = false;
    std::vector<std::function<void()>> waiting;  // `settled` callbacks not yet called
  };
  static void settle(Subscription& subscription);

  std::map<std::string, Subscription, std::less<>> subscriptions_;
  // Per channel: answers of SUBSCRIBEs sent before an UNSUBSCRIBE, still to come (and ignored).
  std::map<std::string, uint32_t, std::less<>> stale_confirmations_;
  uint32_t setup_pending_ = 0;  // AUTH and SELECT not yet answered on this connection
  bool handshake_done_ = false;
  bool setup_refusal_logged_ = false;
};

}  // namespace dispatch::redis
