// One `member_of` check, measured where it runs: the same message through the pipeline (parse,
// route, steps; no frame is sent back) for an event without modifiers and for one guarded by
// `member_of`, from a `dispatch test` session (a Session without a socket, admitted like a
// connection) that is a member of the room among 1, 10 or 100 rooms. member_of scans the
// connection's rooms, and the checked room is the last one joined (the longest scan). The
// difference between the two is the check; MemberOfLookupOnly is its room lookup alone.
#include <benchmark/benchmark.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "auth/jwt.h"
#include "config/environment.h"
#include "config/loader.h"
#include "dispatch/extension.h"
#include "pipeline/compiled_config.h"
#include "scenario/scenario_session.h"
#include "server/admission.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "transport/upgrade.h"

namespace {

constexpr const char* kSecret = "0123456789abcdef0123456789abcdef";

std::shared_ptr<const dispatch::CompiledConfig> bench_config() {
  const dispatch::config::Environment environment({{"DISPATCH_JWT_SECRET", kSecret}}, false);
  auto loaded = dispatch::config::load_config_text(R"(
events:
  join:
    actions:
      - {name: _join, params: ["{$user.id}", "{$target.id}", connection]}
  plain:
    actions: []
  guarded:
    modifiers:
      - {name: member_of}
    actions: []
)",
                                                   "bench.yaml", environment);
  if (!loaded.config) return nullptr;
  dispatch::StepRegistry registry;
  dispatch::register_builtin_steps(registry);
  std::vector<dispatch::config::ConfigError> errors;
  return dispatch::CompiledConfig::compile(std::move(*loaded.config), registry, errors);
}

// A session admitted as a connection with a token for `alice` would be.
std::unique_ptr<dispatch::scenario::ScenarioSession> connect(dispatch::EventLoop& loop) {
  const std::string token = dispatch::auth::sign_jwt_hs256(R"({"sub":"alice"})", kSecret);
  const std::string head =
      "GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
      "Authorization: Bearer " +
      token + "\r\n\r\n";
  dispatch::UpgradeDecision decision = dispatch::decide_upgrade(head, loop.config(), 0);
  auto session = std::make_unique<dispatch::scenario::ScenarioSession>(loop);
  std::optional<dispatch::AcceptedIdentity> accepted;
  if (decision.accepted) accepted = dispatch::admit_session(decision, loop, *session);
  if (!accepted) return nullptr;
  session->open(std::move(*accepted));
  session->take_texts();  // welcome
  return session;
}

// A session of a one-loop engine that has joined `rooms` rooms, room:lobby last; nullptr (and the
// benchmark skipped) when something was refused.
struct JoinedSession {
  std::unique_ptr<dispatch::Engine> engine;
  std::unique_ptr<dispatch::scenario::ScenarioSession> session;
};

JoinedSession joined_session(benchmark::State& state) {
  JoinedSession joined;
  auto config = bench_config();
  if (!config) {
    state.SkipWithError("the bench config does not compile");
    return joined;
  }
  joined.engine = std::make_unique<dispatch::Engine>(1, config);
  joined.session = connect(joined.engine->loop(0));
  if (!joined.session) {
    state.SkipWithError("the session was refused");
    return joined;
  }
  for (int64_t i = 1; i < state.range(0); ++i) {
    joined.session->receive(R"({"event":"join","target":"room:)" + std::to_string(i) + R"("})");
  }
  joined.session->receive(R"({"event":"join","target":"room:lobby"})");
  if (!joined.session->take_texts().empty() || !joined.session->is_member("room:lobby")) {
    state.SkipWithError("a join was refused");
    joined.session.reset();
  }
  return joined;
}

void run_event(benchmark::State& state, const std::string& event) {
  JoinedSession joined = joined_session(state);
  if (!joined.session) return;
  const std::string message = R"({"event":")" + event + R"(","target":"room:lobby"})";
  for (auto _ : state) joined.session->receive(message);
  if (!joined.session->take_texts().empty()) state.SkipWithError("the message was answered");
}

void MemberOfBaselineNoModifier(benchmark::State& state) {
  run_event(state, "plain");
}
void MemberOfCheckPasses(benchmark::State& state) {
  run_event(state, "guarded");
}

// The lookup member_of makes (Session::is_member: a scan of the connection's rooms by name), alone.
void MemberOfLookupOnly(benchmark::State& state) {
  JoinedSession joined = joined_session(state);
  if (!joined.session) return;
  const std::string room = "room:lobby";
  for (auto _ : state) benchmark::DoNotOptimize(joined.session->is_member(room));
}

}  // namespace

BENCHMARK(MemberOfBaselineNoModifier)->Arg(1)->Arg(10)->Arg(100);
BENCHMARK(MemberOfCheckPasses)->Arg(1)->Arg(10)->Arg(100);
BENCHMARK(MemberOfLookupOnly)->Arg(1)->Arg(10)->Arg(100);
