#include "redis/redis_client.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <random>

#include "log/log.h"
#include "redis/asio_events.h"

namespace dispatch::redis {

namespace {

double random_fraction() {
  thread_local std::mt19937 generator{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(generator);
}

}  // namespace

RedisReply copy_reply(const void* hiredis_reply) {
  if (!hiredis_reply) return RedisReply::error("the connection to Redis was lost");
  const auto* reply = static_cast<const redisReply*>(hiredis_reply);
  RedisReply copy;
  switch (reply->type) {
    case REDIS_REPLY_ERROR:
      copy.type = RedisReply::Type::error;
      copy.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_STATUS:
      copy.type = RedisReply::Type::status;
      copy.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_STRING:
      copy.type = RedisReply::Type::string;
      copy.text.assign(reply->str, reply->len);
      break;
    case REDIS_REPLY_INTEGER:
      copy.type = RedisReply::Type::integer;
      copy.integer = reply->integer;
      break;
    case REDIS_REPLY_ARRAY:
      copy.type = RedisReply::Type::array;
      for (size_t i = 0; i < reply->elements; ++i) {
        copy.elements.push_back(copy_reply(reply->element[i]));
      }
      break;
    default:
      copy.type = RedisReply::Type::nil;
  }
  return copy;
}

std::chrono::milliseconds RedisClient::reconnect_delay(uint32_t attempt, double fraction) {
  const int64_t step = std::min<int64_t>(100LL << std::min<uint32_t>(attempt - 1, 10), 5000);
  return std::chrono::milliseconds(step / 2 + static_cast<int64_t>(fraction * (step / 2)));
}

RedisClient::RedisClient(boost::asio::io_context& io, RedisUrl url, Callbacks callbacks)
    : io_(io), url_(std::move(url)), callbacks_(std::move(callbacks)), reconnect_timer_(io) {}

RedisClient::~RedisClient() {
  stopping_ = true;
  reconnect_timer_.cancel();
  if (context_) {
    redisAsyncContext* context = context_;
    context_ = nullptr;
    context->data = nullptr;
    redisAsyncFree(context);  // answers what is in flight (nullptr replies), then frees
  }
}

void RedisClient::start() {
  connect();
}

void RedisClient::connect() {
  redisAsyncContext* context = redisAsyncConnect(url_.host.c_str(), url_.port);
  if (!context) {
    lost();
    return;
  }
  if (context->err) {
    log::debug("redis connect failed")
        .field("redis", url_.display())
        .field("error", context->errstr);
    redisAsyncFree(context);
    lost();
    return;
  }
  context_ = context;
  context->data = this;
  events_ = AsioEvents::attach(io_, context);
  redisAsyncSetConnectCallback(context, &RedisClient::on_connect);
  redisAsyncSetDisconnectCallback(context, &RedisClient::on_disconnect);
  // Sent first, before anything queued later (hiredis writes in order once connected). The
  // client counts as connected once they are accepted; a refusal is logged (once until it is
  // accepted again) and the connection dropped, to be tried again with backoff.
  setup_pending_ = 0;
  auto setup_reply = [this](const char* what) {
    return [this, what](const RedisReply& reply) {
      if (!context_) return;
      if (reply.is_error()) {
        if (!setup_refusal_logged_) {
          setup_refusal_logged_ = true;
          log::error(std::string("redis ") + what + " refused; retrying")
              .field("redis", url_.display())
              .field("error", reply.text);
        }
        redisAsyncDisconnect(context_);
        return;
      }
      if (--setup_pending_ == 0 && handshake_done_) {
        setup_refusal_logged_ = false;
        set_connected(true);
      }
    };
  };
  if (!url_.password.empty()) {
    std::vector<std::string> auth{"AUTH"};
    if (!url_.username.empty()) auth.push_back(url_.username);
    auth.push_back(url_.password);
    ++setup_pending_;
    command(std::move(auth), setup_reply("AUTH"));
  }
  if (url_.db != 0) {
    ++setup_pending_;
    command({"SELECT", std::to_string(url_.db)}, setup_reply("SELECT"));
  }
  stale_confirmations_.clear();
  for (auto& [channel, subscription] : subscriptions_) {
    subscription.confirmed = false;
    send_subscribe(channel);
  }
}

void RedisClient::on_connect(const redisAsyncContext* context, int status) {
  auto* client = static_cast<RedisClient*>(context->data);
  if (!client) return;
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    log::debug("redis connect failed")
        .field("redis", client->url_.display())
        .field("error", context->errstr);
    client->context_ = nullptr;
    client->lost();
    return;
  }
  client->failed_attempts_ = 0;
  client->handshake_done_ = true;
  if (client->setup_pending_ == 0) client->set_connected(true);
}

void RedisClient::on_disconnect(const redisAsyncContext* context, int) {
  auto* client = static_cast<RedisClient*>(context->data);
  if (!client) return;
  client->context_ = nullptr;  // hiredis frees it after this callback
  client->lost();
}

void RedisClient::lost() {
  handshake_done_ = false;
  set_connected(false);
  // Nothing more to wait for on this connection: callers waiting for a confirmation go on (the
  // subscriptions are sent again, and confirmed again, once connected).
  for (auto& [channel, subscription] : subscriptions_) settle(subscription);
  if (stopping_) return;
  ++failed_attempts_;
  reconnect_timer_.expires_after(reconnect_delay(failed_attempts_, random_fraction()));
  reconnect_timer_.async_wait([this](const boost::system::error_code& error) {
    if (!error && !stopping_ && !context_) connect();
  });
}

void RedisClient::set_connected(bool connected) {
  if (connected == connected_) return;
  connected_ = connected;
  if (connected) {
    log::info("redis connected").field("redis", url_.display());
  } else {
    log::warn("redis connection lost; reconnecting").field("redis", url_.display());
  }
  if (callbacks_.on_state) callbacks_.on_state(connected);
}

void RedisClient::command(std::vector<std::string> argv, ReplyHandler done) {
  if (!context_) {
    if (done) done(RedisReply::error("not connected to Redis (" + url_.display() + ")"));
    return;
  }
  std::vector<const char*> pointers;
  std::vector<size_t> lengths;
  for (const std::string& arg : argv) {
    pointers.push_back(arg.data());
    lengths.push_back(arg.size());
  }
  if (!done) {  // nobody waits for the answer: no handler to allocate
    redisAsyncCommandArgv(context_, nullptr, nullptr, static_cast<int>(argv.size()),
                          pointers.data(), lengths.data());
    return;
  }
  auto* handler = new ReplyHandler(std::move(done));
  if (redisAsyncCommandArgv(context_, &RedisClient::on_reply, handler,
                            static_cast<int>(argv.size()), pointers.data(),
                            lengths.data()) != REDIS_OK) {
    std::unique_ptr<ReplyHandler> owned(handler);
    (*owned)(RedisReply::error("Redis refused the command (the connection is closing)"));
  }
}

void RedisClient::on_reply(redisAsyncContext*, void* reply, void* handler) {
  std::unique_ptr<ReplyHandler> owned(static_cast<ReplyHandler*>(handler));
  (*owned)(copy_reply(reply));
}

void RedisClient::subscribe(const std::string& channel, std::function<void()> settled) {
  auto [entry, added] = subscriptions_.try_emplace(channel);
  if (entry->second.confirmed || !connected_) {
    if (added) send_subscribe(channel);
    if (settled) settled();
    return;
  }
  if (settled) entry->second.waiting.push_back(std::move(settled));
  if (added) send_subscribe(channel);
}

void RedisClient::settle(Subscription& subscription) {
  std::vector<std::function<void()>> waiting = std::move(subscription.waiting);
  subscription.waiting.clear();
  for (auto& callback : waiting) callback();
}

void RedisClient::unsubscribe(const std::string& channel) {
  auto found = subscriptions_.find(channel);
  if (found == subscriptions_.end()) return;
  // A SUBSCRIBE still unanswered is answered later; that answer is not the confirmation of a
  // new subscription to the same channel.
  if (!found->second.confirmed && context_) ++stale_confirmations_[channel];
  Subscription gone = std::move(found->second);
  subscriptions_.erase(found);
  settle(gone);
  if (!context_) return;
  const char* argv[] = {"UNSUBSCRIBE", channel.data()};
  const size_t lengths[] = {11, channel.size()};
  redisAsyncCommandArgv(context_, &RedisClient::on_subscription_reply, this, 2, argv, lengths);
}

void RedisClient::send_subscribe(const std::string& channel) {
  if (!context_) return;  // sent again on reconnect
  const char* argv[] = {"SUBSCRIBE", channel.data()};
  const size_t lengths[] = {9, channel.size()};
  redisAsyncCommandArgv(context_, &RedisClient::on_subscription_reply, this, 2, argv, lengths);
}

// hiredis calls the SUBSCRIBE callback for the confirmation and then for each message of the
// channel; privdata is the client itself (never freed by hiredis).
void RedisClient::on_subscription_reply(redisAsyncContext* context, void* reply, void*) {
  auto* client = static_cast<RedisClient*>(context->data);
  if (!client || !reply) return;
  client->handle_subscription_reply(copy_reply(reply));
}

void RedisClient::handle_subscription_reply(const RedisReply& reply) {
  if (reply.type != RedisReply::Type::array || reply.elements.size() < 3) return;
  const std::string& kind = reply.elements[0].text;
  const std::string& channel = reply.elements[1].text;
  if (kind == "message") {
    if (callbacks_.on_message) callbacks_.on_message(channel, reply.elements[2].text);
  } else if (kind == "subscribe") {
    auto stale = stale_confirmations_.find(channel);
    if (stale != stale_confirmations_.end()) {
      if (--stale->second == 0) stale_confirmations_.erase(stale);
      return;
    }
    auto found = subscriptions_.find(channel);
    if (found == subscriptions_.end()) return;
    found->second.confirmed = true;
    settle(found->second);
  }
}

}  // namespace dispatch::redis
