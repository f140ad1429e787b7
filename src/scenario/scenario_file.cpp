#include "scenario/scenario_file.h"

#include <yaml-cpp/yaml.h>
#include <algorithm>
#include <boost/json/serialize.hpp>

#include <cerrno>
#include <cstdlib>
#include <regex>

#include "config/file_reading.h"
#include "config/units.h"

namespace dispatch::scenario {

namespace {

namespace json = boost::json;

class Reader {
 public:
  Reader(std::string file, std::vector<ConfigError>& errors)
      : file_(std::move(file)), errors_(errors) {}

  SourceMark mark(const YAML::Node& node) const {
    const YAML::Mark& m = node.Mark();
    if (m.is_null() || m.line < 0 || m.column < 0) return {file_, 0, 0};
    return {file_, m.line + 1, m.column + 1};
  }
  void error(const YAML::Node& node, std::string message) {
    errors_.push_back({mark(node), std::move(message)});
  }
  void error(SourceMark at, std::string message) {
    errors_.push_back({std::move(at), std::move(message)});
  }

  // A mapping's entries in order; duplicate keys and non-string keys are errors.
  std::vector<std::pair<std::string, YAML::Node>> entries(const YAML::Node& map,
                                                          std::string_view what) {
    std::vector<std::pair<std::string, YAML::Node>> result;
    if (!map.IsMap()) {
      error(map, std::string(what) + " must be a mapping");
      return result;
    }
    std::set<std::string> seen;
    for (const auto& entry : map) {
      if (!entry.first.IsScalar()) {
        error(entry.first, std::string(what) + ": keys must be plain names");
        continue;
      }
      std::string key = entry.first.Scalar();
      if (!seen.insert(key).second) {
        error(entry.first, "`" + key + "` is written twice in " + std::string(what) + "; keep one");
        continue;
      }
      result.emplace_back(std::move(key), entry.second);
    }
    return result;
  }

  std::optional<std::string> string_of(const YAML::Node& node, std::string_view what) {
    if (!node.IsScalar()) {
      error(node, std::string(what) + " must be a string");
      return std::nullopt;
    }
    return node.Scalar();
  }

  const std::string& file() const { return file_; }

 private:
  std::string file_;
  std::vector<ConfigError>& errors_;
};

// A plain (unquoted) YAML scalar typed by the YAML 1.2 core schema; quoted ones are strings.
json::value scalar_to_json(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") return json::value(text);  // quoted: always a string
  if (text.empty() || text == "~" || text == "null" || text == "Null" || text == "NULL") {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  static const std::regex integer(R"([-+]?[0-9]+)");
  static const std::regex decimal(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (std::regex_match(text, integer)) {
    errno = 0;
    char* end = nullptr;
    const long long value = std::strtoll(text.c_str(), &end, 10);
    if (errno == 0) return static_cast<int64_t>(value);
    const unsigned long long big = std::strtoull(text.c_str(), &end, 10);
    if (errno == 0 && text[0] != '-') return static_cast<uint64_t>(big);
    return std::strtod(text.c_str(), nullptr);
  }
  if (std::regex_match(text, decimal)) return std::strtod(text.c_str(), nullptr);
  return json::value(text);
}

json::value yaml_to_json(Reader& reader, const YAML::Node& node) {
  if (!node.IsDefined() || node.IsNull()) return nullptr;
  if (node.IsScalar()) return scalar_to_json(node);
  if (node.IsSequence()) {
    json::array array;
    for (const auto& element : node) array.push_back(yaml_to_json(reader, element));
    return array;
  }
  json::object object;
  for (auto& [key, value] : reader.entries(node, "a JSON object")) {
    object[key] = yaml_to_json(reader, value);
  }
  return object;
}

// "61s", "1m30s", "-1s": a signed duration.
std::optional<std::chrono::milliseconds> signed_duration(std::string_view text,
                                                         std::string& error) {
  const bool negative = !text.empty() && text.front() == '-';
  if (negative) text.remove_prefix(1);
  auto parsed = config::parse_duration(text);
  if (!parsed) {
    error = parsed.error;
    return std::nullopt;
  }
  return negative ? -*parsed.value : *parsed.value;
}

bool is_time_claim(std::string_view name) {
  return name == "exp" || name == "nbf" || name == "iat";
}

ClientSpec read_client(Reader& reader, const std::string& name, const YAML::Node& node,
                       SourceMark mark) {
  ClientSpec client;
  client.name = name;
  client.mark = std::move(mark);
  if (node.IsNull()) return client;  // `alice:` with no claims: a token without `sub`
  for (auto& [claim, value] : reader.entries(node, "the claims of client `" + name + "`")) {
    if (is_time_claim(claim) && value.IsScalar() && value.Tag() != "!") {
      json::value typed = scalar_to_json(value);
      if (typed.is_string()) {
        std::string error;
        if (auto duration = signed_duration(value.Scalar(), error)) {
          client.relative_times.emplace_back(claim, *duration);
        } else {
          reader.error(value, "`" + claim + "` is unix seconds or a duration relative to the " +
                                  "virtual clock (\"10m\", \"-1s\"): " + error);
        }
        continue;
      }
    }
    client.claims[claim] = yaml_to_json(reader, value);
  }
  return client;
}

bool valid_client_name(std::string_view name) {
  static const std::set<std::string, std::less<>> reserved = {"advance", "connect"};
  return !name.empty() && !reserved.contains(name);
}

class ScenarioReader {
 public:
  ScenarioReader(Reader& reader) : reader_(reader) {}

  std::optional<Scenario> read(const YAML::Node& node) {
    Scenario scenario;
    scenario.mark = reader_.mark(node);
    bool has_steps = false;
    for (auto& [key, value] : reader_.entries(node, "a scenario")) {
      if (key == "name") {
        if (auto name = reader_.string_of(value, "`name`")) scenario.name = *name;
      } else if (key == "clients") {
        for (auto& [name, claims] : reader_.entries(value, "`clients`")) {
          if (!valid_client_name(name)) {
            reader_.error(value, "`" + name + "` cannot name a client");
            continue;
          }
          scenario.clients.push_back(read_client(reader_, name, claims, reader_.mark(claims)));
          known_.insert(name);
        }
      } else if (key == "ignore") {
        if (!value.IsSequence()) {
          reader_.error(value, "`ignore` must be a list of event names");
          continue;
        }
        for (const auto& event : value) {
          if (auto name = reader_.string_of(event, "an event name in `ignore`")) {
            scenario.ignore.insert(*name);
          }
        }
      } else if (key == "steps") {
        has_steps = true;
        if (!value.IsSequence()) {
          reader_.error(value, "`steps` must be a list");
          continue;
        }
        for (const auto& step : value) {
          if (auto read = read_step(step)) scenario.steps.push_back(std::move(*read));
        }
      } else {
        reader_.error(value, "unknown scenario key `" + key +
                                 "` (a scenario has name, clients, ignore and steps)");
      }
    }
    if (scenario.name.empty()) reader_.error(scenario.mark, "the scenario has no `name`");
    if (!has_steps) reader_.error(scenario.mark, "the scenario has no `steps`");
    return scenario;
  }

 private:
  std::optional<Step> read_step(const YAML::Node& node) {
    auto fields = reader_.entries(node, "a step");
    if (fields.empty()) return std::nullopt;
    if (fields.size() != 1) {
      reader_.error(node,
                    "a step has one key: `advance`, `connect` or a client's name (e.g. "
                    "`- alice: {send: ...}`)");
      return std::nullopt;
    }
    auto& [key, value] = fields.front();
    Step step;
    step.mark = reader_.mark(node);
    if (key == "advance") {
      step.kind = Step::Kind::advance;
      std::string error;
      auto by = value.IsScalar() ? signed_duration(value.Scalar(), error) : std::nullopt;
      if (!by || by->count() < 0) {
        reader_.error(value, "`advance` takes a duration such as 61s or 1m30s" +
                                 (error.empty() ? std::string() : ": " + error));
        return std::nullopt;
      }
      step.by = *by;
      return step;
    }
    if (key == "connect") return read_connect(step, value);

    step.client = key;
    if (!known_.contains(key)) {
      reader_.error(node, "unknown client `" + key +
                              "`: name it in the scenario's `clients` or connect it first");
      return std::nullopt;
    }
    auto actions = reader_.entries(value, "client `" + key + "`'s step");
    // `with_event_token` goes beside `send`: the claims of the event token put in payload.token.
    const auto token_entry = std::find_if(actions.begin(), actions.end(), [](const auto& entry) {
      return entry.first == "with_event_token";
    });
    if (token_entry != actions.end()) {
      step.event_token = read_client(reader_, "event token", token_entry->second,
                                     reader_.mark(token_entry->second));
      actions.erase(token_entry);
      if (actions.size() != 1 || actions.front().first != "send" ||
          !actions.front().second.IsMap()) {
        reader_.error(value,
                      "`with_event_token` goes with a `send` of a message object: "
                      "{send: {event: delete, payload: {id: m1}}, with_event_token: "
                      "{msg: m1, jti: t1, exp: 1m}}");
        return std::nullopt;
      }
    }
    if (actions.size() != 1) {
      if (!actions.empty() || value.IsMap()) {
        reader_.error(value,
                      "a client step has one of send (and with_event_token), expect, "
                      "expect_nothing, expect_close");
      }
      return std::nullopt;
    }
    auto& [action, argument] = actions.front();
    if (action == "send") {
      step.kind = Step::Kind::send;
      if (argument.IsScalar()) {
        step.text = argument.Scalar();  // sent as written, e.g. `send: "not json"`
      } else {
        json::value message = yaml_to_json(reader_, argument);
        step.text = json::serialize(message);
        if (step.event_token && message.is_object()) {
          step.message = message.get_object();
          const json::value* payload = step.message.if_contains("payload");
          if (payload && !payload->is_object()) {
            reader_.error(argument,
                          "`with_event_token` puts the token in payload.token: the "
                          "payload must be an object");
            return std::nullopt;
          }
        }
      }
    } else if (action == "expect") {
      step.kind = Step::Kind::expect;
      if (!argument.IsMap()) {
        reader_.error(argument, "`expect` takes the frame's expected keys, e.g. {event: ack}");
        return std::nullopt;
      }
      step.expected = yaml_to_json(reader_, argument);
    } else if (action == "expect_nothing") {
      step.kind = Step::Kind::expect_nothing;
      const json::value flag = argument.IsScalar() ? scalar_to_json(argument) : json::value();
      if (!flag.is_bool() || !flag.get_bool()) {
        reader_.error(argument, "write `expect_nothing: true`");
        return std::nullopt;
      }
    } else if (action == "expect_close") {
      step.kind = Step::Kind::expect_close;
      if (!read_expected_close(step, argument)) return std::nullopt;
    } else {
      reader_.error(argument, "unknown client step `" + action +
                                  "` (one of send, expect, expect_nothing, expect_close)");
      return std::nullopt;
    }
    return step;
  }

  // `expect_close: 4003`, or `expect_close: {code: 4003, reason: "spamming"}` to check the
  // reason too (exactly).
  bool read_expected_close(Step& step, const YAML::Node& argument) {
    static constexpr const char* kForms =
        "`expect_close` takes a close code, e.g. 4001, or {code: 4003, reason: \"spamming\"}";
    // yaml-cpp's Node assigns through to the node it refers to: rebind with reset(), never `=`.
    YAML::Node code_node;
    code_node.reset(argument);
    if (argument.IsMap()) {
      bool has_code = false;
      for (auto& [key, value] : reader_.entries(argument, "`expect_close`")) {
        if (key == "code") {
          code_node.reset(value);
          has_code = true;
        } else if (key == "reason") {
          if (!value.IsScalar()) {
            reader_.error(value, "`expect_close`'s `reason` is the close reason as text");
            return false;
          }
          step.close_reason = value.Scalar();
        } else {
          reader_.error(value, "`expect_close` has `code` and `reason`, not `" + key + "`");
          return false;
        }
      }
      if (!has_code) {
        reader_.error(argument,
                      "`expect_close` needs its `code`, e.g. {code: 4003, reason: \"spamming\"}");
        return false;
      }
    }
    const json::value code = code_node.IsScalar() ? scalar_to_json(code_node) : json::value();
    if (!code.is_int64() || code.get_int64() < 1000 || code.get_int64() > 4999) {
      reader_.error(code_node, kForms);
      return false;
    }
    step.close_code = static_cast<uint16_t>(code.get_int64());
    return true;
  }

  std::optional<Step> read_connect(Step& step, const YAML::Node& value) {
    step.kind = Step::Kind::connect;
    bool named = false;
    for (auto& [key, argument] : reader_.entries(value, "`connect`")) {
      if (key == "expect_refusal") {
        if (auto code = reader_.string_of(argument, "`expect_refusal`")) step.expect_refusal = code;
      } else if (named) {
        reader_.error(argument, "`connect` connects one client: `connect: {bob: {sub: bob}}`");
        return std::nullopt;
      } else if (!valid_client_name(key)) {
        reader_.error(argument, "`" + key + "` cannot name a client");
        return std::nullopt;
      } else {
        named = true;
        step.client = key;
        step.connecting = read_client(reader_, key, argument, reader_.mark(argument));
      }
    }
    if (!named) {
      reader_.error(value,
                    "`connect` names the client and its claims: `connect: {bob: {sub: bob}}`");
      return std::nullopt;
    }
    known_.insert(step.client);
    return step;
  }

  Reader& reader_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace

ScenarioReadResult read_scenario_text(std::string_view yaml, const std::string& name) {
  ScenarioReadResult result;
  Reader reader(name, result.errors);
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::Exception& error) {
    const YAML::Mark& m = error.mark;
    result.errors.push_back(
        {m.is_null() ? SourceMark{name, 0, 0} : SourceMark{name, m.line + 1, m.column + 1},
         "invalid YAML: " + error.msg});
    return result;
  }
  ScenarioFile file;
  file.path = name;
  try {
    if (!root.IsMap()) {
      reader.error(SourceMark{name, 1, 1},
                   "a scenario file is a mapping with `config` and `scenarios`");
      return result;
    }
    bool has_config = false;
    bool has_scenarios = false;
    for (auto& [key, value] : reader.entries(root, "the scenario file")) {
      if (key == "config") {
        has_config = true;
        file.config_mark = reader.mark(value);
        if (auto config = reader.string_of(value, "`config`")) file.config = *config;
      } else if (key == "scenarios") {
        has_scenarios = true;
        if (!value.IsSequence()) {
          reader.error(value, "`scenarios` must be a list");
          continue;
        }
        for (const auto& node : value) {
          ScenarioReader scenario_reader(reader);
          if (auto scenario = scenario_reader.read(node)) {
            file.scenarios.push_back(std::move(*scenario));
          }
        }
      } else {
        reader.error(value, "unknown key `" + key + "` (a scenario file has config and scenarios)");
      }
    }
    if (!has_config) {
      reader.error(SourceMark{name, 1, 1},
                   "no `config`: name the config file to test (relative to this file), or "
                   "`<embedded>` for the embedded development config");
    }
    if (!has_scenarios) reader.error(SourceMark{name, 1, 1}, "no `scenarios`");
  } catch (const YAML::Exception& error) {  // not expected: node types are checked first
    reader.error(SourceMark{name, error.mark.line + 1, error.mark.column + 1},
                 "cannot read the scenario file: " + error.msg);
  }
  if (result.errors.empty()) result.file = std::move(file);
  return result;
}

ScenarioReadResult read_scenario_file(const std::string& path) {
  config::FileReadResult read = config::read_regular_file(path);
  if (!read.contents) {
    ScenarioReadResult result;
    result.errors.push_back(
        {SourceMark{path, 0, 0}, read.missing ? "no such file" : "cannot read it: " + read.error});
    return result;
  }
  return read_scenario_text(*read.contents, path);
}

}  // namespace dispatch::scenario
