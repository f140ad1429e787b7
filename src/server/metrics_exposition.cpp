#include "server/metrics_exposition.h"

#include <prometheus/text_serializer.h>

#include <array>
#include <limits>
#include <map>
#include <sstream>

#include "cluster/cluster_node.h"
#include "metrics/loop_metrics.h"
#include "pipeline/hook.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "webhook/webhook_stats.h"

namespace dispatch {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

MetricFamily family(std::string name, std::string help, MetricType type) {
  MetricFamily result;
  result.name = std::move(name);
  result.help = std::move(help);
  result.type = type;
  return result;
}

void add_value(MetricFamily& into, double value, Labels labels = {}) {
  ClientMetric metric;
  metric.label = std::move(labels);
  if (into.type == MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  into.metric.push_back(std::move(metric));
}

MetricFamily single(std::string name, std::string help, MetricType type, double value) {
  MetricFamily result = family(std::move(name), std::move(help), type);
  add_value(result, value);
  return result;
}

// Sums one counter of every loop.
template <typename Read>
double sum(Engine& engine, Read read) {
  uint64_t total = 0;
  for (unsigned i = 0; i < engine.loop_count(); ++i) {
    total += read(engine.loop(i).sessions().metrics());
  }
  return static_cast<double>(total);
}

}  // namespace

namespace {

// Only in cluster mode: a single node has none of these series.
void add_cluster_families(cluster::ClusterNode& node, std::vector<MetricFamily>& families) {
  MetricFamily up =
      family("dispatch_cluster_redis_up",
             "1 while both of the node's connections to the Redis shard are up", MetricType::Gauge);
  for (size_t shard = 0; shard < node.shard_count(); ++shard) {
    add_value(up, node.shard_up(shard) ? 1 : 0, {{"shard", std::to_string(shard)}});
  }
  families.push_back(std::move(up));
  cluster::ClusterCounters& counters = node.counters();
  MetricFamily messages = family(
      "dispatch_cluster_messages_total",
      "Messages between nodes: published (handed to Redis), lost (not published: the shard was "
      "unreachable), received (from other nodes), refused (unreadable)",
      MetricType::Counter);
  add_value(messages, static_cast<double>(counters.published.load()), {{"direction", "published"}});
  add_value(messages, static_cast<double>(counters.lost.load()), {{"direction", "lost"}});
  add_value(messages, static_cast<double>(counters.received.load()), {{"direction", "received"}});
  add_value(messages, static_cast<double>(counters.refused.load()), {{"direction", "refused"}});
  families.push_back(std::move(messages));
}

}  // namespace

std::vector<MetricFamily> EngineMetrics::Collect() const {
  Engine& engine = engine_;
  using M = metrics::LoopMetrics;
  std::vector<MetricFamily> families;

  families.push_back(single("dispatch_build_info", "Dispatch's version (the value is always 1)",
                            MetricType::Gauge, 1));
  families.back().metric.back().label = {{"version", DISPATCH_VERSION}};
  families.push_back(single(
      "dispatch_config_version", "The config in force: 1 at start, +1 for each reload applied",
      MetricType::Gauge, static_cast<double>(engine.config_version().load())));
  MetricFamily reloads = family("dispatch_config_reloads_total",
                                "Config reloads (SIGHUP) by result", MetricType::Counter);
  add_value(reloads, static_cast<double>(engine.reloads_applied().load()), {{"result", "applied"}});
  add_value(reloads, static_cast<double>(engine.reloads_refused().load()), {{"result", "refused"}});
  families.push_back(std::move(reloads));

  families.push_back(single("dispatch_connections", "Open WebSocket connections", MetricType::Gauge,
                            static_cast<double>(engine.open_connections().load())));
  families.push_back(single("dispatch_handshakes_in_progress",
                            "Sockets whose upgrade request has not arrived yet", MetricType::Gauge,
                            static_cast<double>(engine.handshaking().load())));
  families.push_back(single("dispatch_connections_opened_total", "WebSocket connections opened",
                            MetricType::Counter,
                            sum(engine, [](const M& m) { return m.connections_opened.read(); })));

  MetricFamily closed = family("dispatch_connections_closed_total",
                               "WebSocket connections closed, by who closed them (server, client, "
                               "network) and close code (a client's unknown code: other)",
                               MetricType::Counter);
  for (size_t by = 0; by < metrics::kClosedByCount; ++by) {
    for (size_t slot = 0; slot < metrics::kCloseCodeSlots; ++slot) {
      const double count =
          sum(engine, [&](const M& m) { return m.connections_closed[by][slot].read(); });
      if (count == 0) continue;
      add_value(closed, count,
                {{"by", std::string(metrics::closed_by_name(static_cast<metrics::ClosedBy>(by)))},
                 {"code", metrics::close_code_label(slot)}});
    }
  }
  families.push_back(std::move(closed));

  std::map<std::string, uint64_t> refusals;
  for (unsigned i = 0; i < engine.loop_count(); ++i) {
    engine.loop(i).sessions().metrics().for_each_refusal(
        [&](const std::string& code, uint64_t count) { refusals[code] += count; });
  }
  MetricFamily refused =
      family("dispatch_connections_refused_total", "WebSocket handshakes refused, by refusal code",
             MetricType::Counter);
  for (const auto& [code, count] : refusals) {
    add_value(refused, static_cast<double>(count), {{"code", code}});
  }
  families.push_back(std::move(refused));

  std::map<std::pair<std::string, int>, uint64_t> api_requests;
  for (unsigned i = 0; i < engine.loop_count(); ++i) {
    engine.loop(i).sessions().metrics().for_each_api_request(
        [&](const std::string& route, int status, uint64_t count) {
          api_requests[{route, status}] += count;
        });
  }
  MetricFamily api =
      family("dispatch_api_requests_total",
             "Server API requests answered, by route and HTTP status", MetricType::Counter);
  for (const auto& [key, count] : api_requests) {
    add_value(api, static_cast<double>(count),
              {{"route", key.first}, {"status", std::to_string(key.second)}});
  }
  families.push_back(std::move(api));

  families.push_back(single("dispatch_messages_in_total", "Messages received from clients",
                            MetricType::Counter,
                            sum(engine, [](const M& m) { return m.messages_in.read(); })));
  families.push_back(single("dispatch_bytes_in_total", "Bytes of messages received",
                            MetricType::Counter,
                            sum(engine, [](const M& m) { return m.bytes_in.read(); })));
  families.push_back(
      single("dispatch_messages_out_total",
             "Frames queued for clients: replies, acks, errors and deliveries (one per recipient)",
             MetricType::Counter, sum(engine, [](const M& m) { return m.messages_out.read(); })));
  families.push_back(single("dispatch_bytes_out_total", "Bytes of frames queued for clients",
                            MetricType::Counter,
                            sum(engine, [](const M& m) { return m.bytes_out.read(); })));

  MetricFamily early = family("dispatch_messages_refused_total",
                              "Messages answered with an error before reaching an event, by "
                              "error code",
                              MetricType::Counter);
  for (ErrorCode code : {ErrorCode::bad_json, ErrorCode::bad_message, ErrorCode::unknown_event}) {
    const auto index = static_cast<size_t>(code);
    add_value(early, sum(engine, [&](const M& m) { return m.messages_refused[index].read(); }),
              {{"code", std::string(wire_name(code))}});
  }
  families.push_back(std::move(early));

  // Per event and outcome: every declared event's ok series, and each error seen.
  std::map<std::string, std::array<uint64_t, 1 + metrics::kErrorCodeCount>> per_event;
  for (unsigned i = 0; i < engine.loop_count(); ++i) {
    engine.loop(i).sessions().metrics().events.for_each(
        [&](const std::string& name, const metrics::EventOutcomes::Row& row) {
          auto& totals = per_event[name];
          for (size_t k = 0; k < row.size(); ++k) totals[k] += row[k].read();
        });
  }
  MetricFamily events = family("dispatch_event_messages_total",
                               "Messages of each declared event by outcome: ok, or the error code "
                               "they were answered with",
                               MetricType::Counter);
  for (const auto& [name, totals] : per_event) {
    add_value(events, static_cast<double>(totals[0]), {{"event", name}, {"outcome", "ok"}});
    for (size_t k = 1; k < totals.size(); ++k) {
      if (totals[k] == 0) continue;
      add_value(
          events, static_cast<double>(totals[k]),
          {{"event", name}, {"outcome", std::string(wire_name(static_cast<ErrorCode>(k - 1)))}});
    }
  }
  families.push_back(std::move(events));

  MetricFamily durations = family(
      "dispatch_message_duration_seconds",
      "Time an event loop spends on a message, parse to last step (a pending step's wait not "
      "included); one message in 64 is timed",
      MetricType::Histogram);
  ClientMetric histogram;
  uint64_t cumulative = 0;
  const auto& bounds = metrics::DurationHistogram::kBoundsNs;
  for (size_t bucket = 0; bucket <= bounds.size(); ++bucket) {
    cumulative += static_cast<uint64_t>(
        sum(engine, [&](const M& m) { return m.message_duration.bucket_count(bucket); }));
    histogram.histogram.bucket.push_back(
        {cumulative, bucket < bounds.size() ? static_cast<double>(bounds[bucket]) / 1e9
                                            : std::numeric_limits<double>::infinity()});
  }
  histogram.histogram.sample_count = cumulative;
  histogram.histogram.sample_sum =
      sum(engine, [](const M& m) { return m.message_duration.sum_ns(); }) / 1e9;
  durations.metric.push_back(std::move(histogram));
  families.push_back(std::move(durations));

  // Lifecycle hooks: every hook by outcome (fixed names, whether the config declares it or not).
  MetricFamily hook_runs = family("dispatch_hook_runs_total",
                                  "Lifecycle hook runs (`hooks:`) by hook and outcome: ok, or "
                                  "failed (a step failed; logged, never sent to a client)",
                                  MetricType::Counter);
  for (size_t hook = 0; hook < kHookCount; ++hook) {
    for (size_t outcome = 0; outcome < 2; ++outcome) {
      add_value(hook_runs,
                sum(engine, [&](const M& m) { return m.hook_runs[hook][outcome].read(); }),
                {{"hook", std::string(kHookNames[hook])}, {"outcome", outcome ? "failed" : "ok"}});
    }
  }
  families.push_back(std::move(hook_runs));

  // Webhook targets (process-wide counters, kept by target name across reloads).
  MetricFamily deliveries = family("dispatch_webhook_deliveries_total",
                                   "Webhook deliveries by target and outcome: delivered (2xx), "
                                   "failed (4xx, or out of retries), dropped (the queue was full)",
                                   MetricType::Counter);
  MetricFamily retries = family("dispatch_webhook_retries_total",
                                "Webhook attempts after the first (5xx, timeout, refused or lost "
                                "connection), by target",
                                MetricType::Counter);
  for (const auto& [target, stats] : webhook::read_webhook_stats()) {
    add_value(deliveries, static_cast<double>(stats.delivered),
              {{"target", target}, {"outcome", "delivered"}});
    add_value(deliveries, static_cast<double>(stats.failed),
              {{"target", target}, {"outcome", "failed"}});
    add_value(deliveries, static_cast<double>(stats.dropped),
              {{"target", target}, {"outcome", "dropped"}});
    add_value(retries, static_cast<double>(stats.retried), {{"target", target}});
  }
  families.push_back(std::move(deliveries));
  families.push_back(std::move(retries));

  families.push_back(single("dispatch_send_queue_bytes",
                            "Bytes queued for clients and not yet written, in the process",
                            MetricType::Gauge, static_cast<double>(engine.queued_bytes().load())));
  families.push_back(single("dispatch_send_queue_dropped_frames_total",
                            "Frames dropped by server.slow_consumer drop_newest or drop_oldest",
                            MetricType::Counter,
                            sum(engine, [](const M& m) { return m.queue_drops.read(); })));
  families.push_back(single(
      "dispatch_slow_consumer_closes_total",
      "Connections closed because they did not read (server.slow_consumer: disconnect)",
      MetricType::Counter, sum(engine, [](const M& m) { return m.slow_consumer_closes.read(); })));
  if (cluster::ClusterNode* node = engine.cluster()) add_cluster_families(*node, families);
  return families;
}

std::string metrics_text(Engine& engine) {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, EngineMetrics(engine).Collect());
  return out.str();
}

}  // namespace dispatch
