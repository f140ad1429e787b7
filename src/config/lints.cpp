#include "config/lints.h"

#include <fmt/format.h>
#include <algorithm>

#include <charconv>
#include <string>
#include <tuple>

#include "template/placeholder_syntax.h"

namespace dispatch::config {

namespace {

constexpr std::string_view kUnguardedRoomSend = "unguarded_room_send";
constexpr std::string_view kUnlimitedBroadcast = "unlimited_broadcast";
constexpr std::string_view kUnreachableRoomPolicy = "unreachable_room_policy";
constexpr std::string_view kImpossibleClaimCheck = "impossible_claim_check";

constexpr std::string_view kTargetRoom = "{$target.id}";
constexpr std::string_view kSender = "{$user.id}";

bool silenced(const std::vector<std::string>& lint_ignore, std::string_view lint) {
  return std::find(lint_ignore.begin(), lint_ignore.end(), lint) != lint_ignore.end();
}

std::string silence_in_event(std::string_view lint, const EventSpec& event) {
  return "; to silence it, add `lint_ignore: [" + std::string(lint) + "]` to the event `" +
         event.name + "`";
}

// ---- Room id patterns: a room policy glob, or a `_join` room param with its placeholders ----

// One position of a pattern: a character, any one character, or any run of characters.
struct PatternItem {
  enum class Kind { literal, any_one, any_run } kind;
  char literal = 0;
};
using Pattern = std::vector<PatternItem>;

Pattern pattern_of_glob(std::string_view glob) {
  Pattern pattern;
  for (char c : glob) {
    if (c == '*') {
      pattern.push_back({PatternItem::Kind::any_run});
    } else if (c == '?') {
      pattern.push_back({PatternItem::Kind::any_one});
    } else {
      pattern.push_back({PatternItem::Kind::literal, c});
    }
  }
  return pattern;
}

// A template's literal text as itself (`{{` and `}}` are one brace), each placeholder as any run
// of characters: every room id the template can fill in matches it.
Pattern pattern_of_template(std::string_view source) {
  Pattern pattern;
  for (size_t i = 0; i < source.size(); ++i) {
    const char c = source[i];
    if ((c == '{' || c == '}') && i + 1 < source.size() && source[i + 1] == c) {
      pattern.push_back({PatternItem::Kind::literal, c});
      ++i;
    } else if (c == '{' && tmpl::starts_placeholder(source, i)) {
      const size_t end = tmpl::find_placeholder_end(source, i);
      if (end == std::string_view::npos) break;  // a check error already
      pattern.push_back({PatternItem::Kind::any_run});
      i = end;
    } else {
      pattern.push_back({PatternItem::Kind::literal, c});
    }
  }
  return pattern;
}

bool is_catch_all(std::string_view glob) {
  return !glob.empty() && glob.find_first_not_of('*') == std::string_view::npos;
}

// True when some text matches both patterns: a search over pairs of positions (i in a, j in b),
// each step consuming one character of the common text or letting a run match nothing.
bool patterns_intersect(const Pattern& a, const Pattern& b) {
  const size_t width = b.size() + 1;
  constexpr size_t kMaxStates = size_t{1} << 22;
  if ((a.size() + 1) * width > kMaxStates) return true;  // too long to search: assume it does
  std::vector<char> seen((a.size() + 1) * width, 0);
  std::vector<std::pair<size_t, size_t>> pending{{0, 0}};
  seen[0] = 1;
  auto visit = [&](size_t i, size_t j) {
    if (!seen[i * width + j]) {
      seen[i * width + j] = 1;
      pending.emplace_back(i, j);
    }
  };
  using Kind = PatternItem::Kind;
  while (!pending.empty()) {
    const auto [i, j] = pending.back();
    pending.pop_back();
    if (i == a.size() && j == b.size()) return true;
    const bool a_run = i < a.size() && a[i].kind == Kind::any_run;
    const bool b_run = j < b.size() && b[j].kind == Kind::any_run;
    if (a_run) visit(i + 1, j);
    if (b_run) visit(i, j + 1);
    if (a_run && j < b.size() && !b_run) visit(i, j + 1);
    if (b_run && i < a.size() && !a_run) visit(i + 1, j);
    if (i < a.size() && j < b.size() && !a_run && !b_run) {
      const bool compatible =
          a[i].kind == Kind::any_one || b[j].kind == Kind::any_one || a[i].literal == b[j].literal;
      if (compatible) visit(i + 1, j + 1);
    }
  }
  return false;
}

// ---- The lints ----

// True when every room's policy has member_only_send: the policies up to and including the
// first catch-all glob (`*`) all have it. (A room falls to the first policy that matches it.)
bool every_room_is_member_only(const std::vector<RoomPolicy>& rooms) {
  for (const RoomPolicy& policy : rooms) {
    if (!policy.member_only_send) return false;
    if (is_catch_all(policy.glob)) return true;
  }
  return false;
}

bool guards_target_membership(const StepSpec& modifier) {
  return modifier.name == "member_of" &&
         (modifier.params.empty() || modifier.params.front() == kTargetRoom);
}

bool joins_sender_to_target(const StepSpec& action) {
  return action.name == "_join" && action.params.size() >= 2 && action.params[0] == kSender &&
         action.params[1] == kTargetRoom;
}

void lint_unguarded_room_send(const Config& config, const EventSpec& event,
                              std::vector<ConfigError>& warnings) {
  if (silenced(event.lint_ignore, kUnguardedRoomSend)) return;
  if (every_room_is_member_only(config.rooms)) return;
  if (std::any_of(event.modifiers.begin(), event.modifiers.end(), guards_target_membership)) {
    return;
  }
  bool sender_joined = false;
  for (const StepSpec& action : event.actions) {
    sender_joined = sender_joined || joins_sender_to_target(action);
    if (action.name != "_notify_room" || sender_joined) continue;
    warnings.push_back(
        {action.mark,
         "event `" + event.name +
             "` sends to its target room with `_notify_room`, but nothing checks that the "
             "sender is a member of that room, so any client may post to any room "
             "[unguarded_room_send]: add the modifier `member_of` (it checks the target), or make "
             "every room member-only with a room policy `\"*\": {member_only_send: true}` "
             "(after the others)" +
             silence_in_event(kUnguardedRoomSend, event)});
    return;  // once per event
  }
}

void lint_unlimited_broadcast(const EventSpec& event, std::vector<ConfigError>& warnings) {
  if (silenced(event.lint_ignore, kUnlimitedBroadcast)) return;
  const bool limited = std::any_of(event.modifiers.begin(), event.modifiers.end(),
                                   [](const StepSpec& step) { return step.name == "rate_limit"; });
  if (limited) return;
  for (const StepSpec& action : event.actions) {
    if (action.name != "_broadcast") continue;
    warnings.push_back(
        {action.mark, "event `" + event.name +
                          "` sends to every connection on every node with `_broadcast`, and "
                          "nothing limits how often a client may do that [unlimited_broadcast]: "
                          "add a `rate_limit` modifier (e.g. `{name: rate_limit, params: "
                          "[\"1/s\"]}`)" +
                          silence_in_event(kUnlimitedBroadcast, event)});
    return;
  }
}

struct JoinSite {
  std::string where;  // "event `join_room`", "`hooks.on_connect`"
  const StepSpec* step;
  Pattern room;
};

void lint_unreachable_room_policies(const Config& config, std::vector<ConfigError>& warnings) {
  std::vector<JoinSite> joins;
  for (const EventSpec& event : config.events) {
    for (const StepSpec& action : event.actions) {
      if (action.name == "_join" && action.params.size() >= 2) {
        joins.push_back(
            {"event `" + event.name + "`", &action, pattern_of_template(action.params[1])});
      }
    }
  }
  // The on_connect hook may join too (the only hook that may).
  for (const StepSpec& action : config.hooks.on_connect) {
    if (action.name == "_join" && action.params.size() >= 2) {
      joins.push_back({"`hooks.on_connect`", &action, pattern_of_template(action.params[1])});
    }
  }
  const RoomPolicy* catch_all = nullptr;
  for (const RoomPolicy& policy : config.rooms) {
    const std::string silence =
        "; to silence it, add `lint_ignore: [unreachable_room_policy]` "
        "to the room policy `" +
        policy.glob + "`";
    if (catch_all && !silenced(policy.lint_ignore, kUnreachableRoomPolicy)) {
      warnings.push_back({policy.mark, "room policy `" + policy.glob +
                                           "` never applies: the policy `" + catch_all->glob +
                                           "` (line " + std::to_string(catch_all->mark.line) +
                                           ") matches every room first, and the first match wins "
                                           "[unreachable_room_policy]: move it above `" +
                                           catch_all->glob + "`" + silence});
    } else if (!catch_all && !silenced(policy.lint_ignore, kUnreachableRoomPolicy)) {
      const Pattern glob = pattern_of_glob(policy.glob);
      const bool reached = std::any_of(joins.begin(), joins.end(), [&](const JoinSite& join) {
        return patterns_intersect(glob, join.room);
      });
      if (!reached) {
        std::string made;
        for (size_t i = 0; i < joins.size() && i < 3; ++i) {
          made += (i ? ", `" : " (the `_join`s make `") + joins[i].step->params[1] + "` in " +
                  joins[i].where;
        }
        if (joins.size() > 3) made += ", ...";
        if (!joins.empty()) made += ")";
        warnings.push_back(
            {policy.mark,
             "room policy `" + policy.glob + "` applies to no room: " +
                 (joins.empty() ? std::string("no event has a `_join`")
                                : "no event's `_join` makes a room id that matches it" + made) +
                 " [unreachable_room_policy]: fix the glob or the `_join` room param" + silence});
      }
    }
    if (!catch_all && is_catch_all(policy.glob)) catch_all = &policy;
  }
}

bool is_json_number(std::string_view text) {
  if (text.empty()) return false;
  double value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size();
}

// Why no valid event token passes `claim=value` (given the checks before it), or "".
std::string impossible_claim(const Config& config, const EventSpec& event, std::string_view claim,
                             std::string_view value) {
  // fmt rather than a chain of operator+: GCC 12 at -O3 warns (-Wrestrict) on that chain.
  const std::string check = fmt::format("`{}={}`", claim, value);
  if (claim == "evt" && value != event.name) {
    return check + " never passes: a token's `evt` must name the event it is used for (`" +
           event.name + "`) or be absent";
  }
  if (claim == "sub" && value.empty()) {
    return check + " never passes: a token's `sub` is never empty";
  }
  if ((claim == "exp" || claim == "nbf") && !is_json_number(value)) {
    return check + " never passes: `" + std::string(claim) +
           "` is a number of seconds (a token with any other value is refused)";
  }
  if (claim == "perms" && !value.starts_with('[')) {
    return check +
           " never passes: `perms` is a list, compared as its JSON text (`[\"a\",\"b\"]`); to "
           "require a permission of the session token use the modifier `require_permission`";
  }
  if (claim == "iss" && config.auth.event_jwt && !config.auth.event_jwt->issuer.empty() &&
      value != config.auth.event_jwt->issuer) {
    return check + " never passes: event tokens must have `iss` `" + config.auth.event_jwt->issuer +
           "` (auth.event_jwt.issuer)";
  }
  return "";
}

void lint_impossible_claim_checks(const Config& config, const EventSpec& event,
                                  std::vector<ConfigError>& warnings) {
  if (silenced(event.lint_ignore, kImpossibleClaimCheck)) return;
  for (const StepSpec& modifier : event.modifiers) {
    if (modifier.name != "secure") continue;
    std::vector<std::pair<std::string_view, std::string_view>> earlier;
    for (size_t i = 0; i < modifier.params.size() && i < modifier.param_marks.size(); ++i) {
      const std::string_view text = modifier.params[i];
      const size_t equals = text.find('=');
      // Templates and malformed checks are not judged here (the latter are check errors).
      if (equals == std::string_view::npos || equals == 0 || text.find('{') != text.npos) {
        continue;
      }
      const std::string_view claim = text.substr(0, equals);
      const std::string_view value = text.substr(equals + 1);
      std::string why = impossible_claim(config, event, claim, value);
      for (const auto& [other_claim, other_value] : earlier) {
        if (why.empty() && other_claim == claim && other_value != value) {
          why = fmt::format(
              "`{}` never passes: the same step also checks `{}={}`, and a claim has one value",
              text, claim, other_value);
        }
      }
      earlier.emplace_back(claim, value);
      if (why.empty()) continue;
      warnings.push_back(
          {modifier.param_marks[i], "event `" + event.name + "`: the `secure` claim check " + why +
                                        " [impossible_claim_check]: fix or remove the check" +
                                        silence_in_event(kImpossibleClaimCheck, event)});
    }
  }
}

}  // namespace

const std::vector<LintInfo>& lint_catalogue() {
  static const std::vector<LintInfo> catalogue = {
      {kUnguardedRoomSend,
       "an event sends to its target room with `_notify_room`, but neither a `member_of` "
       "modifier, nor a `_join` of the sender to the target before it, nor room policies that "
       "make every room `member_only_send` check that the sender is a member"},
      {kUnlimitedBroadcast, "an event uses `_broadcast` without a `rate_limit` modifier"},
      {kUnreachableRoomPolicy,
       "a room policy whose glob matches no room id that any event's `_join` can make (its room "
       "param with each placeholder standing for any text), or that comes after a catch-all "
       "glob such as `*`"},
      {kImpossibleClaimCheck,
       "a `secure` claim check no event token passes: `evt=` another event's name, `sub=` "
       "empty, `exp=`/`nbf=` not a number, `perms=` not a JSON list, `iss=` other than "
       "auth.event_jwt.issuer, or one claim checked for two values in one step"},
  };
  return catalogue;
}

bool is_lint_name(std::string_view name) {
  const auto& catalogue = lint_catalogue();
  return std::any_of(catalogue.begin(), catalogue.end(),
                     [&](const LintInfo& lint) { return lint.name == name; });
}

std::vector<ConfigError> lint_config(const Config& config) {
  std::vector<ConfigError> warnings;
  for (const EventSpec& event : config.events) {
    lint_unguarded_room_send(config, event, warnings);
    lint_unlimited_broadcast(event, warnings);
    lint_impossible_claim_checks(config, event, warnings);
  }
  lint_unreachable_room_policies(config, warnings);
  std::stable_sort(
      warnings.begin(), warnings.end(), [](const ConfigError& a, const ConfigError& b) {
        return std::tie(a.mark.line, a.mark.column) < std::tie(b.mark.line, b.mark.column);
      });
  return warnings;
}

}  // namespace dispatch::config
