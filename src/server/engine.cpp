#include "server/engine.h"

#include <openssl/rand.h>

#include <cstdio>

#include "server/event_loop.h"

namespace dispatch {

namespace {

// A short random id, so connection ids stay unique when several nodes form a cluster.
std::string random_node_id() {
  unsigned char bytes[4];
  if (RAND_bytes(bytes, sizeof bytes) != 1) bytes[0] = bytes[1] = bytes[2] = bytes[3] = 0;
  char text[9];
  std::snprintf(text, sizeof text, "%02x%02x%02x%02x", bytes[0], bytes[1], bytes[2], bytes[3]);
  return text;
}

}  // namespace

Engine::Engine(unsigned loop_count, std::shared_ptr<const CompiledConfig> config)
    : node_id_(random_node_id()), directory_(loop_count), queued_bytes_cap_(uint64_t{1} << 30) {
  for (unsigned i = 0; i < loop_count; ++i) {
    loops_.push_back(std::make_unique<EventLoop>(*this, i, config));
  }
}

Engine::~Engine() = default;

}  // namespace dispatch
