#include "server/engine.h"

#include <openssl/rand.h>

#include <cstdio>

#include "cluster/cluster_node.h"
#include "pipeline/compiled_config.h"
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
    : node_id_(random_node_id()),
      directory_(loop_count),
      history_(loop_count),
      queued_bytes_cap_(uint64_t{1} << 30) {
  for (unsigned i = 0; i < loop_count; ++i) {
    loops_.push_back(std::make_unique<EventLoop>(*this, i, config));
  }
  const config::ClusterConfig& cluster = config->config().cluster;
  if (cluster.enabled()) {
    std::vector<cluster::NodeLoop> loops;
    for (auto& loop : loops_) loops.push_back({&loop->io(), &loop->delivery()});
    cluster_ =
        std::make_unique<cluster::ClusterNode>(cluster, node_id_, directory_, std::move(loops));
    for (unsigned i = 0; i < loop_count; ++i) {
      loops_[i]->delivery().set_broker(&cluster_->broker(i));
    }
    directory_.set_presence_listener(cluster_.get());
    cluster_->start();
  }
}

Engine::~Engine() {
  // The loops have stopped; what they still tear down must not reach the cluster any more.
  if (cluster_) {
    directory_.set_presence_listener(nullptr);
    for (auto& loop : loops_) loop->delivery().set_broker(nullptr);
    cluster_.reset();
  }
}

bool Engine::ready(std::string* why_not_ready) const {
  if (!cluster_ || cluster_->ready()) return true;
  if (why_not_ready) *why_not_ready = cluster_->not_ready_reason();
  return false;
}

}  // namespace dispatch
