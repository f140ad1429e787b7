#include "scenario/runner.h"

#include <fmt/format.h>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>

#include "auth/jwt.h"
#include "pipeline/compiled_config.h"
#include "scenario/scenario_file.h"
#include "scenario/scenario_session.h"
#include "scenario/subset_match.h"
#include "server/admission.h"
#include "server/engine.h"
#include "server/event_loop.h"
#include "server/server.h"
#include "transport/timer_wheel.h"
#include "transport/upgrade.h"

namespace dispatch::scenario {

namespace {

namespace json = boost::json;

// Handlers run by hand after a step before the runner gives up: a step whose effects keep
// posting more work forever is a bug the scenario reports instead of hanging on.
constexpr int max_settle_rounds = 10'000;
// The longest a step waits, in real time, for a step that finishes later (see settle()).
constexpr auto max_step_wait = std::chrono::seconds(5);

std::string format_mark(const SourceMark& mark) {
  if (mark.line <= 0) return mark.file;
  return fmt::format("{}:{}:{}", mark.file, mark.line, mark.column);
}

struct ReceivedFrame {
  enum class Status { unread, welcome, matched, ignored };
  std::string text;
  json::value parsed;  // null when the text is not JSON (never from this engine)
  std::string event;
  Status status = Status::unread;
  int step_line = 0;  // matched: the expect step's line
};

struct Client {
  std::string name;
  std::unique_ptr<ScenarioSession> session;
  std::vector<ReceivedFrame> received;
  size_t next_unread = 0;
  bool close_expected = false;  // an expect_close step saw its close
};

// A step (or the end of the scenario) did not hold.
struct Failure {
  SourceMark mark;
  std::string message;
  std::string details;
};

class ScenarioRun {
 public:
  ScenarioRun(const Scenario& scenario, std::shared_ptr<const CompiledConfig> compiled)
      : scenario_(scenario), engine_(1, std::move(compiled)) {
    const auto wall = std::chrono::duration_cast<std::chrono::seconds>(
        std::chrono::system_clock::now().time_since_epoch());
    // Every scenario starts at the same steady time, a whole number of days, so rate-limit
    // windows (which are aligned to the steady clock) begin with the scenario and a run gives
    // the same result every time. The loop's timer wheel starts there too.
    const SteadyTime start{std::chrono::hours(24 * 1000)};
    loop().sessions().clock() = Clock::manual(start, wall.count());
    loop().wheel() = TimerWheel(start);
  }

  std::optional<Failure> run() {
    for (const ClientSpec& spec : scenario_.clients) {
      if (auto failure = connect(spec, std::nullopt, spec.mark)) return failure;
    }
    for (const Step& step : scenario_.steps) {
      if (auto failure = run_step(step)) return failure;
    }
    return check_nothing_left();
  }

 private:
  EventLoop& loop() { return engine_.loop(0); }
  Clock& clock() { return loop().sessions().clock(); }

  // Runs every ready handler (cross-loop tasks, turn ends, completions) until none is left.
  // A step that finishes later (a custom action's Completion, fired by a timer or another
  // thread) is the one thing that can come from outside: while one is in flight the loop also
  // waits for it, in real time, up to min(server.step_timeout, max_step_wait) in all; one still
  // pending after that stays pending (`advance` past step_timeout answers it `internal`).
  std::optional<Failure> settle(const SourceMark& mark) {
    const auto wait_limit = std::min<std::chrono::steady_clock::duration>(
        loop().config().config().server.step_timeout, max_step_wait);
    const auto wait_until = std::chrono::steady_clock::now() + wait_limit;
    int rounds = 0;
    while (true) {
      loop().io().restart();
      if (loop().io().poll() > 0) {
        if (++rounds >= max_settle_rounds) {
          return Failure{mark, "the engine kept posting work after this step without settling", ""};
        }
        continue;
      }
      if (!step_in_flight() || std::chrono::steady_clock::now() >= wait_until) {
        collect();
        return std::nullopt;
      }
      // Wait for a timer of the step, or (no work in the io_context: the completion comes from
      // another thread) a moment.
      loop().io().restart();
      if (loop().io().run_one_until(wait_until) == 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    }
  }

  bool step_in_flight() const {
    for (const auto& [name, client] : clients_) {
      if (client.session && client.session->pending() && client.session->pending()->in_flight) {
        return true;
      }
    }
    return false;
  }

  void collect() {
    for (auto& [name, client] : clients_) {
      if (!client.session) continue;
      for (std::string& text : client.session->take_texts()) {
        ReceivedFrame frame;
        frame.text = std::move(text);
        boost::system::error_code ec;
        frame.parsed = json::parse(frame.text, ec);
        if (!ec && frame.parsed.is_object()) {
          if (const auto* event = frame.parsed.get_object().if_contains("event")) {
            if (event->is_string()) frame.event = std::string(event->get_string());
          }
        }
        client.received.push_back(std::move(frame));
      }
    }
  }

  // A session token (the config's auth.jwt), or an event token (auth.event_jwt, which defaults to
  // the session settings) with `defaults` for the claims the spec leaves out.
  std::string mint_token(const ClientSpec& spec, bool event_token = false,
                         const json::object& defaults = {}) {
    const auto& auth = loop().config().config().auth;
    const auto& jwt = event_token && auth.event_jwt ? *auth.event_jwt : auth.jwt;
    json::object claims = defaults;
    for (const auto& [name, value] : spec.claims) claims[name] = value;
    const int64_t now = clock().unix_seconds();
    for (const auto& [name, offset] : spec.relative_times) {
      claims[name] = now + std::chrono::duration_cast<std::chrono::seconds>(offset).count();
    }
    if (!claims.contains("iat")) claims["iat"] = now;
    if (!jwt.issuer.empty() && !claims.contains("iss")) claims["iss"] = jwt.issuer;
    if (!jwt.audience.empty() && !claims.contains("aud")) claims["aud"] = jwt.audience;
    return auth::sign_jwt_hs256(json::serialize(claims), jwt.secret);
  }

  // The request head a WebSocket client sends, with the token in the Authorization header.
  std::string request_head(const std::string& token) {
    return "GET " + loop().config().config().server.path +
           " HTTP/1.1\r\nHost: dispatch.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Authorization: Bearer " +
           token + "\r\n\r\n";
  }

  std::optional<Failure> connect(const ClientSpec& spec,
                                 const std::optional<std::string>& expect_refusal,
                                 const SourceMark& mark) {
    Client& client = clients_[spec.name];
    client.name = spec.name;
    if (client.session && client.session->is_open()) {
      return Failure{mark,
                     fmt::format("`{}` is still connected: connect another name, or expect its "
                                 "close first",
                                 spec.name),
                     ""};
    }
    if (client.session) {  // a closed earlier connection under this name: its frames are read
      if (auto failure = unread_frames(client, mark, "before it connects again")) return failure;
      client.session.reset();
      client.received.clear();
      client.next_unread = 0;
      client.close_expected = false;
    }
    const std::string token = mint_token(spec);
    UpgradeDecision decision =
        decide_upgrade(request_head(token), loop().config(), clock().unix_seconds());
    auto session = std::make_unique<ScenarioSession>(loop());
    std::optional<AcceptedIdentity> accepted;
    if (decision.accepted) accepted = admit_session(decision, loop(), *session);
    if (!accepted) {
      const std::string code = decision.refusal.code;
      if (expect_refusal && *expect_refusal == code) return settle(mark);
      if (expect_refusal) {
        return Failure{mark,
                       fmt::format("{}: expected refusal `{}`, refused with `{}` ({})", spec.name,
                                   *expect_refusal, code, decision.refusal.message),
                       ""};
      }
      return Failure{
          mark, fmt::format("{}: refused with `{}`: {}", spec.name, code, decision.refusal.message),
          ""};
    }
    session->open(std::move(*accepted));
    client.session = std::move(session);
    if (auto failure = settle(mark)) return failure;
    if (expect_refusal) {
      return Failure{mark,
                     fmt::format("{}: expected refusal `{}`, but the connection was accepted",
                                 spec.name, *expect_refusal),
                     frames_of(client, nullptr, nullptr)};
    }
    // The first frame is `welcome` with the user's id.
    if (client.received.empty() || client.received.front().event != "welcome") {
      return Failure{mark, fmt::format("{}: the first frame is not `welcome`", spec.name),
                     frames_of(client, nullptr, nullptr)};
    }
    ReceivedFrame& welcome = client.received.front();
    json::value expected = {{"event", "welcome"},
                            {"payload", {{"user_id", client.session->user_id()}}}};
    if (auto mismatch = find_mismatch(expected, welcome.parsed)) {
      return Failure{mark, fmt::format("{}: `welcome` is wrong at {}", spec.name, mismatch->path),
                     frames_of(client, &expected, &welcome)};
    }
    welcome.status = ReceivedFrame::Status::welcome;
    client.next_unread = 1;
    return std::nullopt;
  }

  bool ignored(const ReceivedFrame& frame) const {
    return !frame.event.empty() && scenario_.ignore.contains(frame.event);
  }

  // The first unread frame no `ignore` passes over (those are marked ignored), or null.
  ReceivedFrame* first_unread(Client& client) {
    for (; client.next_unread < client.received.size(); ++client.next_unread) {
      ReceivedFrame& frame = client.received[client.next_unread];
      if (!ignored(frame)) return &frame;
      frame.status = ReceivedFrame::Status::ignored;
    }
    return nullptr;
  }

  // Fails when the client has a frame no step expected (ignored ones are passed over) or was
  // closed without a step expecting it.
  std::optional<Failure> unread_frames(Client& client, const SourceMark& mark,
                                       std::string_view when) {
    if (ReceivedFrame* frame = first_unread(client)) {
      return Failure{mark,
                     fmt::format("{}: a frame no step expected is unread {}", client.name, when),
                     frames_of(client, nullptr, frame)};
    }
    if (client.session && client.session->close_code() && !client.close_expected) {
      return Failure{
          mark,
          fmt::format("{}: its connection was closed ({} \"{}\") and no step expected "
                      "it (`expect_close: {}`) {}",
                      client.name, *client.session->close_code(), client.session->close_reason(),
                      *client.session->close_code(), when),
          frames_of(client, nullptr, nullptr)};
    }
    return std::nullopt;
  }

  std::optional<Failure> run_step(const Step& step) {
    switch (step.kind) {
      case Step::Kind::advance: {
        clock().advance(step.by);
        loop().wheel().advance(clock().now());
        return settle(step.mark);
      }
      case Step::Kind::connect:
        return connect(step.connecting, step.expect_refusal, step.mark);
      default:
        break;
    }
    auto found = clients_.find(step.client);
    if (found == clients_.end() || !found->second.session) {
      return Failure{step.mark,
                     fmt::format("{}: not connected (its connection was refused)", step.client),
                     ""};
    }
    Client& client = found->second;
    ScenarioSession& session = *client.session;
    switch (step.kind) {
      case Step::Kind::send: {
        if (!session.is_open()) {
          return Failure{
              step.mark,
              fmt::format("{}: cannot send, its connection was closed ({} \"{}\")", client.name,
                          session.close_code().value_or(0), session.close_reason()),
              frames_of(client, nullptr, nullptr)};
        }
        std::string text = step.text;
        if (step.event_token) {
          // Defaults: the sending user and the message's event, as `secure` checks them.
          json::object defaults;
          defaults["sub"] = session.user_id();
          if (const json::value* event = step.message.if_contains("event")) {
            defaults["evt"] = *event;
          }
          json::object message = step.message;
          json::value& payload = message["payload"];
          if (!payload.is_object()) payload = json::object();
          payload.get_object()["token"] = mint_token(*step.event_token, true, defaults);
          text = json::serialize(message);
        }
        if (!session.receive(text)) {
          return Failure{
              step.mark,
              fmt::format("{}: 64 messages already wait behind a pending step", client.name), ""};
        }
        return settle(step.mark);
      }
      case Step::Kind::expect:
        return expect(client, step);
      case Step::Kind::expect_nothing:
        return unread_frames(client, step.mark, "(expect_nothing)");
      case Step::Kind::expect_close: {
        // Frames queued before the close reach the client before it: each must be expected.
        if (ReceivedFrame* frame = first_unread(client)) {
          return Failure{step.mark,
                         fmt::format("{}: a frame no step expected is unread before the "
                                     "expected close",
                                     client.name),
                         frames_of(client, nullptr, frame)};
        }
        const std::optional<uint16_t> code = session.close_code();
        if (!code) {
          return Failure{step.mark,
                         fmt::format("{}: expected close {}, but the connection is open",
                                     client.name, step.close_code),
                         frames_of(client, nullptr, nullptr)};
        }
        if (*code != step.close_code ||
            (step.close_reason && *step.close_reason != session.close_reason())) {
          const std::string expected =
              step.close_reason ? fmt::format("{} \"{}\"", step.close_code, *step.close_reason)
                                : std::to_string(step.close_code);
          return Failure{step.mark,
                         fmt::format("{}: expected close {}, closed with {} \"{}\"", client.name,
                                     expected, *code, session.close_reason()),
                         frames_of(client, nullptr, nullptr)};
        }
        client.close_expected = true;
        return std::nullopt;
      }
      default:
        return std::nullopt;
    }
  }

  std::optional<Failure> expect(Client& client, const Step& step) {
    for (size_t i = client.next_unread; i < client.received.size(); ++i) {
      ReceivedFrame& frame = client.received[i];
      auto mismatch = find_mismatch(step.expected, frame.parsed);
      if (!mismatch) {
        for (size_t skipped = client.next_unread; skipped < i; ++skipped) {
          client.received[skipped].status = ReceivedFrame::Status::ignored;
        }
        frame.status = ReceivedFrame::Status::matched;
        frame.step_line = step.mark.line;
        client.next_unread = i + 1;
        return std::nullopt;
      }
      if (ignored(frame)) continue;
      return Failure{
          step.mark,
          fmt::format("{}: expect: the next frame differs at {}: expected {}, "
                      "received {}",
                      client.name, mismatch->path, mismatch->expected, mismatch->received),
          frames_of(client, &step.expected, &frame)};
    }
    // Only ignored frames (if any) came: they are passed over.
    size_t passed_over = 0;
    for (size_t i = client.next_unread; i < client.received.size(); ++i) {
      client.received[i].status = ReceivedFrame::Status::ignored;
      ++passed_over;
    }
    std::string why = passed_over == 0 ? "no frame came"
                                       : fmt::format("no frame came but {} ignored one{}",
                                                     passed_over, passed_over == 1 ? "" : "s");
    if (client.session->close_code()) {
      why += fmt::format("; the connection was closed ({} \"{}\")", *client.session->close_code(),
                         client.session->close_reason());
    }
    return Failure{step.mark, fmt::format("{}: expect: {}", client.name, why),
                   frames_of(client, &step.expected, nullptr)};
  }

  std::optional<Failure> check_nothing_left() {
    const SourceMark end = scenario_.steps.empty() ? scenario_.mark : scenario_.steps.back().mark;
    for (auto& [name, client] : clients_) {
      if (!client.session) continue;
      if (auto failure = unread_frames(client, end, "when the scenario ends")) return failure;
    }
    return std::nullopt;
  }

  // The diff a failure shows: the expected frame, then every frame the client received, each
  // marked with what became of it.
  std::string frames_of(const Client& client, const json::value* expected,
                        const ReceivedFrame* compared) const {
    std::string out;
    if (expected) out += "  - expected " + json::serialize(*expected) + "\n";
    if (compared) out += "  + received " + compared->text + "\n";
    out += fmt::format("  every frame {} received, in order:\n", client.name);
    if (client.received.empty()) out += "      (none)\n";
    for (const ReceivedFrame& frame : client.received) {
      std::string status;
      switch (frame.status) {
        case ReceivedFrame::Status::welcome:
          status = "welcome";
          break;
        case ReceivedFrame::Status::matched:
          status = fmt::format("line {}", frame.step_line);
          break;
        case ReceivedFrame::Status::ignored:
          status = "ignored";
          break;
        case ReceivedFrame::Status::unread:
          status = "unread";
          break;
      }
      out += fmt::format("    {} {:<8} {}\n", &frame == compared ? '>' : ' ', status, frame.text);
    }
    if (client.session && client.session->close_code()) {
      out += fmt::format("      closed   {} \"{}\"\n", *client.session->close_code(),
                         client.session->close_reason());
    }
    return out;
  }

  const Scenario& scenario_;
  Engine engine_;
  std::map<std::string, Client> clients_;
};

}  // namespace

FileResult run_scenario_file(const std::string& path, const RunOptions& options,
                             const StepRegistry& registry) {
  FileResult result;
  result.path = path;
  ScenarioReadResult read = read_scenario_file(path);
  if (!read.file) {
    result.errors = std::move(read.errors);
    return result;
  }
  const ScenarioFile& file = *read.file;

  ServeOptions serve_options;
  serve_options.env_file = options.env_file;
  serve_options.env_file_required = options.env_file_required;
  if (file.config == embedded_config_name) {
    serve_options.config_text = options.embedded_config_text;
  } else {
    std::filesystem::path config_path(file.config);
    if (config_path.is_relative()) {
      config_path = std::filesystem::path(path).parent_path() / config_path;
    }
    serve_options.config_path = config_path.lexically_normal().string();
  }

  for (const Scenario& scenario : file.scenarios) {
    // Compiled afresh for each scenario: rate-limit counters live in the compiled steps, and
    // one scenario's traffic must not count in the next.
    CheckedConfig checked = check_config(serve_options, registry);
    if (!checked.compiled) {
      result.errors = std::move(checked.errors);
      if (result.errors.empty())
        result.errors.push_back({file.config_mark, "the config cannot run"});
      result.scenarios.clear();
      return result;
    }
    ScenarioResult outcome;
    outcome.name = scenario.name;
    outcome.mark = scenario.mark;
    std::optional<Failure> failure;
    {
      ScenarioRun run(scenario, checked.compiled);
      failure = run.run();
    }
    outcome.passed = !failure;
    if (failure) {
      outcome.failure = format_mark(failure->mark) + ": " + failure->message;
      outcome.details = std::move(failure->details);
    }
    result.scenarios.push_back(std::move(outcome));
  }
  return result;
}

}  // namespace dispatch::scenario
