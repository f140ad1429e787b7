// Attaches a hiredis async context to an Asio io_context: hiredis says through its `ev` hooks
// when it wants to read or write its socket; each becomes an async_wait on the descriptor, and
// readiness is handed back to redisAsyncHandleRead/Write. hiredis owns the socket (it closes it);
// `cleanup` detaches from it. Handlers hold the AsioEvents alive, so one that runs after the
// context is gone does nothing.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include <memory>

struct redisAsyncContext;

namespace dispatch::redis {

class AsioEvents : public std::enable_shared_from_this<AsioEvents> {
 public:
  // Installs the hooks into `context` (whose socket is open). Call once per context.
  static std::shared_ptr<AsioEvents> attach(boost::asio::io_context& io,
                                            redisAsyncContext* context);

  AsioEvents(boost::asio::io_context& io, redisAsyncContext* context);

 private:
  static void add_read(void* self);
  static void del_read(void* self);
  static void add_write(void* self);
  static void del_write(void* self);
  static void cleanup(void* self);

  void wait_read();
  void wait_write();

  redisAsyncContext* context_;  // nullptr once hiredis has cleaned up
  boost::asio::posix::stream_descriptor socket_;
  bool want_read_ = false;
  bool want_write_ = false;
  bool reading_ = false;  // an async_wait for reading is outstanding
  bool writing_ = false;
};

}  // namespace dispatch::redis
