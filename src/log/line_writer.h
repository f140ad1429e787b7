// Writes log lines to stdout from a thread of its own, so that no caller — above all no event
// loop — ever waits on stdout, however slowly whoever reads it reads. Callers hand over whole
// lines through a bounded queue (a mutex held for a push); when the queue is full the oldest
// waiting line is dropped, never the caller blocked, and the writer says how many it dropped.
// The writer writes what is queued in one go and flushes. Destroying it (at exit) writes what is
// still queued, then joins the thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

namespace dispatch::log {

class LineWriter {
 public:
  static constexpr size_t max_queued_lines = 8192;

  LineWriter();
  ~LineWriter();
  LineWriter(const LineWriter&) = delete;
  LineWriter& operator=(const LineWriter&) = delete;

  void write(std::string line);  // without the newline

 private:
  void run();

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> queue_;
  uint64_t dropped_ = 0;
  bool stopping_ = false;
  std::thread thread_;  // last: starts once the rest exists
};

}  // namespace dispatch::log
