// GET /metrics: every loop's counters (metrics/loop_metrics.h) summed, with the engine's gauges,
// as Prometheus metric families, serialised by prometheus-cpp's TextSerializer (the text format
// 0.0.4). We use prometheus-cpp's data model and serializer, not its Registry: its counters are
// shared atomics that every loop would contend on, where ours are per loop and summed only when
// scraped. A scrape runs on the loop that received it; it reads other loops' counters with
// relaxed loads and locks only the per-loop tables' structure (events, refusal codes).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <string>
#include <vector>

namespace dispatch {

class Engine;

class EngineMetrics final : public prometheus::Collectable {
 public:
  explicit EngineMetrics(Engine& engine) : engine_(engine) {}
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  Engine& engine_;
};

// The whole exposition, as GET /metrics answers it.
std::string metrics_text(Engine& engine);

}  // namespace dispatch
