// The way into an event loop for code that may outlive it: a pending step's Completion can be
// called from any thread at any time, even after its loop has stopped and been freed. It holds
// this mailbox by shared_ptr; the loop closes it before it goes away, and from then on post()
// drops the handler instead of touching the freed io_context. The mutex orders every post
// before the close, so a late post is a plain no-op (ASan- and TSan-clean).
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include <mutex>
#include <utility>

namespace dispatch {

class LoopMailbox {
 public:
  explicit LoopMailbox(boost::asio::io_context& io) : io_(&io) {}

  // Runs `handler` later on the loop's thread; once the loop is closed, only destroys it (on the
  // calling thread, outside the lock). Returns whether it was posted.
  template <typename Handler>
  bool post(Handler handler) {
    std::unique_lock lock(mutex_);
    if (!io_) return false;
    boost::asio::post(*io_, std::move(handler));
    return true;
  }

  // Called by the loop before its io_context goes away; waits for a post in progress.
  void close() {
    std::lock_guard lock(mutex_);
    io_ = nullptr;
  }

 private:
  std::mutex mutex_;
  boost::asio::io_context* io_;
};

}  // namespace dispatch
