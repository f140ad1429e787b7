// beast_echo — the baseline peer for bench/: a plain Boost.Beast websocket echo server on one
// thread. Every message is answered with the same bytes (text stays text, binary stays binary).
// No rooms, no auth (an Authorization header is accepted and ignored).
//
//   beast_echo --port 9001 [--address 127.0.0.1]

#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

class Session : public std::enable_shared_from_this<Session> {
 public:
  explicit Session(tcp::socket socket) : ws_(std::move(socket)) {}

  void run() {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.async_accept([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;  // closed, reset or protocol error: the session ends
      self->ws_.text(self->ws_.got_text());
      self->ws_.async_write(self->buffer_.data(), [self](beast::error_code ec, std::size_t) {
        if (ec) return;
        self->buffer_.consume(self->buffer_.size());
        self->read();
      });
    });
  }

  websocket::stream<tcp::socket> ws_;
  beast::flat_buffer buffer_;
};

class Listener {
 public:
  Listener(asio::io_context& io, const tcp::endpoint& ep) : acceptor_(io) {
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(asio::socket_base::max_listen_connections);
  }

  void accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (!ec) {
        socket.set_option(tcp::no_delay(true), ec);
        std::make_shared<Session>(std::move(socket))->run();
      } else if (ec == asio::error::no_descriptors) {
        std::fprintf(stderr, "beast_echo: accept: %s\n", ec.message().c_str());
      }
      accept();
    });
  }

 private:
  tcp::acceptor acceptor_;
};

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1";
  unsigned short port = 9001;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string_view k = argv[i];
    if (k == "--port")
      port = static_cast<unsigned short>(std::atoi(argv[i + 1]));
    else if (k == "--address")
      address = argv[i + 1];
    else {
      std::fprintf(stderr, "usage: beast_echo --port P [--address A]\n");
      return 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  asio::io_context io(1);
  try {
    Listener listener(io, tcp::endpoint(asio::ip::make_address(address), port));
    listener.accept();
    asio::signal_set stop(io, SIGINT, SIGTERM);
    stop.async_wait([&](beast::error_code, int) { io.stop(); });
    io.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "beast_echo: %s\n", e.what());
    return 1;
  }
  return 0;
}
