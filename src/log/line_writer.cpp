#include "log/line_writer.h"

#include <fmt/format.h>

#include <cstdio>
#include <utility>

namespace dispatch::log {

LineWriter::LineWriter() : thread_([this] { run(); }) {}

LineWriter::~LineWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_one();
  thread_.join();
}

void LineWriter::write(std::string line) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= max_queued_lines) {
      queue_.pop_front();
      ++dropped_;
    }
    queue_.push_back(std::move(line));
  }
  wake_.notify_one();
}

void LineWriter::run() {
  std::deque<std::string> batch;
  for (;;) {
    uint64_t dropped = 0;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is written
      batch.swap(queue_);
      dropped = std::exchange(dropped_, 0);
    }
    if (dropped > 0) {
      std::string note = fmt::format(
          "{{\"level\":\"warn\",\"msg\":\"log lines dropped: stdout is read too slowly\","
          "\"dropped\":{}}}\n",
          dropped);
      std::fwrite(note.data(), 1, note.size(), stdout);
    }
    for (std::string& line : batch) {
      line.push_back('\n');
      std::fwrite(line.data(), 1, line.size(), stdout);
    }
    std::fflush(stdout);
    batch.clear();
  }
}

}  // namespace dispatch::log
