// beast_echo — the Boost.Beast peer of bench/: a websocket server on one thread as a Beast user
// would write it (the shape of Beast's websocket-chat-multi example), with the suite's events:
// HS256 bearer token checked before the upgrade, then a welcome; `echo` answered, `join`/`send`
// rooms, `id` acked; Boost.JSON parses each message; a room message is serialised once and its
// shared string queued to each member, who writes one message per call (Beast's stream cannot
// gather). A member with more than --queue-limit bytes queued is closed (slow consumer).
//
//   beast_echo --port 9001 [--address 127.0.0.1] [--secret S | env DISPATCH_JWT_SECRET]

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json/src.hpp>  // header-only Boost.JSON in this one file

#include <csignal>
#include <cstdio>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace json = boost::json;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

std::string g_secret;
std::size_t g_queue_limit = 1 << 20;
class Session;
std::unordered_map<std::string, std::unordered_set<Session*>> g_rooms;

std::string b64url(const unsigned char* p, std::size_t n) {
  std::string s(beast::detail::base64::encoded_size(n), '\0');
  s.resize(beast::detail::base64::encode(s.data(), p, n));
  for (char& c : s) c = c == '+' ? '-' : c == '/' ? '_' : c;
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

// HS256: checks the signature and returns `sub`, or "" when the token is refused.
std::string verify(beast::string_view auth) {
  if (!auth.starts_with("Bearer ")) return "";
  std::string token(auth.substr(7));
  auto a = token.find('.'), b = token.rfind('.');
  if (a == std::string::npos || a == b) return "";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), g_secret.data(), int(g_secret.size()),
       reinterpret_cast<const unsigned char*>(token.data()), b, mac, &len);
  if (b64url(mac, len) != token.substr(b + 1)) return "";
  std::string claims = token.substr(a + 1, b - a - 1);
  for (char& c : claims) c = c == '-' ? '+' : c == '_' ? '/' : c;
  claims.resize((claims.size() + 3) / 4 * 4, '=');
  std::string raw(beast::detail::base64::decoded_size(claims.size()), '\0');
  raw.resize(beast::detail::base64::decode(raw.data(), claims.data(), claims.size()).first);
  json::error_code ec;
  json::value v = json::parse(raw, ec);
  auto* sub = ec || !v.is_object() ? nullptr : v.as_object().if_contains("sub");
  return sub && sub->is_string() ? std::string(sub->as_string()) : "";
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : ws_(std::move(socket)) {}
  ~Session() {
    for (auto& r : rooms_)
      if (auto it = g_rooms.find(r);
          it != g_rooms.end() && it->second.erase(this) && it->second.empty())
        g_rooms.erase(it);
  }

  void run() {
    http::async_read(
        ws_.next_layer(), buffer_, req_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) {
          if (ec) return;
          self->user_ = verify(self->req_[http::field::authorization]);
          if (self->user_.empty() || !websocket::is_upgrade(self->req_)) {
            auto res =
                std::make_shared<http::response<http::empty_body>>(http::status::unauthorized, 11);
            res->prepare_payload();
            return http::async_write(self->ws_.next_layer(), *res,
                                     [self, res](beast::error_code, std::size_t) {});
          }
          self->ws_.set_option(
              websocket::stream_base::timeout::suggested(beast::role_type::server));
          self->ws_.async_accept(self->req_, [self](beast::error_code ec) {
            if (ec) return;
            self->send(std::make_shared<const std::string>(json::serialize(
                json::object{{"event", "welcome"}, {"payload", {{"user_id", self->user_}}}})));
            self->read();
          });
        });
  }

  void send(std::shared_ptr<const std::string> msg) {
    if (queued_ > g_queue_limit) {  // slow consumer: close it, drop what it has queued
      beast::error_code ec;
      ws_.next_layer().close(ec);
      return;
    }
    queued_ += msg->size();
    queue_.push_back(std::move(msg));
    if (queue_.size() == 1) write();
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;  // closed, reset or protocol error: the session ends
      self->on_message(beast::buffers_to_string(self->buffer_.data()));
      self->buffer_.consume(self->buffer_.size());
      self->read();
    });
  }

  void on_message(const std::string& text) {
    json::error_code ec;
    json::value v = json::parse(text, ec);
    json::object* m = ec ? nullptr : v.if_object();
    json::value* ev = m ? m->if_contains("event") : nullptr;
    if (!ev || !ev->is_string())
      return reply({{"event", "error"}, {"payload", {{"code", "bad_json"}}}});
    json::string_view event = ev->as_string();
    json::value* target = m->if_contains("target");
    std::string room = target && target->is_string() ? std::string(target->as_string()) : "";
    json::value payload = m->contains("payload") ? m->at("payload") : json::value();
    if (event == "echo") {
      reply({{"event", "echo"}, {"payload", payload}});
    } else if (event == "join" && !room.empty()) {
      if (rooms_.insert(room).second) g_rooms[room].insert(this);
    } else if (event == "send" && !room.empty()) {
      auto frame = std::make_shared<const std::string>(json::serialize(
          json::object{{"event", "send"}, {"payload", payload}, {"room", room}, {"from", user_}}));
      if (auto it = g_rooms.find(room); it != g_rooms.end())
        for (Session* s : std::vector<Session*>(it->second.begin(), it->second.end()))
          s->send(frame);
    } else {
      return reply({{"event", "error"}, {"payload", {{"code", "unknown_event"}}}});
    }
    if (json::value* id = m->if_contains("id"))
      reply({{"event", "ack"}, {"payload", {{"ref", *id}}}});
  }

  void reply(json::object o) { send(std::make_shared<const std::string>(json::serialize(o))); }

  void write() {
    ws_.text(true);
    ws_.async_write(asio::buffer(*queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec) return;
                      self->queued_ -= self->queue_.front()->size();
                      self->queue_.pop_front();
                      if (!self->queue_.empty()) self->write();
                    });
  }

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
  http::request<http::string_body> req_;
  std::string user_;
  std::unordered_set<std::string> rooms_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::size_t queued_ = 0;
};

void accept(tcp::acceptor& acceptor) {
  acceptor.async_accept([&acceptor](beast::error_code ec, tcp::socket socket) {
    if (!ec) {
      socket.set_option(tcp::no_delay(true), ec);
      std::make_shared<Session>(std::move(socket))->run();
    } else if (ec == asio::error::no_descriptors) {
      std::fprintf(stderr, "beast_echo: accept: %s\n", ec.message().c_str());
    }
    accept(acceptor);
  });
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1";
  unsigned short port = 9001;
  if (const char* s = std::getenv("DISPATCH_JWT_SECRET")) g_secret = s;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view k = argv[i];
    if (k == "--port")
      port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    else if (k == "--address")
      address = argv[i + 1];
    else if (k == "--secret")
      g_secret = argv[i + 1];
    else if (k == "--queue-limit")
      g_queue_limit = std::strtoull(argv[i + 1], nullptr, 10);
    else
      return std::fprintf(stderr, "usage: beast_echo --port P [--address A] [--secret S]\n"), 2;
  }
  if (g_secret.empty()) return std::fprintf(stderr, "beast_echo: no secret\n"), 2;
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  try {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address(address), port));
    acceptor.listen(asio::socket_base::max_listen_connections);
    accept(acceptor);
    asio::signal_set stop(io, SIGINT, SIGTERM);
    stop.async_wait([&](beast::error_code, int) { io.stop(); });
    std::printf("listening on %s:%u\n", address.c_str(), port);
    std::fflush(stdout);
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beast_echo: %s\n", e.what());
    return 1;
  }
  return 0;
}
