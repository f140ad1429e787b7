// Sending one file of server.static_dir to one client, after its request was read (the
// Connection hands its socket over). The file goes from the page cache to the socket with
// sendfile(2): nothing is read into memory, and nothing counts toward the WebSocket send queues
// or their process-wide cap. The socket stays in the loop's ReadinessPoller (edge-triggered): the
// download writes until the socket is full, then waits for EPOLLOUT; a reader that keeps up is
// sent at most a bounded amount per turn, so WebSocket clients on the same loop keep their turn.
//
// Limits (constants, see docs/ARCHITECTURE.md "Static files"): at most max_per_process downloads
// at once in the process and max_per_ip per client IP (the TCP peer); beyond them the request is
// answered 503. A download must move at least min_progress bytes in every progress_window, or it
// is closed: a client that reads, however large the file, gets all of it; one that stops reading
// holds a socket for at most two windows. After the last byte the download sends FIN and waits
// (up to one window) for the client to close, so the end of the file is never cut by a reset.
#pragma once

#include <sys/types.h>

#include <boost/intrusive/list.hpp>

#include <chrono>
#include <cstdint>

#include "transport/readiness_poller.h"
#include "transport/static_files.h"
#include "transport/timer_wheel.h"

namespace dispatch {

class EventLoop;
struct PeerEntry;

using DownloadHook =
    boost::intrusive::list_base_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

class StaticDownload final : public ReadinessTarget, public TimerEntry, public DownloadHook {
 public:
  static constexpr int64_t max_per_process = 128;
  static constexpr uint32_t max_per_ip = 8;
  static constexpr std::chrono::seconds progress_window{10};
  static constexpr uint64_t min_progress = 32 * 1024;

  // Takes the socket (non-blocking, not in the poller) and a place reserved by
  // StaticDownloads::reserve() for `peer`.
  StaticDownload(EventLoop& loop, int socket, StaticFile file, PeerEntry* peer);
  ~StaticDownload() override;

  void start();
  // Closes the socket and frees the places (idempotent); the object is freed in a later handler.
  void close();

  void on_ready(uint32_t events) override;
  void on_timer(SteadyTime now) override;

 private:
  void write_more();
  void write_later();
  // Reads and drops what the client sends after its request; false when it should be closed.
  bool discard_input();
  void finish_sending();
  void release();  // closes the socket and the file, gives back the places

  EventLoop& loop_;
  int socket_;
  StaticFile file_;
  PeerEntry* peer_;
  size_t head_sent_ = 0;
  off_t offset_ = 0;
  uint64_t sent_in_window_ = 0;
  bool write_scheduled_ = false;
  bool all_sent_ = false;  // FIN sent; waiting for the client's
  bool closed_ = false;
};

// A loop's downloads: starts them within the limits and frees what is left at shutdown.
class StaticDownloads {
 public:
  explicit StaticDownloads(EventLoop& loop) : loop_(loop) {}
  StaticDownloads(const StaticDownloads&) = delete;
  StaticDownloads& operator=(const StaticDownloads&) = delete;
  ~StaticDownloads();

  // Takes a place for one more download (process-wide and for this IP), or returns false.
  bool reserve(PeerEntry* peer);
  void start(int socket, StaticFile file, PeerEntry* peer);
  void close_all();
  void destroy(StaticDownload* download);

 private:
  EventLoop& loop_;
  boost::intrusive::list<StaticDownload, boost::intrusive::base_hook<DownloadHook>,
                         boost::intrusive::constant_time_size<false>>
      downloads_;
};

}  // namespace dispatch
