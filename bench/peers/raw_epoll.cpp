// raw_epoll — the ceiling peer of bench/suite.sh: a minimal single-threaded epoll server that does
// the same work as Dispatch on the benchmark's events and nothing else. No framework, no
// allocation per message once buffers have grown, writes coalesced to one write() per connection
// per loop turn (the design's rule; see /work/shared/DESIGN.md "Coalesce writes").
//
//   raw_epoll --port P [--address 127.0.0.1] [--secret S | env DISPATCH_JWT_SECRET]
//             [--queue-limit BYTES (default 1 MiB, as Dispatch's send_queue_limit)]
//
// Semantics shared by every peer of the suite (bench/peers/README in docs/BENCHMARKS.md):
//   upgrade on any path with `Authorization: Bearer <HS256 JWT>` (signature checked, `sub` is
//   the user; 401 otherwise), then   → {"event":"welcome","payload":{"user_id":"<sub>"}}
//   {"event":"echo","payload":P}      → {"event":"echo","payload":P}
//   {"event":"join","target":R,"id":I} → joins room R; → {"event":"ack","payload":{"ref":I}}
//   {"event":"send","target":R,"payload":P} → every member of R gets
//                                       {"event":"send","payload":P,"room":"R","from":"<sub>"}
//   (an "id" on any message is acked the same way). A member whose unsent bytes exceed the
//   queue limit is closed (Dispatch's `slow_consumer: disconnect`). Pings are answered.
// The JSON "parser" only finds the top-level keys and the raw text of their values: the payload
// is passed through as it came, which is also what Dispatch does.

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace {

using sv = std::string_view;

std::string g_secret;
size_t g_queue_limit = 1 << 20;
volatile std::sig_atomic_t g_stop = 0;

// ---- base64 -----------------------------------------------------------------------------------

std::string b64(const unsigned char* p, size_t n, bool url) {
  const char* t = url ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                      : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string o;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    unsigned v = unsigned(p[i]) << 16 | unsigned(p[i + 1]) << 8 | p[i + 2];
    o += t[v >> 18], o += t[(v >> 12) & 63], o += t[(v >> 6) & 63], o += t[v & 63];
  }
  if (n - i == 1) {
    unsigned v = unsigned(p[i]) << 16;
    o += t[v >> 18], o += t[(v >> 12) & 63];
    if (!url) o += "==";
  } else if (n - i == 2) {
    unsigned v = unsigned(p[i]) << 16 | unsigned(p[i + 1]) << 8;
    o += t[v >> 18], o += t[(v >> 12) & 63], o += t[(v >> 6) & 63];
    if (!url) o += '=';
  }
  return o;
}

bool b64url_decode(sv in, std::string& out) {
  unsigned acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-'             ? 62
            : c == '_'             ? 63
                                   : -1;
    if (v < 0) return false;
    acc = acc << 6 | unsigned(v);
    if ((bits += 6) >= 8) out += char((acc >> (bits -= 8)) & 0xff);
  }
  return true;
}

// ---- a minimal JSON scanner: top-level keys and the raw text of their values ------------------

size_t skip_ws(sv s, size_t i) {
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) ++i;
  return i;
}

size_t skip_string(sv s, size_t i) {  // s[i] == '"'; returns the index after the closing quote
  for (++i; i < s.size(); ++i) {
    if (s[i] == '\\') ++i;
    else if (s[i] == '"') return i + 1;
  }
  return sv::npos;
}

size_t skip_value(sv s, size_t i) {
  if (i >= s.size()) return sv::npos;
  if (s[i] == '"') return skip_string(s, i);
  if (s[i] == '{' || s[i] == '[') {
    int depth = 0;
    for (; i < s.size(); ++i) {
      char c = s[i];
      if (c == '"') {
        i = skip_string(s, i);
        if (i == sv::npos) return i;
        --i;
      } else if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return i + 1;
      }
    }
    return sv::npos;
  }
  while (i < s.size() && s[i] != ',' && s[i] != '}' && s[i] != ']' && s[i] != ' ') ++i;
  return i;
}

struct Msg {
  sv event, target, payload, id;  // event and target without quotes; payload and id raw
};

bool scan(sv s, Msg& m) {
  size_t i = skip_ws(s, 0);
  if (i >= s.size() || s[i] != '{') return false;
  i = skip_ws(s, i + 1);
  while (i < s.size() && s[i] != '}') {
    if (s[i] != '"') return false;
    size_t ke = skip_string(s, i);
    if (ke == sv::npos) return false;
    sv key = s.substr(i + 1, ke - i - 2);
    i = skip_ws(s, ke);
    if (i >= s.size() || s[i] != ':') return false;
    i = skip_ws(s, i + 1);
    size_t ve = skip_value(s, i);
    if (ve == sv::npos) return false;
    sv val = s.substr(i, ve - i);
    if (key == "event" || key == "target") {
      if (val.size() < 2 || val[0] != '"') return false;
      (key == "event" ? m.event : m.target) = val.substr(1, val.size() - 2);
    } else if (key == "payload") {
      m.payload = val;
    } else if (key == "id") {
      m.id = val;
    }
    i = skip_ws(s, ve);
    if (i < s.size() && s[i] == ',') i = skip_ws(s, i + 1);
  }
  return !m.event.empty();
}

// ---- connections ------------------------------------------------------------------------------

struct Conn {
  int fd = -1;
  bool upgraded = false, dead = false, dirty = false, want_out = false, closing = false;
  std::string in;   // unparsed bytes left over from earlier reads (empty when idle)
  std::string out;  // bytes not yet written
  size_t out_off = 0;
  std::string user;
  std::vector<std::string> rooms;
  std::string frag;  // a fragmented message being assembled (rare)
};

int g_ep = -1;
std::vector<Conn*> g_dirty, g_dead;
std::unordered_map<std::string, std::vector<Conn*>> g_rooms;

void kill_conn(Conn* c) {
  if (c->dead) return;
  c->dead = true;
  for (auto& r : c->rooms) {
    auto it = g_rooms.find(r);
    if (it == g_rooms.end()) continue;
    auto& v = it->second;
    auto p = std::find(v.begin(), v.end(), c);
    if (p != v.end()) *p = v.back(), v.pop_back();
    if (v.empty()) g_rooms.erase(it);
  }
  epoll_ctl(g_ep, EPOLL_CTL_DEL, c->fd, nullptr);
  close(c->fd);
  g_dead.push_back(c);  // freed after this loop turn: other events may still name it
}

void mark(Conn* c) {
  if (!c->dirty) c->dirty = true, g_dirty.push_back(c);
}

void append_frame(std::string& out, unsigned op, sv data) {
  unsigned char h[10];
  size_t n = data.size(), hl = 2;
  h[0] = static_cast<unsigned char>(0x80 | op);
  if (n < 126) {
    h[1] = static_cast<unsigned char>(n);
  } else if (n < 65536) {
    h[1] = 126, h[2] = static_cast<unsigned char>(n >> 8), h[3] = static_cast<unsigned char>(n);
    hl = 4;
  } else {
    h[1] = 127;
    for (int i = 0; i < 8; ++i) h[2 + i] = static_cast<unsigned char>(uint64_t(n) >> (56 - 8 * i));
    hl = 10;
  }
  out.append(reinterpret_cast<char*>(h), hl).append(data);
}

void send_frame(Conn* c, unsigned op, sv data) {
  if (c->dead) return;
  if (c->out.size() - c->out_off > g_queue_limit && op != 0x8) return kill_conn(c);  // slow consumer
  append_frame(c->out, op, data);
  mark(c);
}

void flush(Conn* c) {
  while (c->out_off < c->out.size()) {
    ssize_t n = write(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off);
    if (n > 0) {
      c->out_off += size_t(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      if (!c->want_out) {
        epoll_event ev{EPOLLIN | EPOLLOUT, {.ptr = c}};
        epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
        c->want_out = true;
      }
      return;
    } else {
      return kill_conn(c);
    }
  }
  if (c->out.capacity() > 65536) std::string().swap(c->out);  // give big buffers back
  c->out.clear();
  c->out_off = 0;
  if (c->want_out) {
    epoll_event ev{EPOLLIN, {.ptr = c}};
    epoll_ctl(g_ep, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = false;
  }
  if (c->closing) kill_conn(c);
}

void ack(Conn* c, sv id) {
  if (id.empty()) return;
  std::string s = R"({"event":"ack","payload":{"ref":)";
  s.append(id).append("}}");
  send_frame(c, 1, s);
}

void on_message(Conn* c, sv text) {
  Msg m;
  if (!scan(text, m)) return send_frame(c, 1, R"({"event":"error","payload":{"code":"bad_json"}})");
  if (m.event == "echo") {
    std::string s = R"({"event":"echo","payload":)";
    s.append(m.payload.empty() ? sv("null") : m.payload).append("}");
    send_frame(c, 1, s);
  } else if (m.event == "join" && !m.target.empty()) {
    std::string room(m.target);
    if (std::find(c->rooms.begin(), c->rooms.end(), room) == c->rooms.end()) {
      g_rooms[room].push_back(c);
      c->rooms.push_back(std::move(room));
    }
  } else if (m.event == "send" && !m.target.empty()) {
    std::string s = R"({"event":"send","payload":)";
    s.append(m.payload.empty() ? sv("null") : m.payload).append(R"(,"room":")");
    s.append(m.target).append(R"(","from":")").append(c->user).append("\"}");
    std::string frame;  // built once, copied into each member's queue
    append_frame(frame, 1, s);
    auto it = g_rooms.find(std::string(m.target));
    if (it != g_rooms.end()) {
      auto members = it->second;  // a slow member's close edits the room
      for (Conn* to : members) {
        if (to->dead) continue;
        if (to->out.size() - to->out_off > g_queue_limit) {
          kill_conn(to);
          continue;
        }
        to->out.append(frame);
        mark(to);
      }
    }
  } else {
    return send_frame(c, 1, R"({"event":"error","payload":{"code":"unknown_event"}})");
  }
  ack(c, m.id);
}

// Parses whole frames from data; returns the bytes consumed.
size_t on_frames(Conn* c, char* data, size_t len) {
  size_t pos = 0;
  while (len - pos >= 2 && !c->dead && !c->closing) {
    auto* p = reinterpret_cast<unsigned char*>(data + pos);
    size_t avail = len - pos, hl = 2;
    bool fin = p[0] & 0x80;
    unsigned op = p[0] & 0x0f;
    uint64_t n = p[1] & 0x7f;
    if (!(p[1] & 0x80)) {  // clients must mask
      kill_conn(c);
      return len;
    }
    if (n == 126) {
      if (avail < 4) break;
      n = uint64_t(p[2]) << 8 | p[3], hl = 4;
    } else if (n == 127) {
      if (avail < 10) break;
      n = 0;
      for (int i = 0; i < 8; ++i) n = n << 8 | p[2 + i];
      hl = 10;
    }
    if (n > (64u << 10)) {
      kill_conn(c);
      return len;
    }
    if (avail < hl + 4 + n) break;
    unsigned char* mask = p + hl;
    char* d = data + pos + hl + 4;
    for (size_t i = 0; i < n; ++i) d[i] = static_cast<char>(d[i] ^ mask[i & 3]);
    sv payload(d, n);
    pos += hl + 4 + n;
    switch (op) {
      case 0x1:
      case 0x2:
        if (fin) on_message(c, payload);
        else c->frag.assign(payload);
        break;
      case 0x0:
        c->frag.append(payload);
        if (fin) on_message(c, c->frag), c->frag.clear();
        break;
      case 0x9:
        send_frame(c, 0xA, payload);
        break;
      case 0x8:
        send_frame(c, 0x8, payload.substr(0, std::min<size_t>(n, 2)));
        c->closing = true;
        break;
      default:
        break;
    }
  }
  return pos;
}

sv header(sv head, sv name) {  // case-insensitive header lookup
  for (size_t i = head.find("\r\n"); i != sv::npos; i = head.find("\r\n", i + 2)) {
    sv line = head.substr(i + 2, head.find("\r\n", i + 2) - i - 2);
    if (line.size() > name.size() && line[name.size()] == ':' &&
        std::equal(name.begin(), name.end(), line.begin(),
                   [](char a, char b) { return std::tolower(a) == std::tolower(b); }))
      return line.substr(line.find_first_not_of(' ', name.size() + 1));
  }
  return {};
}

// HS256 only: checks the signature, returns the `sub` claim ("" when refused).
std::string verify(sv token) {
  size_t a = token.find('.'), b = token.rfind('.');
  if (a == sv::npos || a == b) return "";
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  HMAC(EVP_sha256(), g_secret.data(), int(g_secret.size()),
       reinterpret_cast<const unsigned char*>(token.data()), b, mac, &len);
  std::string sig = b64(mac, len, true), header, claims;
  if (sig != token.substr(b + 1) || !b64url_decode(token.substr(0, a), header) ||
      header.find("\"HS256\"") == std::string::npos ||
      !b64url_decode(token.substr(a + 1, b - a - 1), claims))
    return "";
  size_t k = claims.find("\"sub\"");
  if (k == std::string::npos) return "";
  k = claims.find('"', claims.find(':', k) + 1);
  size_t e = claims.find('"', k + 1);
  return k == std::string::npos || e == std::string::npos ? "" : claims.substr(k + 1, e - k - 1);
}

void on_http(Conn* c) {
  size_t end = c->in.find("\r\n\r\n");
  if (end == std::string::npos) {
    if (c->in.size() > 8192) kill_conn(c);
    return;
  }
  sv head(c->in.data(), end + 2);
  sv key = header(head, "Sec-WebSocket-Key"), auth = header(head, "Authorization");
  std::string user = auth.substr(0, 7) == "Bearer " ? verify(auth.substr(7)) : "";
  if (key.empty() || user.empty()) {
    c->out = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    c->closing = true;
    mark(c);
    return;
  }
  std::string k(key);
  k += "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  unsigned char sha[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(k.data()), k.size(), sha);
  c->out = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: " + b64(sha, sizeof sha, false) + "\r\n\r\n";
  c->user = std::move(user);
  c->upgraded = true;
  send_frame(c, 1, R"({"event":"welcome","payload":{"user_id":")" + c->user + "\"}}");
  c->in.erase(0, end + 4);
  if (!c->in.empty()) c->in.erase(0, on_frames(c, c->in.data(), c->in.size()));
}

void on_readable(Conn* c, std::vector<char>& buf) {
  for (;;) {
    ssize_t n = read(c->fd, buf.data(), buf.size());
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return kill_conn(c);
    if (n < 0) return;
    if (!c->upgraded) {
      c->in.append(buf.data(), size_t(n));
      on_http(c);
    } else if (c->in.empty()) {  // the usual case: parse straight from the loop's buffer
      size_t used = on_frames(c, buf.data(), size_t(n));
      if (used < size_t(n) && !c->dead) c->in.assign(buf.data() + used, size_t(n) - used);
    } else {
      c->in.append(buf.data(), size_t(n));
      size_t used = on_frames(c, c->in.data(), c->in.size());
      c->in.erase(0, used);
      if (c->in.empty()) std::string().swap(c->in);
    }
    if (c->dead || size_t(n) < buf.size()) return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::string address = "127.0.0.1";
  int port = 9002;
  if (const char* s = std::getenv("DISPATCH_JWT_SECRET")) g_secret = s;
  for (int i = 1; i + 1 < argc; i += 2) {
    sv k = argv[i];
    if (k == "--port") port = std::atoi(argv[i + 1]);
    else if (k == "--address") address = argv[i + 1];
    else if (k == "--secret") g_secret = argv[i + 1];
    else if (k == "--queue-limit") g_queue_limit = std::strtoull(argv[i + 1], nullptr, 10);
    else return std::fprintf(stderr, "usage: raw_epoll --port P [--address A] [--secret S]\n"), 2;
  }
  if (g_secret.empty()) return std::fprintf(stderr, "raw_epoll: no secret\n"), 2;
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGTERM, [](int) { g_stop = 1; });
  std::signal(SIGINT, [](int) { g_stop = 1; });

  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(static_cast<uint16_t>(port));
  inet_pton(AF_INET, address.c_str(), &sa.sin_addr);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) || listen(lfd, 4096))
    return std::perror("raw_epoll: bind/listen"), 1;
  g_ep = epoll_create1(0);
  epoll_event lev{EPOLLIN, {.ptr = nullptr}};
  epoll_ctl(g_ep, EPOLL_CTL_ADD, lfd, &lev);
  std::printf("listening on %s:%d\n", address.c_str(), port);
  std::fflush(stdout);

  std::vector<char> buf(256 << 10);
  std::vector<epoll_event> evs(1024);
  while (!g_stop) {
    int n = epoll_wait(g_ep, evs.data(), int(evs.size()), -1);
    for (int i = 0; i < n; ++i) {
      auto* c = static_cast<Conn*>(evs[i].data.ptr);
      if (!c) {  // the listener
        for (int fd; (fd = accept4(lfd, nullptr, nullptr, SOCK_NONBLOCK)) >= 0;) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          auto* nc = new Conn;
          nc->fd = fd;
          epoll_event ev{EPOLLIN, {.ptr = nc}};
          epoll_ctl(g_ep, EPOLL_CTL_ADD, fd, &ev);
        }
        continue;
      }
      if (c->dead) continue;
      if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
        kill_conn(c);
        continue;
      }
      if (evs[i].events & EPOLLOUT) flush(c);
      if (!c->dead && (evs[i].events & EPOLLIN)) on_readable(c, buf);
    }
    // one write per connection per loop turn, for everything queued during it
    for (size_t k = 0; k < g_dirty.size(); ++k) {
      Conn* c = g_dirty[k];
      c->dirty = false;
      if (!c->dead && !c->want_out) flush(c);
    }
    g_dirty.clear();
    for (Conn* c : g_dead) delete c;
    g_dead.clear();
  }
  return 0;
}
