#include "server/static_download.h"

#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/post.hpp>

#include <algorithm>
#include <cerrno>

#include "log/log.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "server/peer_table.h"

namespace dispatch {

namespace {
// Handed to the kernel per sendfile call, and per turn before other work gets its turn.
constexpr size_t chunk_size = 256 * 1024;
constexpr size_t bytes_per_turn = 1024 * 1024;
}  // namespace

StaticDownload::StaticDownload(EventLoop& loop, int socket, StaticFile file, PeerEntry* peer)
    : loop_(loop), socket_(socket), file_(std::move(file)), peer_(peer) {}

StaticDownload::~StaticDownload() {
  release();
}

void StaticDownload::start() {
  loop_.wheel().schedule(*this, loop_.clock().now() + progress_window);
  if (!loop_.poller().add(socket_, *this)) {
    close();
    return;
  }
  write_more();
}

void StaticDownload::close() {
  if (closed_) return;
  release();
  // Freed in a handler of its own: events for this socket may still be in the poller's batch.
  // A pending write_later() handler frees it instead.
  if (!write_scheduled_) {
    boost::asio::post(loop_.io(), [this] { loop_.downloads().destroy(this); });
  }
}

void StaticDownload::release() {
  if (closed_) return;
  closed_ = true;
  TimerWheel::cancel(*this);
  ::close(socket_);  // also leaves the poller
  socket_ = -1;
  file_.file.reset();
  Engine& engine = loop_.engine();
  engine.downloads().fetch_sub(1);
  if (peer_) engine.peers().end_download(peer_);
  peer_ = nullptr;
}

void StaticDownload::on_ready(uint32_t events) {
  if (closed_) return;
  if (events & (EPOLLERR | EPOLLHUP)) {
    close();
    return;
  }
  if ((events & (EPOLLIN | EPOLLRDHUP)) && !discard_input()) {
    close();
    return;
  }
  if ((events & EPOLLOUT) && !all_sent_) write_more();
}

bool StaticDownload::discard_input() {
  constexpr int reads_per_turn = 4;
  char* buffer = loop_.read_buffer();
  for (int round = 0; round < reads_per_turn; ++round) {
    ssize_t received = ::recv(socket_, buffer, EventLoop::read_buffer_size, 0);
    if (received < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
    // The client closed its side: after the whole file that is the end; before it, the client
    // may still be reading (a half-close after the request), so go on sending.
    if (received == 0) return !all_sent_;
    if (static_cast<size_t>(received) < EventLoop::read_buffer_size) return true;
  }
  return false;  // a client that floods us with bytes nobody asked for
}

void StaticDownload::write_more() {
  if (closed_ || all_sent_) return;
  while (head_sent_ < file_.head.size()) {
    ssize_t written = ::send(socket_, file_.head.data() + head_sent_,
                             file_.head.size() - head_sent_, MSG_NOSIGNAL);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) close();
      return;  // EAGAIN: EPOLLOUT comes when the socket drains
    }
    head_sent_ += static_cast<size_t>(written);
    sent_in_window_ += static_cast<uint64_t>(written);
  }
  size_t sent_this_turn = 0;
  while (file_.file && static_cast<uint64_t>(offset_) < file_.size) {
    if (sent_this_turn >= bytes_per_turn) {
      write_later();  // still writable: no new event will come
      return;
    }
    const size_t chunk = static_cast<size_t>(
        std::min<uint64_t>(file_.size - static_cast<uint64_t>(offset_), chunk_size));
    ssize_t written = ::sendfile(socket_, file_.file.get(), &offset_, chunk);
    if (written < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) close();
      return;
    }
    if (written == 0) {  // the file shrank since its size was sent: the client sees it short
      close();
      return;
    }
    sent_this_turn += static_cast<size_t>(written);
    sent_in_window_ += static_cast<uint64_t>(written);
  }
  finish_sending();
}

void StaticDownload::write_later() {
  if (write_scheduled_) return;
  write_scheduled_ = true;
  boost::asio::post(loop_.io(), [this] {
    write_scheduled_ = false;
    if (closed_) {
      loop_.downloads().destroy(this);
      return;
    }
    write_more();
  });
}

// Everything is queued in the kernel: FIN follows the last byte. The socket is closed when the
// client closes its side (or after a window): closing it with the client's bytes unread would
// send a reset that can cut off the end of the file.
void StaticDownload::finish_sending() {
  all_sent_ = true;
  file_.file.reset();
  ::shutdown(socket_, SHUT_WR);
  loop_.wheel().schedule(*this, loop_.clock().now() + progress_window);
  if (!discard_input()) close();
}

void StaticDownload::on_timer(SteadyTime now) {
  if (closed_) return;
  if (all_sent_) {  // the client did not close its side within a window
    close();
    return;
  }
  if (sent_in_window_ < min_progress) {
    log::debug("static download too slow: closed")
        .field("sent", static_cast<uint64_t>(offset_))
        .field("size", file_.size);
    close();
    return;
  }
  sent_in_window_ = 0;
  loop_.wheel().schedule(*this, now + progress_window);
}

// ---------------------------------------------------------------- the loop's downloads

StaticDownloads::~StaticDownloads() {
  while (!downloads_.empty()) {
    StaticDownload& download = downloads_.front();
    download.unlink();
    delete &download;
  }
}

bool StaticDownloads::reserve(PeerEntry* peer) {
  Engine& engine = loop_.engine();
  if (engine.downloads().fetch_add(1) >= StaticDownload::max_per_process) {
    engine.downloads().fetch_sub(1);
    return false;
  }
  if (peer && !engine.peers().try_begin_download(peer, StaticDownload::max_per_ip)) {
    engine.downloads().fetch_sub(1);
    return false;
  }
  return true;
}

void StaticDownloads::start(int socket, StaticFile file, PeerEntry* peer) {
  auto* download = new StaticDownload(loop_, socket, std::move(file), peer);
  downloads_.push_back(*download);
  download->start();
}

void StaticDownloads::close_all() {
  for (StaticDownload& download : downloads_) download.close();
}

void StaticDownloads::destroy(StaticDownload* download) {
  download->unlink();
  delete download;
}

}  // namespace dispatch
