// The public extension API of Dispatch: actions and modifiers are classes registered by name.
// The built-in ones (`_notify_room`, `rate_limit`, ...) use exactly this header, so a custom
// step is a peer of the built-ins: same context, same param checks, same place in config.yaml.
// Build against an installed Dispatch with `find_package(Dispatch)` and link `Dispatch::dispatch`
// (see examples/custom_action, a separate CMake project).
//
// A step is built once per use in config (at load time and at each reload) by its factory, with
// its params already compiled as templates of the kinds it declared. Per message, run() gets a
// StepContext and returns done, failed (after ctx.fail(...)) or pending (after ctx.defer(): the
// step finishes later, from any thread, through the Completion; the connection's messages wait).
//
// Threads: ONE step instance serves every event loop at once, so run() is called concurrently
// from several threads. Keep per-message state in locals (or the Completion's captures); state
// that outlives a message (counters, caches) needs its own synchronisation or one copy per
// thread. A StepContext belongs to one run() call and one thread: never keep it.
//
// A minimal custom action (see examples/custom_action for a complete, tested one):
//
//   class Hello : public dispatch::Step {
//     dispatch::StepStatus run(dispatch::StepContext& ctx) override {
//       ctx.reply("hello", R"({"to":"world"})");
//       return dispatch::StepStatus::done;
//     }
//   };
//   registry.add({"hello", dispatch::StepKind::action, {},
//                 [](dispatch::StepBuildContext&) { return std::make_unique<Hello>(); }});
#pragma once

#include <boost/asio/any_io_executor.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "dispatch/error_code.h"
#include "dispatch/json.h"
#include "dispatch/param.h"

namespace dispatch {

enum class StepStatus { done, failed, pending };
enum class StepKind { action, modifier };

class StepContext;

// Finishes a pending step. Call exactly one of done()/fail() once, from any thread; the rest of
// the message's steps then run on the connection's own event loop. `done` may carry a
// continuation that runs first, on the loop, with a fresh context for the same message (a step
// that fetched something replies from there). Dropping a Completion without calling either
// fails the step with `internal`.
//
// A Completion may outlive everything it refers to: calling or dropping it after the connection
// closed, after the step timed out (server.step_timeout: the client was already answered with
// `internal`), or after the server stopped is safe and does nothing; the continuation is then
// destroyed without running (on the calling thread, or with the loop).
class Completion {
 public:
  struct State;
  Completion() = default;
  explicit Completion(std::shared_ptr<State> state) : state_(std::move(state)) {}
  Completion(Completion&&) noexcept = default;
  Completion& operator=(Completion&&) noexcept = default;
  ~Completion();

  using Continuation = std::function<StepStatus(StepContext&)>;
  void done(Continuation then = {});
  void fail(ErrorCode code, std::string message);

 private:
  std::shared_ptr<State> state_;
};

// What a step sees and can do while one message runs through its event's steps.
class StepContext {
 public:
  virtual ~StepContext() = default;

  // --- who and what
  virtual std::string_view user_id() const = 0;
  virtual std::string_view connection_id() const = 0;
  // The client's IP address as text ("203.0.113.5", "2001:db8::1"): the TCP peer, or behind a
  // server.trusted_proxies proxy the address it forwards; "::" when unknown (`dispatch test`).
  virtual std::string_view client_ip() const = 0;
  virtual std::string_view event_name() const = 0;
  virtual std::optional<std::string_view> target() const = 0;  // absent when the message had none
  virtual const std::vector<std::string>& token_permissions() const = 0;
  virtual bool is_member(std::string_view room) const = 0;  // the sending connection
  // The loop's clock: steady time for windows and deadlines, and wall time in whole seconds since
  // 1970 for token checks. Read these rather than the system clocks: `dispatch test` moves them.
  virtual std::chrono::steady_clock::time_point now() const = 0;
  virtual int64_t unix_seconds() const = 0;
  // The connection's event loop; valid only while the server runs (it stops with the server:
  // handlers still queued on it are then destroyed without running).
  virtual boost::asio::any_io_executor executor() const = 0;

  // Fills a param with this message's values. False: a value was missing; the step has then
  // failed with `missing_field` already and must return StepStatus::failed.
  virtual bool fill(const Param& param, std::string& out) = 0;

  // --- effects. `payload_json` must be a valid JSON document (a filled json param is; text of
  // your own: build it with append_json_escaped). Debug builds check it and fail the step with
  // `internal` when it is not.
  // To the sending connection only; carries the message's `ref` when it had an id.
  virtual void reply(std::string_view event, std::string_view payload_json) = 0;
  // To every connection of the sending user.
  virtual void send_to_origin(std::string_view event, std::string_view payload_json) = 0;
  // To a room's members, or to a user's connections when `target` is "user:<id>";
  // adds "room" (for a room) and "from".
  virtual void send_to_target(std::string_view target, std::string_view event,
                              std::string_view payload_json) = 0;
  // To every connection of a user; adds "from".
  virtual void send_to_user(std::string_view user, std::string_view event,
                            std::string_view payload_json) = 0;
  // To every connection; adds "from".
  virtual void broadcast(std::string_view event, std::string_view payload_json) = 0;
  // Joins every live connection of `user` to `room` (only the sending connection when
  // `this_connection_only`). A later step's send to the room reaches them. Connections already
  // in server.max_rooms_per_connection rooms are left out; false (the step has then failed with
  // `forbidden`) when that is the sending connection itself.
  virtual bool join(std::string_view user, std::string_view room, bool this_connection_only) = 0;
  virtual void leave(std::string_view user, std::string_view room) = 0;
  // Closes every connection of `user`, on every loop, with close code 4003 and `reason` (cut to
  // what a close frame holds); the close handshake is bounded like any server close.
  virtual void disconnect(std::string_view user, std::string_view reason) = 0;
  virtual void log_info(std::string_view text) = 0;

  // --- outcomes
  // Records the failure that will be answered to the client; returns StepStatus::failed.
  virtual StepStatus fail(ErrorCode code, std::string message) = 0;
  virtual StepStatus fail_rate_limited(int64_t retry_after_ms) = 0;
  // The step will finish later: return StepStatus::pending and call the Completion.
  virtual Completion defer() = 0;
  // For `secure`: hides payload.token from every later template and from the payload.
  virtual void hide_payload_token() = 0;
  // The raw `payload.token` string, if the payload is an object holding a string `token`.
  virtual std::optional<std::string_view> payload_token() const = 0;
};

class Step {
 public:
  virtual ~Step() = default;
  virtual StepStatus run(StepContext& ctx) = 0;
};

// What a factory gets at load time.
class StepBuildContext {
 public:
  virtual ~StepBuildContext() = default;
  virtual std::string_view event_name() const = 0;
  // The compiled param i, or nullptr when an optional param was not given. It lives as long as
  // the step built from it: keep the pointer or a reference.
  virtual const Param* param(size_t index) const = 0;
  virtual size_t param_count() const = 0;
  virtual const std::map<std::string, std::string>& options() const = 0;
  // A load-time error at this step's position in the config; the config is then refused.
  virtual void error(std::string message) = 0;
  // (Time is read when a step runs, from StepContext::now() and unix_seconds(): the loop's clock.)
};

using StepFactory = std::function<std::unique_ptr<Step>(StepBuildContext&)>;

struct StepDefinition {
  std::string name;
  StepKind kind = StepKind::action;
  std::vector<ParamSpec> params;  // built with dispatch::params::...; trailing ones may be optional
  StepFactory factory;
  std::vector<std::string> allowed_options;  // step keys besides name/params (e.g. "scope")
  bool uses_target = false;  // reads the message's target even without a {$target.id} param
};

class StepRegistry {
 public:
  // Adds a step. A name is registered once per kind: a second definition (e.g. a custom step
  // named like a built-in) throws std::invalid_argument saying so, at start-up.
  void add(StepDefinition definition);
  const StepDefinition* find(StepKind kind, std::string_view name) const;
  std::vector<std::string> names(StepKind kind) const;

 private:
  std::vector<StepDefinition> definitions_;
};

// Adds `_log`, `_join`, `_leave`, `_notify_origin`, `_reply`, `_notify_room`, `_notify_user`,
// `_broadcast`, `_disconnect`, `_webhook`, `rate_limit`, `secure`, `require_permission`, `member_of` and
// `match`.
void register_builtin_steps(StepRegistry& registry);

// The `dispatch` command line (serve, check, token, --help, --version) with these steps.
int run_command_line(int argc, char** argv, const StepRegistry& registry);

}  // namespace dispatch
