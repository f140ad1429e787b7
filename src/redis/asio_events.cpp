#include "redis/asio_events.h"

#include <hiredis/async.h>

namespace dispatch::redis {

std::shared_ptr<AsioEvents> AsioEvents::attach(boost::asio::io_context& io,
                                               redisAsyncContext* context) {
  auto events = std::make_shared<AsioEvents>(io, context);
  context->ev.data = events.get();
  context->ev.addRead = &AsioEvents::add_read;
  context->ev.delRead = &AsioEvents::del_read;
  context->ev.addWrite = &AsioEvents::add_write;
  context->ev.delWrite = &AsioEvents::del_write;
  context->ev.cleanup = &AsioEvents::cleanup;
  return events;
}

AsioEvents::AsioEvents(boost::asio::io_context& io, redisAsyncContext* context)
    : context_(context), socket_(io, context->c.fd) {}

void AsioEvents::add_read(void* self) {
  auto* events = static_cast<AsioEvents*>(self);
  events->want_read_ = true;
  events->wait_read();
}

void AsioEvents::del_read(void* self) {
  static_cast<AsioEvents*>(self)->want_read_ = false;
}

void AsioEvents::add_write(void* self) {
  auto* events = static_cast<AsioEvents*>(self);
  events->want_write_ = true;
  events->wait_write();
}

void AsioEvents::del_write(void* self) {
  static_cast<AsioEvents*>(self)->want_write_ = false;
}

void AsioEvents::cleanup(void* self) {
  auto* events = static_cast<AsioEvents*>(self);
  events->want_read_ = events->want_write_ = false;
  events->context_ = nullptr;
  boost::system::error_code ignored;
  events->socket_.cancel(ignored);
  events->socket_.release();  // hiredis closes the descriptor
}

void AsioEvents::wait_read() {
  if (reading_ || !context_) return;
  reading_ = true;
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                     [self = shared_from_this()](const boost::system::error_code& error) {
                       self->reading_ = false;
                       if (error || !self->context_ || !self->want_read_) return;
                       redisAsyncHandleRead(self->context_);  // may free the context
                       if (self->context_ && self->want_read_) self->wait_read();
                     });
}

void AsioEvents::wait_write() {
  if (writing_ || !context_) return;
  writing_ = true;
  socket_.async_wait(boost::asio::posix::stream_descriptor::wait_write,
                     [self = shared_from_this()](const boost::system::error_code& error) {
                       self->writing_ = false;
                       if (error || !self->context_ || !self->want_write_) return;
                       redisAsyncHandleWrite(self->context_);  // may free the context
                       if (self->context_ && self->want_write_) self->wait_write();
                     });
}

}  // namespace dispatch::redis
