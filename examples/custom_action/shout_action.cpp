#include "shout_action.h"

#include <boost/asio/steady_timer.hpp>

#include <cctype>
#include <memory>
#include <string>

namespace example {

namespace {

class Shout final : public dispatch::Step {
 public:
  Shout(std::string event, const dispatch::Param& text) : event_(std::move(event)), text_(text) {}

  dispatch::StepStatus run(dispatch::StepContext& ctx) override {
    std::string text;
    if (!ctx.fill(text_, text)) return dispatch::StepStatus::failed;
    for (char& c : text) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));

    // Finish later: a timer stands for slow work (a database, an HTTP call). When it fires, the
    // Completion's continuation replies, with a fresh context for the same message; `ctx`
    // itself must not be used after run() returns.
    auto timer =
        std::make_shared<boost::asio::steady_timer>(ctx.executor(), std::chrono::milliseconds(5));
    auto completion = std::make_shared<dispatch::Completion>(ctx.defer());
    timer->async_wait([timer, completion, event = event_,
                       text = std::move(text)](const boost::system::error_code&) {
      completion->done([event, text](dispatch::StepContext& later) {
        std::string payload = "{\"text\":\"";
        dispatch::append_json_escaped(payload, text);
        payload += "\"}";
        later.reply(event, payload);
        return dispatch::StepStatus::done;
      });
    });
    return dispatch::StepStatus::pending;
  }

 private:
  std::string event_;
  const dispatch::Param& text_;
};

}  // namespace

void register_shout_action(dispatch::StepRegistry& registry) {
  dispatch::StepDefinition definition;
  definition.name = "shout";
  definition.kind = dispatch::StepKind::action;
  definition.params = {dispatch::params::event_name("event"), dispatch::params::text("text")};
  definition.factory = [](dispatch::StepBuildContext& build) -> std::unique_ptr<dispatch::Step> {
    return std::make_unique<Shout>(std::string(build.param(0)->literal_text()), *build.param(1));
  };
  registry.add(std::move(definition));
}

}  // namespace example
