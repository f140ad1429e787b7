// loadgen — a small, single-threaded WebSocket load generator for Dispatch and the suite's peers.
//
// It speaks RFC 6455 itself over plain TCP on one Boost.Asio io_context, so that it stays cheap:
// frames are parsed in place in a per-connection read buffer, outgoing frames are appended to a
// per-connection buffer and written with one write per handler run (batching), and nothing on
// the message path allocates once the buffers have grown to their working size.
//
// Modes (every run is bounded in time and prints one JSON line on stdout):
//   echo   --conns N --inflight K --size B --seconds S [--rate R]
//   fanout --members N --size B --seconds S [--inflight K | --rate R]
//   idle   --conns N --hold S [--rooms R] [--ping S: each connection pings every S seconds]
//   handshake --concurrency C --seconds S   (connect, upgrade with a token, wait for the welcome,
//            close; C at once, sustained; handshakes/s and connect-to-welcome latency)
//   recover --members N --messages M --room R [--since 1|0]   (history and recovery: N members
//            join R and note their position (offset, epoch) from the join's ack, all disconnect,
//            a publisher sends M messages to R (each acked), then all N reconnect (--concurrency
//            at once, default all) and send the join again, with `since` their position when
//            --since 1. Measured from the first reconnect to the last member's ack: each member
//            must get exactly the M missed messages (offsets pos+1..pos+M, the publisher's
//            numbers 0..M-1, in order) before its ack, whose recovered says ok:true at pos+M in
//            the same epoch; --since 0: no message, an ack without recovered. Reports
//            window_s, the server's CPU over it, per-member reconnect-to-ack latency.)
// --size B is the whole message the client sends (JSON text, without the WebSocket header): the
//   filler inside the payload is fitted to it. The report gives msg_bytes (sent) and
//   delivered_bytes (the average reply or delivery), so a server's envelope shows.
// fanout --slow K: the last K members stop reading once joined (a slow reader): the others'
//   deliveries are counted and checked as usual, the slow ones' are not expected.
// --engineio 1: speak Socket.IO (Engine.IO v4 over WebSocket: open packet 0{...}, connect 40,
//   events 42["echo",{...}], acks 43<id>[...], ping 2 / pong 3) instead of Dispatch's JSON.
// --threads N: N threads, one io_context each, the connections split between them (default: one
//   per CPU the process may run on, so `taskset -c 1` gives one). echo, idle and handshake only;
//   fanout and recover run on one thread (one publisher, one sequence checked per member).
// Common: --host 127.0.0.1 --port P --path /ws --secret S (HS256 tokens for users u<i>)
//         --server-pid PID (server CPU and RSS are read from /proc at the window edges)
//         --warmup S --drain S --sources K (bind to 127.0.0.1..127.0.0.K) --label TEXT
//         --spin 1 (busy-poll the io_context; its CPU then reads 100%)
//         --id-base N (users u<N>, u<N+1>, ...: runs side by side on one server with users of
//         their own, since a `_join` joins every connection of a user)
// Exit status: 0 when the run was clean, 1 on any error, disconnect, missing or extra message.

#include <boost/asio.hpp>

#include <dirent.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sched.h>
#include <algorithm>
#include <array>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using boost::system::error_code;

namespace {

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

[[noreturn]] void usage(const char* why) {
  std::fprintf(stderr,
               "loadgen: %s\n"
               "usage: loadgen echo   --conns N --inflight K --size B --seconds S [--rate R]\n"
               "       loadgen fanout --members N --size B --seconds S [--inflight K | --rate R]\n"
               "       loadgen idle   --conns N --hold S [--rooms R] [--ping S]\n"
               "       loadgen handshake --concurrency C --seconds S\n"
               "       loadgen recover --members N --messages M --room R [--since 1|0]\n"
               "  fanout: --slow K (the last K members stop reading once joined)\n"
               "          --member-port P (members connect to P, the publisher to --port: two\n"
               "          nodes of a cluster)\n"
               "  --engineio 1: Socket.IO peers (Engine.IO v4 over WebSocket)\n"
               "  common: --host H --port P --path /ws --secret S --server-pid PID --warmup S\n"
               "          --drain S --sources K --concurrency C --setup-timeout S --label TEXT\n"
               "          --spin 1 (busy-poll instead of sleeping: less client wake-up latency)\n"
               "          --threads N (default: the CPUs it may run on; fanout: 1)\n"
               "          --id-base N (the first user is u<N>; default 0)\n",
               why);
  std::exit(2);
}

struct Options {
  std::string mode;
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string path = "/ws";
  std::string secret;
  uint32_t conns = 100;  // echo, idle; fanout: --members
  uint32_t inflight = 1;
  uint32_t size = 64;
  double seconds = 10;
  double rate = 0;  // total messages (echo) or publishes (fanout) per second; 0 = closed loop
  double warmup = 1;
  double hold = 10;
  double drain = 5;
  uint32_t rooms = 0;  // idle: number of rooms (connection i joins room i % rooms); 0 = one each
  std::string room = "r";  // short: a 64 B publish still has room for its filler
  int server_pid = 0;
  uint16_t member_port = 0;    // fanout: members connect here (another cluster node); 0 = --port
  uint32_t sources = 0;        // 0 = auto (one 127.0.0.x per 25,000 connections)
  uint32_t concurrency = 128;  // handshakes in progress at once
  double setup_timeout = 60;
  std::string label;
  bool spin = false;      // busy-poll the io_context instead of sleeping in epoll_wait
  bool engineio = false;  // Socket.IO framing (Engine.IO v4 over WebSocket)
  bool path_set = false;
  uint32_t slow = 0;        // fanout: members that stop reading once joined
  bool no_welcome = false;  // handshake: the peer sends no welcome; done at the 101
  double ping = 0;          // idle: each connection sends a WebSocket ping every S seconds
  uint32_t threads = 0;     // 0: one per CPU in the affinity mask
  uint32_t id_base = 0;     // this thread's first user id (u<id>)
  uint32_t messages = 100;  // recover: messages published while the members are away
  bool since = true;        // recover: rejoin with since (false: a plain rejoin, the baseline)
  bool concurrency_set = false;
};

Options parse(int argc, char** argv) {
  if (argc < 2) usage("missing mode");
  Options o;
  o.mode = argv[1];
  if (o.mode != "echo" && o.mode != "fanout" && o.mode != "idle" && o.mode != "handshake" &&
      o.mode != "recover")
    usage("unknown mode");
  for (int i = 2; i < argc; ++i) {
    std::string_view k = argv[i];
    if (i + 1 >= argc) usage("option without a value");
    const char* v = argv[++i];
    auto num = [&] { return std::strtod(v, nullptr); };
    if (k == "--host")
      o.host = v;
    else if (k == "--port")
      o.port = static_cast<uint16_t>(num());
    else if (k == "--member-port")
      o.member_port = static_cast<uint16_t>(num());
    else if (k == "--path")
      o.path = v, o.path_set = true;
    else if (k == "--engineio")
      o.engineio = std::strcmp(v, "0") != 0;
    else if (k == "--threads")
      o.threads = static_cast<uint32_t>(num());
    else if (k == "--ping")
      o.ping = num();
    else if (k == "--welcome")
      o.no_welcome = std::strcmp(v, "0") == 0;
    else if (k == "--slow")
      o.slow = static_cast<uint32_t>(num());
    else if (k == "--secret")
      o.secret = v;
    else if (k == "--conns" || k == "--members")
      o.conns = static_cast<uint32_t>(num());
    else if (k == "--inflight")
      o.inflight = static_cast<uint32_t>(num());
    else if (k == "--size")
      o.size = static_cast<uint32_t>(num());
    else if (k == "--seconds")
      o.seconds = num();
    else if (k == "--rate")
      o.rate = num();
    else if (k == "--warmup")
      o.warmup = num();
    else if (k == "--hold")
      o.hold = num();
    else if (k == "--drain")
      o.drain = num();
    else if (k == "--rooms")
      o.rooms = static_cast<uint32_t>(num());
    else if (k == "--room")
      o.room = v;
    else if (k == "--server-pid")
      o.server_pid = static_cast<int>(num());
    else if (k == "--sources")
      o.sources = static_cast<uint32_t>(num());
    else if (k == "--concurrency")
      o.concurrency = static_cast<uint32_t>(num()), o.concurrency_set = true;
    else if (k == "--messages")
      o.messages = static_cast<uint32_t>(num());
    else if (k == "--since")
      o.since = std::strcmp(v, "0") != 0;
    else if (k == "--setup-timeout")
      o.setup_timeout = num();
    else if (k == "--label")
      o.label = v;
    else if (k == "--spin")
      o.spin = std::strcmp(v, "0") != 0;
    else if (k == "--id-base")
      o.id_base = static_cast<uint32_t>(num());
    else
      usage("unknown option");
  }
  if (o.secret.empty()) {
    if (const char* s = std::getenv("DISPATCH_JWT_SECRET")) o.secret = s;
  }
  if (o.secret.empty()) usage("--secret (or DISPATCH_JWT_SECRET) is required");
  if (o.conns == 0 || o.inflight == 0) usage("--conns/--members and --inflight must be > 0");
  if (o.engineio && !o.path_set) o.path = "/socket.io/?EIO=4&transport=websocket";
  if (o.mode == "handshake")
    o.conns = o.concurrency;  // one connection slot per handshake in progress
  if (o.slow >= o.conns) usage("--slow must be below --members");
  if (o.mode == "recover" && o.engineio) usage("recover speaks Dispatch's protocol only");
  if (o.mode == "recover" && !o.concurrency_set) o.concurrency = o.conns + 1;
  if (o.sources == 0) o.sources = (o.conns + 1 + 24999) / 25000;
  if (o.sources > 254) usage("--sources at most 254");
  return o;
}

// ---- tokens ---------------------------------------------------------------------------------

std::string b64url(const unsigned char* p, size_t n) {
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < n; i += 3) {
    uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
    out += tbl[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = p[i] << 16;
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
    out += tbl[v >> 18];
    out += tbl[(v >> 12) & 63];
    out += tbl[(v >> 6) & 63];
  }
  return out;
}

std::string b64url(std::string_view s) {
  return b64url(reinterpret_cast<const unsigned char*>(s.data()), s.size());
}

// "u<number>": a load user's id (appended, not "u" + ...: GCC 12 at -O3 warns -Wrestrict on that).
std::string user_name(uint64_t number) {
  std::string name = "u";
  name += std::to_string(number);
  return name;
}

std::string make_token(const std::string& secret, const std::string& sub) {
  std::string signing =
      b64url(R"({"alg":"HS256","typ":"JWT"})") + "." + b64url(R"({"sub":")" + sub + R"("})");
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing.data()), signing.size(), mac, &len);
  return signing + "." + b64url(mac, len);
}

// ---- /proc readings -------------------------------------------------------------------------

double proc_cpu_seconds(int pid) {  // utime + stime of the whole process
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string s((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  auto p = s.rfind(')');
  if (p == std::string::npos) return -1;
  std::istringstream in(s.substr(p + 2));
  std::string tok;
  unsigned long long ut = 0, st = 0;
  for (int field = 3; in >> tok; ++field) {
    if (field == 14) ut = std::stoull(tok);
    if (field == 15) {
      st = std::stoull(tok);
      break;
    }
  }
  return static_cast<double>(ut + st) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

long proc_status_kb(int pid, std::string_view key) {  // VmRSS:, VmHWM: (peak RSS)
  if (pid <= 0) return 0;
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::strtol(line.c_str() + key.size(), nullptr, 10);
  return -1;
}

long proc_rss_kb(int pid) {
  return proc_status_kb(pid, "VmRSS:");
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// Time the process's threads spent runnable but waiting for a CPU (ns, /proc/.../schedstat):
// the direct measure of how much other work on the box got in the way.
double run_delay_seconds(const std::string& proc, int field = 1) {
  std::string dir = proc + "/task";
  double total = 0;
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
    std::ifstream f(dir + "/" + e->d_name + "/schedstat");
    unsigned long long run = 0, wait = 0;
    if (f >> run >> wait) total += static_cast<double>(field == 0 ? run : wait) / 1e9;
  }
  closedir(d);
  return total;
}

// Busy and total jiffies of every CPU (from /proc/stat), to see who else used the cores.
struct CpuTimes {
  std::vector<unsigned long long> busy, total;
};

CpuTimes cpu_times() {
  CpuTimes t;
  std::ifstream f("/proc/stat");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("cpu", 0) != 0 || line.size() < 4 || line[3] < '0' || line[3] > '9') continue;
    std::istringstream in(line.substr(line.find(' ')));
    unsigned long long v, sum = 0, idle = 0;
    for (int i = 0; in >> v; ++i) {
      if (i < 8) sum += v;  // user nice system idle iowait irq softirq steal
      if (i == 3 || i == 4) idle += v;
    }
    t.busy.push_back(sum - idle);
    t.total.push_back(sum);
  }
  return t;
}

struct Snap {
  int64_t t = 0;
  double srv = 0, gen = 0;
  long rss = 0;
  CpuTimes cpus;
  double srv_wait = 0, gen_wait = 0;
  double srv_run = 0;  // the server's threads' time on a CPU, ns precision (schedstat field 1)
};

Snap snap(int pid) {
  return {now_ns(),
          proc_cpu_seconds(pid),
          self_cpu_seconds(),
          proc_rss_kb(pid),
          cpu_times(),
          pid > 0 ? run_delay_seconds("/proc/" + std::to_string(pid)) : 0,
          run_delay_seconds("/proc/self"),
          pid > 0 ? run_delay_seconds("/proc/" + std::to_string(pid), 0) : 0};
}

// ---- frames ---------------------------------------------------------------------------------

constexpr std::array<unsigned char, 4> kMask = {0x37, 0xfa, 0x21, 0x3d};

// Appends one masked client frame to out (no allocation once out has grown to its working size).
void append_frame(std::vector<char>& out, unsigned op, const char* data, size_t n) {
  size_t at = out.size();
  size_t hdr = n < 126 ? 2 : n < 65536 ? 4 : 10;
  out.resize(at + hdr + 4 + n);
  auto* p = reinterpret_cast<unsigned char*>(out.data() + at);
  p[0] = static_cast<unsigned char>(0x80 | op);
  if (n < 126) {
    p[1] = static_cast<unsigned char>(0x80 | n);
  } else if (n < 65536) {
    p[1] = 0x80 | 126;
    p[2] = static_cast<unsigned char>(n >> 8);
    p[3] = static_cast<unsigned char>(n);
  } else {
    p[1] = 0x80 | 127;
    for (int i = 0; i < 8; ++i) p[2 + i] = static_cast<unsigned char>(uint64_t(n) >> (56 - 8 * i));
  }
  std::memcpy(p + hdr, kMask.data(), 4);
  unsigned char* d = p + hdr + 4;
  for (size_t i = 0; i < n; ++i) d[i] = static_cast<unsigned char>(data[i]) ^ kMask[i & 3];
}

bool starts(const char* p, size_t n, std::string_view pre) {
  return n >= pre.size() && std::memcmp(p, pre.data(), pre.size()) == 0;
}

std::string filler(uint32_t n) {
  std::string s(n, 'x');
  for (uint32_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + i % 26);
  return s;
}

// ---- connections ----------------------------------------------------------------------------

struct Conn {
  explicit Conn(asio::io_context& io) : sock(io) {}
  tcp::socket sock;
  uint32_t id = 0;
  bool publisher = false;
  bool upgraded = false;  // got the 101
  bool open = false;      // handshake done (Socket.IO: namespace connected too)
  bool slow = false;      // fanout --slow: stops reading once joined
  bool paused = false;    // a slow member that has stopped reading
  int64_t hs_start = 0;   // handshake mode: when this attempt started (0: slot idle)
  uint32_t gen = 0;       // handshake mode: attempt number; stale completions are ignored
  bool closed = false;    // socket finished (error, EOF or our close)
  bool close_sent = false;
  bool joined = false;
  bool dirty = false;  // has queued bytes not yet handed to a write
  bool writing = false;
  std::vector<char> rbuf;
  size_t rlen = 0;
  std::vector<char> wq, wcur;
  std::vector<char> frag;     // fragmented message being assembled (rare)
  uint64_t expect = 0;        // fanout: next sequence number this member must see
  uint64_t pos = 0;           // recover: the offset the join's ack gave (positions)
  std::string epoch;          // recover: the room's epoch from that ack
  uint32_t got = 0;           // recover: replayed messages received since the reconnect
  bool acked = false;         // recover: the rejoin's ack arrived
  uint32_t inflight = 0;      // echo closed loop
  std::vector<int64_t> ring;  // echo open loop: intended send times, FIFO
  size_t rhead = 0, rtail = 0;
  std::string request;
};

// The threads of one run start their measured traffic together: each arrives when its
// connections are set up; one that fails arrives too (drop), so none waits for it forever.
class StartLine {
 public:
  explicit StartLine(uint32_t n) : left_(n) {}
  void arrive_and_wait(double timeout_s) {
    std::unique_lock lk(m_);
    if (--left_ == 0) cv_.notify_all();
    cv_.wait_for(lk, std::chrono::duration<double>(timeout_s), [this] { return left_ == 0; });
  }
  void drop() {
    std::lock_guard lk(m_);
    if (--left_ == 0) cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  uint32_t left_;
};

class Gen {
 public:
  explicit Gen(Options o)
      : o_(std::move(o)), io_(1), tick_(io_), phase_timer_(io_), deadline_(io_) {}
  void run();  // the whole run on this thread's io_context
  void report();
  bool clean() const {
    return fatal_.empty() && errors_ == 0 && unexpected_ == 0 && disconnects_ == 0 &&
           order_errors_ == 0;
  }
  void merge(Gen& other);  // adds another thread's counts to this one (which reports)
  void set_start_line(StartLine* s) { start_line_ = s; }
  void set_totals(uint32_t conns, double rate) { o_.conns = conns, o_.rate = rate; }

 private:
  enum class Phase {
    Setup,
    Joining,
    Warmup,
    Measure,
    Drain,
    Closing,
    Done,
    Away,
    Missed,
    Reconnect  // recover: members disconnecting, publishing, reconnecting
  };

  // setup
  void start_connect(Conn& c);
  void on_handshake_bytes(Conn& c);
  void on_open(Conn& c);
  void on_upgraded(Conn& c);
  // handshake mode
  void hs_start(Conn& c);
  void hs_done(Conn& c);
  void hs_fail(Conn& c, const std::string& why);
  void all_open();
  void all_joined();
  // io
  void read(Conn& c);
  void queue(Conn& c, unsigned op, const char* data, size_t n);
  void queue_raw(Conn& c, const char* data, size_t n);
  void flush();
  void write(Conn& c);
  void lost(Conn& c, const char* what, const error_code& ec);
  void parse(Conn& c);
  void on_message(Conn& c, const char* p, size_t n);
  void on_close_frame(Conn& c, const char* p, size_t n);
  // modes
  void echo_reply(Conn& c, const char* p, size_t n);
  void fanout_delivery(Conn& c, const char* p, size_t n);
  void publish(int64_t when);
  void on_tick();
  void ping_tick();
  void begin_traffic();
  void begin_measure();
  void end_measure();
  void check_drained();
  void finish();
  void fail(const std::string& why);
  void note_error(const char* kind, const Conn& c, const char* p, size_t n);
  void at_start_line();
  // recover mode
  void recover_message(Conn& c, const char* p, size_t n);
  void recover_away();
  void recover_publish();
  void recover_reconnect();
  StartLine* start_line_ = nullptr;
  bool arrived_ = false;

  Options o_;
  asio::io_context io_;
  asio::steady_timer tick_, phase_timer_, deadline_;
  tcp::endpoint server_;
  tcp::endpoint member_server_;  // fanout --member-port: where members connect
  std::vector<std::unique_ptr<Conn>> conns_;
  std::vector<Conn*> dirty_;
  Phase phase_ = Phase::Setup;
  uint32_t next_connect_ = 0, connecting_ = 0, opened_ = 0, joined_ = 0, closed_count_ = 0;
  bool measuring_ = false;
  bool stopping_ = false;  // no new sends
  std::string fatal_;

  // messages
  std::string echo_msg_;          // exact bytes of the echo request (and the expected reply)
  std::vector<char> echo_frame_;  // its masked frame, built once
  std::string fill_;

  // counters
  uint64_t replies_ = 0, deliveries_ = 0, errors_ = 0, unexpected_ = 0, disconnects_ = 0;
  uint64_t sent_total_ = 0, received_total_ = 0;  // echo requests / replies, whole run
  // message sizes (JSON text): what the client sent, what came back per reply or delivery
  uint64_t sent_bytes_ = 0, sent_count_ = 0, received_bytes_ = 0, received_count_ = 0;
  uint64_t deliveries_total_ = 0;  // fanout: to counted members, whole run
  uint64_t order_errors_ = 0, pings_ = 0;
  uint64_t handshakes_ = 0, hs_attempts_ = 0;            // handshake mode
  uint64_t pings_sent_ = 0, pongs_ = 0, next_ping_ = 0;  // idle --ping
  std::vector<std::string> tokens_;  // handshake mode: requests for users u0..u(K-1)
  uint32_t expect_members_ = 0;      // fanout: members whose deliveries are counted
  // message shapes of the protocol spoken (Dispatch JSON or Socket.IO)
  std::string_view welcome_pre_, error_pre_, ack_pre_, send_pre_;
  std::string first_problem_;
  // open loop
  int64_t sched_start_ = 0;
  uint64_t sched_next_ = 0;  // index of the next message to send on the schedule
  // fanout
  Conn* pub_ = nullptr;
  uint64_t published_ = 0, completed_ = 0;
  // recover
  uint32_t pub_acks_ = 0, acked_ = 0, recovered_ok_ = 0, away_closed_ = 0;
  uint64_t replayed_ = 0;
  std::vector<uint32_t> fcount_;
  std::vector<int64_t> fsent_;
  static constexpr size_t kRing = size_t(1) << 20;
  // latency (ns), recorded for sends intended inside the window
  std::vector<int64_t> lat_;
  int64_t win_start_ = INT64_MAX, win_end_ = INT64_MAX;  // set by begin/end_measure
  Snap s0_, s1_, s_before_;
  long rss_hold_start_ = 0;
  int64_t t_setup0_ = 0, t_setup1_ = 0;
};

void Gen::fail(const std::string& why) {
  if (fatal_.empty()) fatal_ = why;
  if (start_line_ && !arrived_) {
    arrived_ = true;
    start_line_->drop();
  }
  finish();
}

void Gen::note_error(const char* kind, const Conn& c, const char* p, size_t n) {
  if (!first_problem_.empty()) return;
  first_problem_ = std::string(kind) + " on conn " + std::to_string(c.id) + ": " +
                   std::string(p, std::min<size_t>(n, 300));
}

void Gen::at_start_line() {
  if (!start_line_ || arrived_) return;
  arrived_ = true;
  start_line_->arrive_and_wait(o_.setup_timeout);
}

void Gen::merge(Gen& g) {
  replies_ += g.replies_, deliveries_ += g.deliveries_, errors_ += g.errors_;
  unexpected_ += g.unexpected_, disconnects_ += g.disconnects_, order_errors_ += g.order_errors_;
  pings_ += g.pings_, handshakes_ += g.handshakes_, sent_total_ += g.sent_total_;
  received_total_ += g.received_total_, deliveries_total_ += g.deliveries_total_;
  sent_bytes_ += g.sent_bytes_, sent_count_ += g.sent_count_;
  received_bytes_ += g.received_bytes_, received_count_ += g.received_count_;
  pings_sent_ += g.pings_sent_, pongs_ += g.pongs_;
  lat_.insert(lat_.end(), g.lat_.begin(), g.lat_.end());
  if (fatal_.empty()) fatal_ = g.fatal_;
  if (first_problem_.empty()) first_problem_ = g.first_problem_;
  t_setup1_ = std::max(t_setup1_, g.t_setup1_);
}

void Gen::run() {
  std::signal(SIGPIPE, SIG_IGN);
  server_ = tcp::endpoint(asio::ip::make_address(o_.host), o_.port);
  member_server_ =
      tcp::endpoint(asio::ip::make_address(o_.host), o_.member_port ? o_.member_port : o_.port);
  // --size is the whole message the client sends (the issue's "64 B"): the filler is what is
  // left after the JSON around it, and never shorter than nothing.
  fill_ = filler(o_.size);
  auto fitted = [&](std::string_view before, std::string_view after) {
    const size_t around = before.size() + after.size();
    return std::string(before) + fill_.substr(0, o_.size > around ? o_.size - around : 0) +
           std::string(after);
  };
  if (o_.engineio) {
    echo_msg_ = fitted(R"(42["echo",{"d":")", R"("}])");
    welcome_pre_ = R"(42["welcome")", error_pre_ = R"(42["error")", ack_pre_ = "43";
    send_pre_ = R"(42["send",)";
  } else {
    echo_msg_ = fitted(R"({"event":"echo","payload":{"d":")", R"("}})");
    welcome_pre_ = R"({"event":"welcome")", error_pre_ = R"({"event":"error")";
    ack_pre_ = R"({"event":"ack")", send_pre_ = R"({"event":"send")";
  }
  append_frame(echo_frame_, 1, echo_msg_.data(), echo_msg_.size());
  expect_members_ = o_.conns - o_.slow;

  const bool has_pub = o_.mode == "fanout" || o_.mode == "recover";
  uint32_t n = o_.conns + (has_pub ? 1 : 0);
  size_t rb = o_.mode == "idle" || o_.mode == "handshake"
                  ? 4096
                  : std::max<size_t>(16384, 4 * (o_.size + 256));
  conns_.reserve(n);
  for (uint32_t i = 0; i < n; ++i) {
    auto c = std::make_unique<Conn>(io_);
    c->id = o_.id_base + i;
    c->rbuf.resize(rb);
    if (o_.mode != "idle") {
      c->wq.reserve(4096);
      c->wcur.reserve(4096);
    }
    // fanout: conn 0 is the publisher (user u0), members are u1..uN
    c->publisher = has_pub && i == 0;
    c->slow = o_.mode == "fanout" && i > o_.conns - o_.slow;
    std::string host = o_.host + ":" + std::to_string(o_.port);
    c->request = "GET " + o_.path + " HTTP/1.1\r\nHost: " + host +
                 "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
                 "Authorization: Bearer " +
                 make_token(o_.secret, user_name(o_.id_base + i)) + "\r\n\r\n";
    if (o_.mode == "handshake") std::string().swap(c->request);  // taken from tokens_
    conns_.push_back(std::move(c));
  }
  if (o_.mode == "handshake") {  // requests for 1,000 users, used in turn
    std::string host = o_.host + ":" + std::to_string(o_.port);
    for (uint32_t u = 0; u < 1000; ++u)
      tokens_.push_back("GET " + o_.path + " HTTP/1.1\r\nHost: " + host +
                        "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                        "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer " +
                        make_token(o_.secret, user_name(u)) + "\r\n\r\n");
    lat_.reserve(size_t(1) << 22);
  }
  if (o_.mode == "recover") {
    pub_ = conns_[0].get();
    lat_.reserve(o_.conns);
  }
  if (o_.mode == "fanout") {
    pub_ = conns_[0].get();
    fcount_.assign(kRing, 0);
    fsent_.assign(kRing, 0);
  }
  if (o_.rate > 0 || o_.mode == "fanout") {
    size_t expect = o_.rate > 0 ? static_cast<size_t>(o_.rate * (o_.seconds + 1) * 1.2) + 1024
                                : size_t(1) << 22;
    lat_.reserve(expect);
  }
  if (o_.mode == "echo" && o_.rate > 0) {
    size_t per = static_cast<size_t>(o_.rate / o_.conns * 2.0) + 4096;  // ≥ 2 s of backlog
    for (auto& c : conns_) c->ring.resize(per);
  }

  double bound =
      o_.setup_timeout + o_.warmup + (o_.mode == "idle" ? o_.hold : o_.seconds) + o_.drain + 10;
  deadline_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(bound * 1000)));
  deadline_.async_wait([this](error_code ec) {
    if (!ec) {
      if (phase_ == Phase::Closing) {
        phase_ = Phase::Done;
        io_.stop();
      } else {
        fail("run exceeded its time bound");
      }
    }
  });

  s_before_ = snap(o_.server_pid);
  t_setup0_ = now_ns();
  if (o_.mode != "handshake") {
    for (uint32_t i = 0; i < std::min(o_.concurrency, n); ++i)
      start_connect(*conns_[next_connect_++]);
  }
  phase_timer_.expires_after(
      std::chrono::milliseconds(static_cast<int64_t>(o_.setup_timeout * 1000)));
  phase_timer_.async_wait([this](error_code ec) {
    if (!ec && (phase_ == Phase::Setup || phase_ == Phase::Joining))
      fail("setup not finished within --setup-timeout (opened " + std::to_string(opened_) +
           ", joined " + std::to_string(joined_) + ")");
  });
  if (o_.mode == "handshake") begin_traffic();  // (re-arms phase_timer_: no setup phase)
  if (o_.spin) {
    while (!io_.stopped()) io_.poll();
  } else {
    io_.run();
  }
  if (start_line_ && !arrived_) start_line_->drop();  // failed before the start: don't hold others
}

void Gen::start_connect(Conn& c) {
  ++connecting_;
  error_code ec;
  c.sock.open(tcp::v4(), ec);
  if (!ec && o_.sources > 1) {
    auto src = asio::ip::make_address_v4("127.0.0.1").to_uint() + c.id % o_.sources;
    c.sock.bind(tcp::endpoint(asio::ip::address_v4(src), 0), ec);
  }
  if (ec) return fail("socket: " + ec.message());
  // A slow reader gets a small receive buffer, so that what it does not read backs up into the
  // server's queue within seconds rather than into megabytes of loopback socket buffers.
  if (c.slow) c.sock.set_option(asio::socket_base::receive_buffer_size(4096), ec);
  const tcp::endpoint& target = o_.mode == "fanout" && !c.publisher ? member_server_ : server_;
  if (o_.mode == "recover" && phase_ == Phase::Reconnect) c.hs_start = now_ns();
  c.sock.async_connect(target, [this, &c, g = c.gen](error_code ec) {
    if (g != c.gen || c.closed) return;
    if (ec) return fail("connect: " + ec.message());
    c.sock.set_option(tcp::no_delay(true), ec);
    const std::string& req =
        o_.mode == "handshake" ? tokens_[hs_attempts_++ % tokens_.size()] : c.request;
    asio::async_write(c.sock, asio::buffer(req), [this, &c, g](error_code ec, size_t) {
      if (g != c.gen || c.closed) return;
      if (ec && o_.mode == "handshake") return hs_fail(c, "handshake write: " + ec.message());
      if (ec) return fail("handshake write: " + ec.message());
      if (o_.mode != "recover") std::string().swap(c.request);  // recover: sent again later
      on_handshake_bytes(c);
    });
  });
}

void Gen::on_handshake_bytes(Conn& c) {
  std::string_view have(c.rbuf.data(), c.rlen);
  auto end = have.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (c.rlen == c.rbuf.size()) return fail("handshake response too large");
    c.sock.async_read_some(asio::buffer(c.rbuf.data() + c.rlen, c.rbuf.size() - c.rlen),
                           [this, &c, g = c.gen](error_code ec, size_t n) {
                             if (g != c.gen || c.closed) return;
                             if (ec && o_.mode == "handshake")
                               return hs_fail(c, "handshake read: " + ec.message());
                             if (ec) return fail("handshake read: " + ec.message());
                             c.rlen += n;
                             on_handshake_bytes(c);
                           });
    return;
  }
  std::string_view head = have.substr(0, end);
  if (head.substr(0, 12) != "HTTP/1.1 101" ||
      head.find("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") == std::string_view::npos)
    return fail("handshake refused: " +
                std::string(have.substr(0, std::min<size_t>(have.size(), 400))));
  size_t used = end + 4;
  std::memmove(c.rbuf.data(), c.rbuf.data() + used, c.rlen - used);
  c.rlen -= used;
  on_upgraded(c);
}

void Gen::on_upgraded(Conn& c) {
  c.upgraded = true;
  // Socket.IO is open once its namespace connect is answered (40{...}), handshake mode once the
  // welcome arrives; Dispatch's protocol at the 101.
  if (o_.mode == "handshake" && o_.no_welcome) return hs_done(c);
  if (!o_.engineio && o_.mode != "handshake") on_open(c);
  parse(c);  // frames that came with the response (the welcome)
  if (c.closed) return;
  read(c);
  flush();
}

void Gen::on_open(Conn& c) {
  c.open = true;
  --connecting_;
  ++opened_;
  if (next_connect_ < conns_.size()) start_connect(*conns_[next_connect_++]);
  if (o_.mode == "recover" && phase_ == Phase::Reconnect) {  // rejoin, with since or without
    char buf[512];
    int n =
        o_.since
            ? std::snprintf(
                  buf, sizeof buf,
                  R"({"event":"join","target":"%s","id":2,"since":{"%s":{"offset":%llu,"epoch":"%s"}}})",
                  o_.room.c_str(), o_.room.c_str(), static_cast<unsigned long long>(c.pos),
                  c.epoch.c_str())
            : std::snprintf(buf, sizeof buf, R"({"event":"join","target":"%s","id":2})",
                            o_.room.c_str());
    queue(c, 1, buf, static_cast<size_t>(n));
    return;
  }
  if (opened_ == conns_.size()) all_open();
}

// ---- handshake mode: each slot connects, upgrades, waits for the welcome, resets, again -----

void Gen::hs_start(Conn& c) {
  ++c.gen;
  c.closed = c.upgraded = c.open = c.close_sent = c.writing = c.dirty = false;
  c.rlen = 0;
  c.wq.clear();
  c.wcur.clear();
  c.hs_start = now_ns();
  start_connect(c);
}

// The connection is closed with a TCP reset (SO_LINGER 0): no TIME_WAIT piles up on either side
// at thousands of handshakes per second. The server sees the reset and frees the connection.
void Gen::hs_done(Conn& c) {
  int64_t t = now_ns();
  if (measuring_ && c.hs_start > 0) {  // completed inside the window
    ++handshakes_;
    if (lat_.size() < lat_.capacity()) lat_.push_back(t - c.hs_start);
  }
  error_code ig;
  c.sock.set_option(asio::socket_base::linger(true, 0), ig);
  c.sock.close(ig);
  c.closed = true;
  c.hs_start = 0;
  --connecting_;
  if (stopping_) return check_drained();
  asio::post(io_, [this, &c] {
    if (!stopping_)
      hs_start(c);
    else
      check_drained();
  });
}

void Gen::hs_fail(Conn& c, const std::string& why) {
  ++errors_;
  if (first_problem_.empty())
    first_problem_ = "handshake slot " + std::to_string(c.id) + ": " + why;
  c.hs_start = 0;  // not counted
  hs_done(c);
}

void Gen::all_open() {
  t_setup1_ = now_ns();
  if (o_.mode == "echo") {
    at_start_line();
    begin_traffic();
    return;
  }
  // fanout and idle: every member joins its room; the ack (Dispatch) or the echo (a plain echo
  // peer) of the join message says it is in.
  phase_ = Phase::Joining;
  char buf[256];
  for (auto& c : conns_) {
    if (c->publisher) continue;
    std::string room = o_.room;
    if (o_.mode == "idle")
      room = "room:idle:" + std::to_string(o_.rooms ? c->id % o_.rooms : c->id);
    int n = o_.engineio  // Socket.IO: an event with an acknowledgement (id 1)
                ? std::snprintf(buf, sizeof buf, R"(421["join","%s"])", room.c_str())
                : std::snprintf(buf, sizeof buf, R"({"event":"join","target":"%s","id":1})",
                                room.c_str());
    queue(*c, 1, buf, static_cast<size_t>(n));
  }
}

void Gen::all_joined() {
  if (o_.mode == "recover") return recover_away();
  if (o_.mode == "idle") {
    at_start_line();
    phase_ = Phase::Warmup;
    // Let the server settle (give back buffers taken for the handshake and the join).
    phase_timer_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(o_.warmup * 1000)));
    phase_timer_.async_wait([this](error_code ec) {
      if (ec) return;
      begin_measure();
      if (o_.ping > 0) ping_tick();
      phase_timer_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(o_.hold * 1000)));
      phase_timer_.async_wait([this](error_code ec) {
        if (ec) return;
        end_measure();
        finish();
      });
    });
    return;
  }
  begin_traffic();
}

void Gen::begin_traffic() {
  phase_ = Phase::Warmup;
  if (o_.rate > 0) {
    sched_start_ = now_ns();
    sched_next_ = 0;
    on_tick();
  } else if (o_.mode == "handshake") {
    for (auto& c : conns_) hs_start(*c);
  } else if (o_.mode == "echo") {
    for (auto& c : conns_)
      for (uint32_t k = 0; k < o_.inflight; ++k) {
        queue_raw(*c, echo_frame_.data(), echo_frame_.size());
        ++sent_total_;
        ++c->inflight;
      }
  } else {  // fanout closed loop
    for (uint32_t k = 0; k < o_.inflight; ++k) publish(now_ns());
  }
  flush();
  phase_timer_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(o_.warmup * 1000)));
  phase_timer_.async_wait([this](error_code ec) {
    if (ec) return;
    begin_measure();
    phase_timer_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(o_.seconds * 1000)));
    phase_timer_.async_wait([this](error_code ec) {
      if (ec) return;
      end_measure();
      stopping_ = true;
      phase_ = Phase::Drain;
      tick_.cancel();
      phase_timer_.expires_after(std::chrono::milliseconds(static_cast<int64_t>(o_.drain * 1000)));
      phase_timer_.async_wait([this](error_code ec) {
        if (!ec && phase_ == Phase::Drain) finish();
      });
      check_drained();
    });
  });
}

void Gen::begin_measure() {
  phase_ = Phase::Measure;
  replies_ = deliveries_ = 0;
  s0_ = snap(o_.server_pid);
  rss_hold_start_ = s0_.rss;
  win_start_ = s0_.t;
  measuring_ = true;
}

void Gen::end_measure() {
  s1_ = snap(o_.server_pid);
  win_end_ = s1_.t;
  measuring_ = false;
}

void Gen::check_drained() {
  if (phase_ == Phase::Away && away_closed_ == o_.conns) return recover_publish();
  if (phase_ != Phase::Drain) return;
  bool done = false;
  if (o_.mode == "fanout") {
    done = completed_ == published_;
  } else if (o_.mode == "handshake") {
    done = std::all_of(conns_.begin(), conns_.end(), [](auto& c) { return c->hs_start == 0; });
  } else if (o_.rate > 0) {
    done = std::all_of(conns_.begin(), conns_.end(),
                       [](auto& c) { return c->closed || c->rhead == c->rtail; });
  } else {
    done = std::all_of(conns_.begin(), conns_.end(),
                       [](auto& c) { return c->closed || c->inflight == 0; });
  }
  if (done) finish();
}

// Sends a close frame on every connection and waits (bounded by the deadline) for the replies.
void Gen::finish() {
  if (phase_ == Phase::Closing || phase_ == Phase::Done) return;
  phase_ = Phase::Closing;
  stopping_ = true;
  measuring_ = false;
  tick_.cancel();
  phase_timer_.cancel();
  for (auto& c : conns_) {
    if ((o_.mode == "handshake" || c->paused) && !c->closed) {  // reset, as in hs_done
      error_code ig;
      c->sock.set_option(asio::socket_base::linger(true, 0), ig);
      c->sock.close(ig);
      c->closed = true;
      ++closed_count_;
    }
    if (o_.mode == "handshake") continue;
    if (c->upgraded && !c->closed && !c->close_sent) {
      static const char code[2] = {0x03, static_cast<char>(0xe8)};  // 1000
      queue(*c, 8, code, 2);
      c->close_sent = true;
    }
  }
  if (o_.mode == "handshake") {
    phase_ = Phase::Done;
    io_.stop();
    return;
  }
  flush();
  deadline_.expires_after(std::chrono::seconds(2));
  deadline_.async_wait([this](error_code ec) {
    if (!ec) {
      phase_ = Phase::Done;
      io_.stop();
    }
  });
  if (closed_count_ == conns_.size()) io_.stop();
}

void Gen::read(Conn& c) {
  if (c.slow && c.joined) {  // a slow reader: never reads again
    c.paused = true;
    return;
  }
  if (c.rlen == c.rbuf.size()) c.rbuf.resize(c.rbuf.size() * 2);
  c.sock.async_read_some(asio::buffer(c.rbuf.data() + c.rlen, c.rbuf.size() - c.rlen),
                         [this, &c, g = c.gen](error_code ec, size_t n) {
                           if (g != c.gen) return;
                           if (ec) return lost(c, "read", ec);
                           c.rlen += n;
                           parse(c);
                           if (c.closed) return;
                           flush();
                           read(c);
                         });
}

void Gen::lost(Conn& c, const char* what, const error_code& ec) {
  if (c.closed) return;
  if (o_.mode == "handshake") return hs_fail(c, std::string(what) + ": " + ec.message());
  c.closed = true;
  ++closed_count_;
  error_code ig;
  c.sock.close(ig);
  if (phase_ == Phase::Away && c.close_sent && !c.publisher) {  // closed before its close reply
    ++away_closed_;
    return check_drained();
  }
  if (phase_ != Phase::Closing && phase_ != Phase::Done) {
    ++disconnects_;
    if (first_problem_.empty())
      first_problem_ = "conn " + std::to_string(c.id) + " lost (" + what + "): " + ec.message();
  }
  if (phase_ == Phase::Closing && closed_count_ == conns_.size())
    io_.stop();
  else
    check_drained();
}

void Gen::queue(Conn& c, unsigned op, const char* data, size_t n) {
  if (c.closed) return;
  append_frame(c.wq, op, data, n);
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(&c);
  }
}

void Gen::queue_raw(Conn& c, const char* data, size_t n) {
  if (c.closed) return;
  c.wq.insert(c.wq.end(), data, data + n);
  if (!c.dirty) {
    c.dirty = true;
    dirty_.push_back(&c);
  }
}

void Gen::flush() {
  for (Conn* c : dirty_) {
    c->dirty = false;
    if (!c->writing && !c->closed) write(*c);
  }
  dirty_.clear();
}

void Gen::write(Conn& c) {
  if (c.wq.empty()) return;
  c.writing = true;
  std::swap(c.wq, c.wcur);
  asio::async_write(c.sock, asio::buffer(c.wcur), [this, &c, g = c.gen](error_code ec, size_t) {
    if (g != c.gen) return;
    c.writing = false;
    c.wcur.clear();
    if (ec) return lost(c, "write", ec);
    if (!c.wq.empty()) write(c);
  });
}

void Gen::parse(Conn& c) {
  auto* b = reinterpret_cast<unsigned char*>(c.rbuf.data());
  size_t pos = 0;
  while (c.rlen - pos >= 2 && !c.closed) {
    unsigned char* p = b + pos;
    size_t avail = c.rlen - pos;
    bool fin = p[0] & 0x80;
    unsigned op = p[0] & 0x0f;
    if (p[1] & 0x80) {
      note_error("masked server frame", c, "", 0);
      ++unexpected_;
    }
    uint64_t len = p[1] & 0x7f;
    size_t hdr = 2;
    if (len == 126) {
      if (avail < 4) break;
      len = (uint64_t(p[2]) << 8) | p[3];
      hdr = 4;
    } else if (len == 127) {
      if (avail < 10) break;
      len = 0;
      for (int i = 0; i < 8; ++i) len = (len << 8) | p[2 + i];
      hdr = 10;
    }
    if (avail < hdr + len) {
      if (hdr + len > c.rbuf.size()) c.rbuf.resize(hdr + len + 4096);  // rare: big message
      b = reinterpret_cast<unsigned char*>(c.rbuf.data());
      break;
    }
    const char* d = reinterpret_cast<const char*>(p + hdr);
    switch (op) {
      case 0x9:  // ping → pong with the same payload
        ++pings_;
        queue(c, 0xA, d, len);
        break;
      case 0xA:
        ++pongs_;
        break;
      case 0x8:
        on_close_frame(c, d, len);
        break;
      case 0x1:
      case 0x2:
        if (fin)
          on_message(c, d, len);
        else
          c.frag.assign(d, d + len);
        break;
      case 0x0:
        c.frag.insert(c.frag.end(), d, d + len);
        if (fin) {
          on_message(c, c.frag.data(), c.frag.size());
          c.frag.clear();
        }
        break;
      default:
        ++unexpected_;
        note_error("unknown opcode", c, "", 0);
    }
    pos += hdr + len;
  }
  if (pos > 0 && !c.closed) {
    std::memmove(c.rbuf.data(), c.rbuf.data() + pos, c.rlen - pos);
    c.rlen -= pos;
  }
}

void Gen::on_close_frame(Conn& c, const char* p, size_t n) {
  if (!c.close_sent) {  // the server started it: a disconnect unless we are closing anyway
    if (phase_ != Phase::Closing && phase_ != Phase::Done) {
      ++disconnects_;
      if (first_problem_.empty()) {
        unsigned code = n >= 2 ? (unsigned(uint8_t(p[0])) << 8 | uint8_t(p[1])) : 0;
        first_problem_ = "conn " + std::to_string(c.id) + " closed by server, code " +
                         std::to_string(code) + " reason '" +
                         std::string(n > 2 ? p + 2 : p, n > 2 ? n - 2 : 0) + "'";
      }
    }
    queue(c, 8, p, std::min<size_t>(n, 2));
    c.close_sent = true;
    flush();
  }
  // Our close was answered (or theirs acknowledged): we are done with this socket once the
  // pending write finishes; closing now is fine for a benchmark.
  c.closed = true;
  ++closed_count_;
  if (phase_ == Phase::Away && c.close_sent && !c.publisher) ++away_closed_;
  error_code ig;
  c.sock.shutdown(tcp::socket::shutdown_both, ig);
  c.sock.close(ig);
  if (phase_ == Phase::Closing && closed_count_ == conns_.size())
    io_.stop();
  else
    check_drained();
}

void Gen::on_message(Conn& c, const char* p, size_t n) {
  if (o_.engineio) {              // Engine.IO and Socket.IO control packets
    if (n == 1 && p[0] == '2') {  // ping → pong
      ++pings_;
      return queue(c, 1, "3", 1);
    }
    if (starts(p, n, "0{")) return queue(c, 1, "40", 2);  // open → connect to namespace "/"
    if (starts(p, n, "40")) {                             // namespace connected
      if (!c.open && o_.mode != "handshake") on_open(c);
      return;
    }
    if (starts(p, n, "44") || starts(p, n, "41")) {  // connect_error, disconnect
      ++errors_;
      note_error("Socket.IO refusal", c, p, n);
      if (o_.mode == "handshake") return hs_fail(c, std::string(p, std::min<size_t>(n, 200)));
      if (!c.open)
        return fail("Socket.IO refused the connection: " +
                    std::string(p, std::min<size_t>(n, 200)));
      return;
    }
  }
  if (starts(p, n, welcome_pre_)) {
    if (o_.mode == "handshake" && !c.closed) hs_done(c);
    return;
  }
  if (o_.mode == "handshake") return;
  if (starts(p, n, error_pre_)) {
    ++errors_;
    note_error("error frame", c, p, n);
    if (o_.mode == "echo") echo_reply(c, nullptr, 0);
    return;
  }
  if (o_.mode == "recover") return recover_message(c, p, n);
  if (o_.mode == "echo") {
    if (n != echo_msg_.size() || std::memcmp(p, echo_msg_.data(), n) != 0) {
      ++unexpected_;
      note_error("unexpected reply", c, p, n);
    }
    echo_reply(c, p, n);
    return;
  }
  if (!c.joined && (starts(p, n, ack_pre_) || starts(p, n, R"({"event":"join")"))) {
    c.joined = true;
    if (++joined_ == conns_.size() - (pub_ ? 1 : 0)) all_joined();
    return;
  }
  if (o_.mode == "fanout" && !c.publisher && starts(p, n, send_pre_)) {
    fanout_delivery(c, p, n);
    return;
  }
  ++unexpected_;
  note_error("unexpected message", c, p, n);
}

// ---- recover mode ----------------------------------------------------------------------------

// The number after `key` in p (e.g. "offset":57), or -1.
int64_t number_after(const char* p, size_t n, std::string_view key) {
  const char* k = static_cast<const char*>(memmem(p, n, key.data(), key.size()));
  if (!k) return -1;
  const char* q = k + key.size();
  if (q >= p + n || *q < '0' || *q > '9') return -1;
  int64_t v = 0;
  for (; q < p + n && *q >= '0' && *q <= '9'; ++q) v = v * 10 + (*q - '0');
  return v;
}

// The string after `key` (e.g. "epoch":"k3f9…"), up to its closing quote; empty when absent.
std::string string_after(const char* p, size_t n, std::string_view key) {
  const char* k = static_cast<const char*>(memmem(p, n, key.data(), key.size()));
  if (!k) return {};
  const char* q = k + key.size();
  const char* e = static_cast<const char*>(std::memchr(q, '"', static_cast<size_t>(p + n - q)));
  return e ? std::string(q, e) : std::string();
}

void Gen::recover_message(Conn& c, const char* p, size_t n) {
  auto problem = [&](const std::string& what) {
    ++order_errors_;
    if (first_problem_.empty())
      first_problem_ = "member u" + std::to_string(c.id) + ": " + what + ": " +
                       std::string(p, std::min<size_t>(n, 300));
  };
  if (c.publisher) {  // the acks of the publishes made while the members were away
    if (!starts(p, n, ack_pre_)) {
      ++unexpected_;
      return note_error("unexpected message to the publisher", c, p, n);
    }
    if (++pub_acks_ == o_.messages) recover_reconnect();
    return;
  }
  if (phase_ == Phase::Joining && !c.joined && starts(p, n, ack_pre_)) {  // where it starts
    c.joined = true;
    int64_t off = number_after(p, n, R"("offset":)");
    c.pos = off > 0 ? static_cast<uint64_t>(off) : 0;
    c.epoch = string_after(p, n, R"("epoch":")");
    if (o_.since && (off < 0 || c.epoch.empty()))
      problem("a join into a history room without positions");
    if (++joined_ == o_.conns) all_joined();
    return;
  }
  if (phase_ != Phase::Reconnect || c.acked) {
    ++unexpected_;
    return note_error("unexpected message", c, p, n);
  }
  if (starts(p, n, send_pre_)) {  // one replayed message: the next offset, the next number
    uint64_t want = c.pos + c.got + 1;
    int64_t off = number_after(p, n, R"("offset":)");
    int64_t seq = number_after(p, n, R"({"s":)");
    if (!o_.since || c.got >= o_.messages)
      problem("a message beyond the " + std::to_string(o_.since ? o_.messages : 0) + " expected");
    else if (off != static_cast<int64_t>(want) || seq != static_cast<int64_t>(c.got))
      problem("expected offset " + std::to_string(want) + " (message " + std::to_string(c.got) +
              ")");
    else if (string_after(p, n, R"("epoch":")") != c.epoch)
      problem("a replayed message of another epoch");
    ++c.got;
    ++replayed_;
    ++deliveries_total_;
    received_bytes_ += n;
    ++received_count_;
    return;
  }
  if (!starts(p, n, ack_pre_)) {
    ++unexpected_;
    return note_error("unexpected message", c, p, n);
  }
  c.acked = true;
  uint32_t want = o_.since ? o_.messages : 0;
  if (c.got != want)
    problem("ack after " + std::to_string(c.got) + " replayed messages, not " +
            std::to_string(want));
  if (o_.since) {
    bool ok = memmem(p, n, R"("ok":true)", 9) != nullptr;
    int64_t off = number_after(p, n, R"("offset":)");
    if (!ok || off != static_cast<int64_t>(c.pos + o_.messages) ||
        string_after(p, n, R"("epoch":")") != c.epoch)
      problem("recovered is not ok:true at offset " + std::to_string(c.pos + o_.messages) +
              " in epoch " + c.epoch);
    else
      ++recovered_ok_;
  } else if (memmem(p, n, "recovered", 9) != nullptr) {
    problem("recovered in the ack of a join without since");
  }
  int64_t t = now_ns();
  if (lat_.size() < lat_.capacity()) lat_.push_back(t - c.hs_start);
  if (++acked_ == o_.conns) {  // the last member is back: the window ends
    end_measure();
    finish();
  }
}

// Every member closes (a close frame, its reply awaited); the publisher stays.
void Gen::recover_away() {
  t_setup1_ = now_ns();
  phase_ = Phase::Away;
  static const char code[2] = {0x03, static_cast<char>(0xe8)};  // 1000
  for (auto& c : conns_) {
    if (c->publisher) continue;
    queue(*c, 8, code, 2);
    c->close_sent = true;
  }
  flush();
}

// M messages to the room from the publisher, each with an id: its ack says it is kept.
void Gen::recover_publish() {
  phase_ = Phase::Missed;
  std::string f = fill_.substr(0, std::min<size_t>(fill_.size(), 16));
  char buf[512];
  for (uint32_t k = 0; k < o_.messages; ++k) {
    int n = std::snprintf(buf, sizeof buf,
                          R"({"event":"send","target":"%s","payload":{"s":%u,"d":"%s"},"id":%u})",
                          o_.room.c_str(), k, f.c_str(), k + 1);
    sent_bytes_ += static_cast<size_t>(n);
    ++sent_count_;
    queue(*pub_, 1, buf, static_cast<size_t>(n));
  }
  published_ = o_.messages;
  flush();
  if (o_.messages == 0) recover_reconnect();
}

// Every member reconnects (new socket, new handshake) and joins again as soon as it is open.
void Gen::recover_reconnect() {
  phase_ = Phase::Reconnect;
  closed_count_ = 0;
  connecting_ = 0;
  opened_ = 1;  // the publisher
  next_connect_ = 1;
  for (auto& c : conns_) {
    if (c->publisher) continue;
    ++c->gen;  // late completions on the old socket are ignored
    error_code ig;
    c->sock.close(ig);
    c->closed = c->upgraded = c->open = c->close_sent = c->writing = c->dirty = false;
    c->joined = c->acked = false;
    c->got = 0;
    c->rlen = 0;
    c->wq.clear();
    c->wcur.clear();
  }
  begin_measure();
  phase_ = Phase::Reconnect;  // (begin_measure says Measure)
  int64_t t = now_ns();
  for (uint32_t i = 0; i < std::min<uint32_t>(o_.concurrency, o_.conns); ++i) {
    Conn& c = *conns_[next_connect_++];
    c.hs_start = t;
    start_connect(c);
  }
}

void Gen::echo_reply(Conn& c, const char*, size_t n) {
  int64_t t = now_ns();
  if (measuring_) ++replies_;
  received_bytes_ += n;
  ++received_count_;
  ++received_total_;
  if (o_.rate > 0) {
    if (c.rhead == c.rtail) {
      ++unexpected_;
      note_error("reply without a request", c, "", 0);
      return;
    }
    int64_t intended = c.ring[c.rhead];
    c.rhead = (c.rhead + 1) % c.ring.size();
    if (intended >= win_start_ && intended < win_end_ && lat_.size() < lat_.capacity())
      lat_.push_back(t - intended);
    if (stopping_) check_drained();
    return;
  }
  if (c.inflight > 0) --c.inflight;
  if (!stopping_) {
    queue_raw(c, echo_frame_.data(), echo_frame_.size());
    ++sent_total_;
    ++c.inflight;
  } else {
    check_drained();
  }
}

void Gen::publish(int64_t when) {
  if (published_ - completed_ >= kRing) return fail("fan-out backlog exceeds the tracking ring");
  uint64_t seq = published_++;
  fcount_[seq % kRing] = 0;
  fsent_[seq % kRing] = when;
  char buf[512 + 128];
  static_assert(sizeof buf > 128);
  // the filler goes in place; sizes above the stack buffer use a (rare) heap path
  std::string_view f = fill_;
  int head =
      std::snprintf(buf, 128,
                    o_.engineio ? R"(42["send","%s",{"s":%llu,"d":")"
                                : R"({"event":"send","target":"%s","payload":{"s":%llu,"d":")",
                    o_.room.c_str(), static_cast<unsigned long long>(seq));
  const char* tail = o_.engineio ? "\"}]" : "\"}}";
  f = f.substr(
      0, o_.size > static_cast<size_t>(head) + 3 ? o_.size - static_cast<size_t>(head) - 3 : 0);
  size_t need = static_cast<size_t>(head) + f.size() + 3;
  sent_bytes_ += need;
  ++sent_count_;
  if (need <= sizeof buf) {
    std::memcpy(buf + head, f.data(), f.size());
    std::memcpy(buf + head + f.size(), tail, 3);
    queue(*pub_, 1, buf, need);
  } else {
    std::string s(buf, static_cast<size_t>(head));
    s.append(f).append(tail);
    queue(*pub_, 1, s.data(), s.size());
  }
}

void Gen::fanout_delivery(Conn& c, const char* p, size_t n) {
  if (c.slow) return;  // what a slow reader still got before it stopped is not counted
  int64_t t = now_ns();
  static constexpr std::string_view key = R"({"s":)";
  const char* k = static_cast<const char*>(memmem(p, n, key.data(), key.size()));
  if (!k) {
    ++unexpected_;
    note_error("delivery without a sequence number", c, p, n);
    return;
  }
  uint64_t seq = 0;
  for (const char* q = k + key.size(); q < p + n && *q >= '0' && *q <= '9'; ++q)
    seq = seq * 10 + uint64_t(*q - '0');
  if (seq != c.expect) {
    ++order_errors_;
    if (first_problem_.empty())
      first_problem_ = "member u" + std::to_string(c.id) + " expected message " +
                       std::to_string(c.expect) + " but got " + std::to_string(seq) +
                       (seq < c.expect ? " (duplicate or out of order)" : " (missing)");
    if (seq < c.expect || seq >= published_) return;  // duplicate or bogus: don't count twice
    c.expect = seq;                                   // resynchronise so one gap is reported once
  }
  ++c.expect;
  ++deliveries_total_;
  received_bytes_ += n;
  ++received_count_;
  if (measuring_) ++deliveries_;
  uint32_t& cnt = fcount_[seq % kRing];
  if (++cnt == expect_members_) {
    // completions come in sequence order: each member sees messages in order
    ++completed_;
    int64_t sent = fsent_[seq % kRing];
    if (sent >= win_start_ && sent < win_end_ && lat_.size() < lat_.capacity())
      lat_.push_back(t - sent);
    if (stopping_) {
      check_drained();
    } else if (o_.rate <= 0) {
      while (published_ - completed_ < o_.inflight) publish(t);
    }
  }
}

// idle --ping: spreads the pings evenly, each connection once per --ping seconds.
void Gen::ping_tick() {
  if (stopping_ || !measuring_) return;
  double elapsed = static_cast<double>(now_ns() - win_start_) / 1e9;
  auto due = static_cast<uint64_t>(elapsed / o_.ping * static_cast<double>(conns_.size()));
  for (; next_ping_ < due; ++next_ping_) {
    Conn& c = *conns_[next_ping_ % conns_.size()];
    if (!c.open || c.closed) continue;
    queue(c, 0x9, "p", 1);
    ++pings_sent_;
  }
  flush();
  tick_.expires_after(std::chrono::milliseconds(20));
  tick_.async_wait([this](error_code ec) {
    if (!ec) ping_tick();
  });
}

// Open loop: sends everything whose intended time has come, then sleeps until the next one.
void Gen::on_tick() {
  if (stopping_) return;
  int64_t t = now_ns();
  double step = 1e9 / o_.rate;
  for (;;) {
    int64_t due = sched_start_ + static_cast<int64_t>(static_cast<double>(sched_next_) * step);
    if (due > t) break;
    if (o_.mode == "echo") {
      Conn& c = *conns_[sched_next_ % conns_.size()];
      size_t next = (c.rtail + 1) % c.ring.size();
      if (next == c.rhead)
        return fail("echo backlog exceeds the tracking ring (server far behind)");
      c.ring[c.rtail] = due;
      c.rtail = next;
      queue_raw(c, echo_frame_.data(), echo_frame_.size());
      ++sent_total_;
    } else {
      publish(due);
    }
    ++sched_next_;
  }
  flush();
  int64_t due = sched_start_ + static_cast<int64_t>(static_cast<double>(sched_next_) * step);
  int64_t wake = std::max(due, t + 50'000);  // at most 20k wake-ups per second; sends batch up
  tick_.expires_after(std::chrono::nanoseconds(wake - t));
  tick_.async_wait([this](error_code ec) {
    if (!ec) on_tick();
  });
}

double pct(std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t i = std::min(v.size() - 1, static_cast<size_t>(p / 100.0 * static_cast<double>(v.size())));
  return static_cast<double>(v[i]) / 1000.0;  // µs
}

std::string json_str(const std::string& s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\')
      out += '\\', out += ch;
    else if (static_cast<unsigned char>(ch) < 0x20)
      out += ' ';
    else
      out += ch;
  }
  return out + "\"";
}

void Gen::report() {
  bool had_window = s1_.t > s0_.t;
  double secs = had_window ? static_cast<double>(s1_.t - s0_.t) / 1e9 : 0;
  double srv = had_window ? s1_.srv - s0_.srv : 0;
  double gen = had_window ? s1_.gen - s0_.gen : 0;
  std::string out = "{\"mode\":\"" + o_.mode + "\"";
  auto add = [&](const char* k, double v, int prec = 1) {
    char b[96];
    std::snprintf(b, sizeof b, ",\"%s\":%.*f", k, prec, v);
    out += b;
  };
  auto addi = [&](const char* k, uint64_t v) {
    out += ",\"" + std::string(k) + "\":" + std::to_string(v);
  };
  if (!o_.label.empty()) out += ",\"label\":" + json_str(o_.label);
  if (o_.engineio) out += ",\"proto\":\"socketio\"";
  if (o_.mode == "handshake")
    addi("concurrency", o_.conns);
  else
    addi(o_.mode == "fanout" || o_.mode == "recover" ? "members" : "conns", o_.conns);
  if (o_.slow) addi("slow", o_.slow);
  if (o_.mode == "recover") {
    out += ",\"room\":" + json_str(o_.room);
    out += std::string(",\"since\":") + (o_.since ? "true" : "false");
    addi("messages", o_.messages);
    addi("concurrency", std::min(o_.concurrency, o_.conns));
  }
  if (o_.mode != "idle" && o_.mode != "handshake" && o_.mode != "recover") {
    addi("size", o_.size);
    if (o_.mode == "echo") add("msg_bytes", static_cast<double>(echo_msg_.size()));
    if (o_.mode == "fanout" && sent_count_ > 0)
      add("msg_bytes", static_cast<double>(sent_bytes_) / static_cast<double>(sent_count_));
    if (received_count_ > 0)
      add("delivered_bytes",
          static_cast<double>(received_bytes_) / static_cast<double>(received_count_));
    if (o_.rate > 0)
      add("rate", o_.rate, 0);
    else
      addi("inflight", o_.inflight);
  }
  add("window_s", secs, 3);
  if (t_setup1_ > 0) add("setup_s", static_cast<double>(t_setup1_ - t_setup0_) / 1e9, 3);
  uint64_t count = o_.mode == "echo"        ? replies_
                   : o_.mode == "handshake" ? handshakes_
                                            : deliveries_;
  if (o_.mode == "echo") {  // every request sent must have had its reply by the end
    addi("sent", sent_total_);
    addi("received", received_total_);
    uint64_t missing = sent_total_ > received_total_ ? sent_total_ - received_total_ : 0;
    addi("missing", missing);
    if (missing) {
      ++order_errors_;
      if (first_problem_.empty())
        first_problem_ = std::to_string(missing) + " echo replies missing after the drain";
    }
  }
  if (o_.mode == "handshake") {
    addi("handshakes", count);
    add("handshakes_per_s", secs > 0 ? static_cast<double>(count) / secs : 0);
  } else if (o_.mode == "echo") {
    addi("messages", count);
    add("msgs_per_s", secs > 0 ? static_cast<double>(count) / secs : 0);
  } else if (o_.mode == "fanout") {
    addi("published", published_);
    addi("deliveries", count);
    add("deliveries_per_s", secs > 0 ? static_cast<double>(count) / secs : 0);
  }
  if (o_.server_pid > 0) {
    add("server_cpu_s", srv, 3);
    add("server_cpu_pct", secs > 0 ? 100.0 * srv / secs : 0);
    if (o_.mode != "idle")
      add("server_cpu_us_per_msg", count ? 1e6 * srv / static_cast<double>(count) : 0, 3);
    if (o_.mode == "idle") {
      addi("rss_before_kb", static_cast<uint64_t>(std::max(0L, s_before_.rss)));
      addi("rss_joined_kb", static_cast<uint64_t>(std::max(0L, rss_hold_start_)));
      addi("rss_after_kb", static_cast<uint64_t>(std::max(0L, s1_.rss)));
      add("rss_bytes_per_conn",
          1024.0 * static_cast<double>(s1_.rss - s_before_.rss) / static_cast<double>(o_.conns), 0);
    } else {
      addi("rss_start_kb", static_cast<uint64_t>(std::max(0L, s0_.rss)));
      addi("rss_end_kb", static_cast<uint64_t>(std::max(0L, s1_.rss)));
    }
    // peak RSS of the server's life (a fresh server per run): bounded memory shows here
    addi("rss_peak_kb",
         static_cast<uint64_t>(std::max({0L, s1_.rss, proc_status_kb(o_.server_pid, "VmHWM:")})));
  }
  add("gen_cpu_pct", secs > 0 ? 100.0 * gen / secs : 0);
  if (secs > 0) {
    // runnable but not running: CPU taken by other processes while we wanted it
    if (o_.server_pid > 0) add("server_wait_pct", 100.0 * (s1_.srv_wait - s0_.srv_wait) / secs);
    add("gen_wait_pct", 100.0 * (s1_.gen_wait - s0_.gen_wait) / secs);
  }
  if (had_window && s0_.cpus.busy.size() == s1_.cpus.busy.size()) {
    out += ",\"cpu_busy_pct\":[";
    for (size_t i = 0; i < s0_.cpus.busy.size(); ++i) {
      double tot = static_cast<double>(s1_.cpus.total[i] - s0_.cpus.total[i]);
      double busy = static_cast<double>(s1_.cpus.busy[i] - s0_.cpus.busy[i]);
      char b[32];
      std::snprintf(b, sizeof b, "%s%.1f", i ? "," : "", tot > 0 ? 100.0 * busy / tot : 0);
      out += b;
    }
    out += "]";
  }
  if (!lat_.empty()) {
    std::sort(lat_.begin(), lat_.end());
    addi("lat_samples", lat_.size());
    add("p50_us", pct(lat_, 50));
    add("p99_us", pct(lat_, 99));
    add("p999_us", pct(lat_, 99.9));
    add("max_us", static_cast<double>(lat_.back()) / 1000.0);
  }
  if (o_.mode == "recover") {  // every member back, each with exactly its missed messages
    uint64_t want = o_.since ? o_.messages : 0, missing = 0, unacked = 0;
    for (auto& c : conns_) {
      if (c->publisher) continue;
      if (c->got < want) missing += want - c->got;
      if (!c->acked) ++unacked;
    }
    addi("published", published_);
    addi("publisher_acks", pub_acks_);
    addi("replayed", replayed_);
    addi("replayed_expected", want * o_.conns);
    addi("acked", acked_);
    addi("recovered_ok", recovered_ok_);
    addi("missing", missing);
    addi("unacked", unacked);
    if (had_window && o_.server_pid > 0) {
      // utime+stime tick at 10 ms, too coarse for a phase of 0.1 s: the threads' run time from
      // /proc/PID/task/*/schedstat (ns) is the figure
      double run = s1_.srv_run - s0_.srv_run;
      add("server_run_s", run, 4);
      add("server_run_us_per_member", 1e6 * run / static_cast<double>(o_.conns), 2);
      if (replayed_)
        add("server_run_us_per_replayed", 1e6 * run / static_cast<double>(replayed_), 3);
    }
    if (had_window) add("gen_cpu_s", gen, 3);
    if ((missing || unacked || (o_.since && recovered_ok_ != o_.conns)) && first_problem_.empty())
      first_problem_ = std::to_string(missing) + " replayed messages missing, " +
                       std::to_string(unacked) + " members without their ack, " +
                       std::to_string(recovered_ok_) + " recovered ok";
    if (missing || unacked || (o_.since && recovered_ok_ != o_.conns)) ++order_errors_;
    addi("order_errors", order_errors_);
  }
  if (o_.mode == "fanout") {
    uint64_t missing = 0;
    for (auto& c : conns_)
      if (!c->publisher && !c->slow && c->expect < published_) missing += published_ - c->expect;
    addi("deliveries_total", deliveries_total_);
    addi("missing", missing);
    if (missing && first_problem_.empty())
      first_problem_ = std::to_string(missing) + " deliveries missing after the drain";
    if (missing) ++order_errors_;
    addi("order_errors", order_errors_);
  }
  addi("pings", pings_);
  if (o_.ping > 0) {
    addi("pings_sent", pings_sent_);
    addi("pongs", pongs_);
  }
  addi("errors", errors_);
  addi("unexpected", unexpected_);
  addi("disconnects", disconnects_);
  bool clean =
      fatal_.empty() && errors_ == 0 && unexpected_ == 0 && disconnects_ == 0 && order_errors_ == 0;
  out += std::string(",\"ok\":") + (clean ? "true" : "false");
  if (!fatal_.empty()) out += ",\"fatal\":" + json_str(fatal_);
  if (!first_problem_.empty()) out += ",\"first_problem\":" + json_str(first_problem_);
  out += "}";
  std::puts(out.c_str());
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  uint32_t threads = o.threads;
  if (threads == 0) {
    cpu_set_t set;
    threads =
        sched_getaffinity(0, sizeof set, &set) == 0 ? static_cast<uint32_t>(CPU_COUNT(&set)) : 1;
    if (o.mode == "fanout" || o.mode == "recover") threads = 1;
  }
  if ((o.mode == "fanout" || o.mode == "recover") && threads > 1)
    usage("fanout and recover run on one thread (--threads 1)");
  threads = std::max(1u, std::min(threads, o.conns));
  if (threads == 1) {
    Gen g(std::move(o));
    g.run();
    g.report();
    return g.clean() ? 0 : 1;
  }
  // One Gen per thread, each with its share of the connections (users numbered on from the
  // previous share; the open-loop rate split the same way); the first one reports for all.
  std::vector<std::unique_ptr<Gen>> gens;
  StartLine start(threads);
  uint32_t total = o.conns, base = o.id_base;
  for (uint32_t t = 0; t < threads; ++t) {
    Options mine = o;
    mine.conns = total / threads + (t < total % threads ? 1 : 0);
    mine.id_base = base;
    mine.rate = o.rate * mine.conns / total;
    if (t > 0) mine.server_pid = 0;  // the first thread reads the server's figures
    base += mine.conns;
    gens.push_back(std::make_unique<Gen>(std::move(mine)));
    gens.back()->set_start_line(&start);
  }
  std::vector<std::thread> workers;
  for (uint32_t t = 1; t < threads; ++t) workers.emplace_back([&g = *gens[t]] { g.run(); });
  gens[0]->run();
  for (auto& w : workers) w.join();
  for (uint32_t t = 1; t < threads; ++t) gens[0]->merge(*gens[t]);
  gens[0]->set_totals(total, o.rate);
  gens[0]->report();
  return gens[0]->clean() ? 0 : 1;
}
