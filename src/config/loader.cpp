// Loading runs in three passes over one YAML document:
//   1. yaml-cpp parses the text (a syntax error stops here, with yaml-cpp's position);
//   2. the tree is walked against the key table: unknown, duplicate, not-yet-supported and
//      ill-typed keys are reported and the rest stored into a Config;
//   3. what depends on several keys or on the environment is settled: the JWT secrets and
//      their fallbacks to environment variables.
// Every pass keeps going after an error so that one run reports all of them.
#include "config/loader.h"

#include <yaml-cpp/eventhandler.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <sstream>

#include "config/file_reading.h"
#include "config/key_bindings.h"
#include "config/substitution.h"
#include "config/suggestion.h"
#include "config/value_reader.h"
#include "config/yaml_error_hint.h"

namespace dispatch::config {

namespace {

constexpr size_t kRecommendedSecretBytes = 32;

std::string join_path(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

std::string parent_of(std::string_view path) {
  const size_t dot = path.rfind('.');
  return dot == std::string_view::npos ? std::string{} : std::string(path.substr(0, dot));
}

std::string last_segment_of(std::string_view path) {
  const size_t dot = path.rfind('.');
  return std::string(dot == std::string_view::npos ? path : path.substr(dot + 1));
}

// Where a key of the table was set in this file (keys under `events.<name>` are not tracked).
struct KeySetting {
  std::string written_as;  // the dotted path as written, e.g. "server.auth.jwtSecret"
  SourceMark key_mark;
  SourceMark value_mark;
  bool had_errors = false;             // its value was reported already
  std::vector<std::string> variables;  // the ${NAME}s its value refers to
};

// "from DISPATCH_JWT_SECRET", "from ${S}", or "" for a value written out in the file: where a
// secret came from, for a warning about it that must not quote it.
std::string secret_origin(const std::vector<std::string>& variables, bool from_environment) {
  std::string origin;
  for (const std::string& name : variables) {
    origin += origin.empty() ? " from " : " and ";
    origin += from_environment ? name : "${" + name + "}";
  }
  return origin;
}

// "the JWT secret from ${S} is shorter than 32 bytes; ...".
std::string short_secret_warning(std::string_view secret_name, const std::string& origin) {
  const std::string bytes = std::to_string(kRecommendedSecretBytes);
  return "the " + std::string(secret_name) + origin + " is shorter than " + bytes +
         " bytes; use at least " + bytes + " random bytes";
}

class ConfigWalker {
 public:
  ConfigWalker(ValueReader& reader, Config& config) : reader_(reader), target_{config, nullptr} {}

  void walk_root(const YAML::Node& root) { walk_section(root, "", ""); }

  // By canonical key path: an alias such as `server.auth.jwtSecret` is filed under the key
  // it sets (`auth.jwt.secret`).
  const std::map<std::string, KeySetting>& settings() const { return settings_; }

 private:
  void walk_section(const YAML::Node& node, const std::string& table_path,
                    const std::string& written_path) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      if (written_path.empty()) {
        reader_.error(node,
                      "the config must be a mapping of sections such as `server:` and "
                      "`events:`, got " +
                          std::string(describe_node_kind(node)));
      } else {
        reader_.error(node, "`" + written_path + "`: expected a mapping, got " +
                                std::string(describe_node_kind(node)));
      }
      return;
    }
    reader_.for_each_entry(
        node, written_path,
        [&](const std::string& name, const YAML::Node& key, const YAML::Node& value) {
          const std::string child_written = join_path(written_path, name);
          const KeyBinding* binding = find_key_binding(join_path(table_path, name));
          if (binding == nullptr || name == "<name>") {
            report_unknown_key(key, name, table_path, child_written);
            return;
          }
          read_key(*binding, key, value, child_written);
        });
  }

  void walk_named_sections(const KeyInfo& info, const YAML::Node& node,
                           const std::string& written_path) {
    if (node.IsNull()) return;
    if (!node.IsMap()) {
      reader_.error(node, "`" + written_path + "`: expected a mapping of names, got " +
                              std::string(describe_node_kind(node)));
      return;
    }
    const KeyBinding* item = find_key_binding(info.path + ".<name>");
    reader_.for_each_entry(
        node, written_path,
        [&](const std::string& name, const YAML::Node& key, const YAML::Node& value) {
          if (name.empty()) {
            reader_.error(key, "`" + written_path + "`: names must not be empty");
            return;
          }
          if (item->enter) item->enter(target_, name, reader_.mark_of(key));
          walk_section(value, item->info.path, written_path + "." + name);
          target_.event = nullptr;
          target_.room = nullptr;
          target_.webhook = nullptr;
        });
  }

  void read_key(const KeyBinding& binding, const YAML::Node& key, const YAML::Node& value,
                const std::string& written_path) {
    const KeyInfo& info = binding.info;
    if (!info.implemented) {
      if (!reader_.is_default_value(value, written_path, info.default_text)) {
        reader_.error(key,
                      "`" + written_path + "` is not supported yet by this version of dispatch");
      }
      return;
    }
    switch (info.type) {
      case KeyType::section:
        remember(info, key, value, written_path);
        walk_section(value, info.path, written_path);
        return;
      case KeyType::named_sections:
        walk_named_sections(info, value, written_path);
        return;
      default:
        break;
    }
    if (value.IsNull()) return;  // a key without a value keeps its default
    if (!remember(info, key, value, written_path)) return;
    const size_t errors_before = reader_.error_count();
    binding.apply(reader_, value, written_path, target_);
    if (reader_.error_count() != errors_before && info.path.find("<name>") == std::string::npos) {
      settings_.at(info.alias_of.empty() ? info.path : info.alias_of).had_errors = true;
    }
  }

  // Files the key under its canonical path; false (and an error) when an alias of it was
  // already set, e.g. both `auth.jwt.secret` and GoDispatch's `server.auth.jwtSecret`.
  bool remember(const KeyInfo& info, const YAML::Node& key, const YAML::Node& value,
                const std::string& written_path) {
    if (info.path.find("<name>") != std::string::npos) return true;
    const std::string& canonical = info.alias_of.empty() ? info.path : info.alias_of;
    KeySetting setting{written_path, reader_.mark_of(key), reader_.mark_of(value)};
    if (value.IsScalar()) setting.variables = referenced_variables(value.Scalar());
    const auto [existing, inserted] = settings_.emplace(canonical, setting);
    if (!inserted) {
      reader_.error(key, "`" + written_path + "` sets the same thing as `" +
                             existing->second.written_as + "` (line " +
                             std::to_string(existing->second.key_mark.line) + "); keep one");
      return false;
    }
    return true;
  }

  void report_unknown_key(const YAML::Node& key, const std::string& name,
                          const std::string& table_path, const std::string& written_path) {
    std::vector<std::string> siblings;
    std::vector<std::string> same_name_elsewhere;
    for (const KeyInfo& info : config_keys()) {
      const std::string last = last_segment_of(info.path);
      if (last == "<name>") continue;
      if (parent_of(info.path) == table_path) {
        siblings.push_back(last);
      } else if (last == name && info.path.find("<name>") == std::string::npos) {
        same_name_elsewhere.push_back(info.path);
      }
    }
    std::string hint = did_you_mean_hint(name, siblings);
    if (hint.empty() && same_name_elsewhere.size() == 1) {
      hint = " (did you mean `" + same_name_elsewhere.front() + "`?)";
    }
    reader_.error(key, "unknown key `" + written_path + "`" + hint);
  }

  ValueReader& reader_;
  ApplyTarget target_;
  std::map<std::string, KeySetting> settings_;
};

// Pass 3: the session JWT secret and its fallbacks.
void settle_jwt_secret(Config& config, const std::map<std::string, KeySetting>& settings,
                       const Environment& environment, ValueReader& reader,
                       std::vector<ConfigError>& warnings) {
  JwtConfig& jwt = config.auth.jwt;
  const auto set_in_file = settings.find("auth.jwt.secret");
  std::string origin;
  if (set_in_file != settings.end()) {
    jwt.mark = set_in_file->second.value_mark;
    origin = secret_origin(set_in_file->second.variables, false);
  } else {
    // GoDispatch's variable is the fallback; DISPATCH_JWT_SECRET wins when both are set.
    for (const char* variable : {"DISPATCH_JWT_SECRET", "GODISPATCH_SERVER_AUTH_JWTSECRET"}) {
      if (auto value = environment.lookup(variable); value && !value->empty()) {
        jwt.secret = std::move(*value);
        origin = secret_origin({variable}, true);
        break;
      }
    }
    const auto section = settings.find("auth.jwt");
    jwt.mark =
        section != settings.end() ? section->second.key_mark : SourceMark{reader.file_name(), 0, 0};
  }

  if (const auto key_file = settings.find("auth.jwt.public_key_file"); key_file != settings.end()) {
    jwt.public_key_mark = key_file->second.value_mark;
  }
  if (jwt.secret.empty()) {
    if (config.auth.anonymous || !jwt.public_key_file.empty()) return;
    if (set_in_file == settings.end() && environment.unset_secrets_allowed()) {
      reader.note(jwt.mark, "not set: DISPATCH_JWT_SECRET (checked without it)");
      jwt.secret = unset_variable_placeholder("DISPATCH_JWT_SECRET");
      return;
    }
    const std::string how =
        "set the environment variable DISPATCH_JWT_SECRET (or put it in .env), or set "
        "`auth.jwt.secret`; or verify tokens with a public key (`auth.jwt.public_key_file`); or "
        "allow connections without a token with `auth.anonymous: true`";
    if (set_in_file != settings.end()) {
      if (set_in_file->second.had_errors) return;
      reader.error(set_in_file->second.value_mark,
                   "`" + set_in_file->second.written_as + "` is empty: " + how);
    } else {
      reader.error(SourceMark{reader.file_name(), 0, 0}, "no JWT secret: " + how);
    }
    return;
  }
  if (jwt.secret.size() < kRecommendedSecretBytes) {
    warnings.push_back({jwt.mark, short_secret_warning("JWT secret", origin)});
  }
}

// Pass 3: the `secure` modifier's token settings, which default to the session's.
void settle_event_jwt(Config& config, const std::map<std::string, KeySetting>& settings,
                      const Environment& environment, const std::string& file_name,
                      std::vector<ConfigError>& warnings) {
  const JwtConfig written = config.auth.event_jwt.value_or(JwtConfig{});
  auto was_set = [&](const char* key) {
    return settings.count(std::string("auth.event_jwt.") + key) > 0;
  };

  std::string secret = was_set("secret")
                           ? written.secret
                           : environment.lookup("DISPATCH_EVENT_JWT_SECRET").value_or("");
  if (secret.empty()) {
    if (config.auth.event_jwt && !was_set("secret")) {
      const auto section = settings.find("auth.event_jwt");
      warnings.push_back(
          {section != settings.end() ? section->second.key_mark : SourceMark{file_name, 0, 0},
           "auth.event_jwt has settings but no secret, so they are unused (and the `secure` "
           "modifier cannot be used: set auth.event_jwt.secret or DISPATCH_EVENT_JWT_SECRET)"});
    }
    config.auth.event_jwt.reset();
    return;
  }

  JwtConfig event_jwt = config.auth.jwt;
  event_jwt.secret = std::move(secret);
  event_jwt.public_key_file.clear();  // event tokens are HMAC-signed (the `secure` modifier)
  event_jwt.public_key_mark = {};
  if (was_set("issuer")) event_jwt.issuer = written.issuer;
  if (was_set("audience")) event_jwt.audience = written.audience;
  if (was_set("leeway")) event_jwt.leeway = written.leeway;
  if (was_set("require_exp")) event_jwt.require_exp = written.require_exp;
  if (const auto setting = settings.find("auth.event_jwt.secret"); setting != settings.end()) {
    event_jwt.mark = setting->second.value_mark;
  } else if (const auto section = settings.find("auth.event_jwt"); section != settings.end()) {
    event_jwt.mark = section->second.key_mark;
  } else {
    event_jwt.mark = SourceMark{file_name, 0, 0};
  }
  if (event_jwt.secret.size() < kRecommendedSecretBytes) {
    const auto setting = settings.find("auth.event_jwt.secret");
    const std::string origin = setting != settings.end()
                                   ? secret_origin(setting->second.variables, false)
                                   : secret_origin({"DISPATCH_EVENT_JWT_SECRET"}, true);
    warnings.push_back({event_jwt.mark, short_secret_warning("event JWT secret", origin)});
  }
  config.auth.event_jwt = std::move(event_jwt);
}

// Pass 3: the API key — api.key, else DISPATCH_API_KEY; empty = the server API is off.
void settle_api_key(Config& config, const std::map<std::string, KeySetting>& settings,
                    const Environment& environment, const std::string& file_name,
                    std::vector<ConfigError>& warnings) {
  ApiConfig& api = config.api;
  std::string origin;
  if (const auto setting = settings.find("api.key"); setting != settings.end()) {
    api.mark = setting->second.value_mark;
    origin = secret_origin(setting->second.variables, false);
  } else {
    api.key = environment.lookup("DISPATCH_API_KEY").value_or("");
    origin = secret_origin({"DISPATCH_API_KEY"}, true);
    const auto section = settings.find("api");
    api.mark = section != settings.end() ? section->second.key_mark : SourceMark{file_name, 0, 0};
  }
  if (!api.key.empty() && api.key.size() < kRecommendedSecretBytes) {
    warnings.push_back({api.mark, short_secret_warning("API key", origin)});
  }
}

// Pass 3: an event token must never be a session token (SPEC 4.2, `secure`), so the two
// secrets must differ; the message names the keys, never the value.
void check_secrets_differ(const Config& config, ValueReader& reader) {
  if (!config.auth.event_jwt || config.auth.jwt.secret.empty()) return;
  if (config.auth.event_jwt->secret != config.auth.jwt.secret) return;
  reader.error(config.auth.event_jwt->mark,
               "the event JWT secret (auth.event_jwt.secret or DISPATCH_EVENT_JWT_SECRET) equals "
               "the session secret (auth.jwt.secret), so any session token would pass the "
               "`secure` modifier as an event token: use a different secret");
}

// `_refresh` is the protocol's own message (a new session token, SPEC 4.3): no event may take it.
void check_reserved_event_names(const Config& config, ValueReader& reader) {
  for (const EventSpec& event : config.events) {
    if (event.name == "_refresh") {
      reader.error(event.mark,
                   "`_refresh` is reserved: clients send it to replace their session token "
                   "(docs/PROTOCOL.md); give the event another name");
    }
  }
}

// Pass 3: the admin listener cannot share the WebSocket port.
void check_admin_address(const Config& config, const std::map<std::string, KeySetting>& settings,
                         ValueReader& reader) {
  const auto& server = config.server;
  if (!server.admin_address || server.admin_address->port == 0) return;
  if (server.admin_address->port != server.port || server.admin_address->host != server.host) {
    return;
  }
  const auto setting = settings.find("server.admin_address");
  reader.error(
      setting != settings.end() ? setting->second.value_mark : SourceMark{reader.file_name(), 0, 0},
      "server.admin_address is server.address: give the admin listener another port, or "
      "remove it to serve /metrics and /api on the WebSocket port");
}

// A static_dir that is not a directory would answer every page with 404: refuse it, naming the
// path and where a relative one was looked for.
void check_static_dir(const Config& config, std::vector<ConfigError>& errors) {
  const std::string& dir = config.server.static_dir;
  if (dir.empty()) return;
  std::error_code error_code;
  const auto status = std::filesystem::status(dir, error_code);
  if (std::filesystem::is_directory(status)) return;
  std::string message = "server.static_dir `" + dir + "` " +
                        (std::filesystem::exists(status) ? "is not a directory" : "does not exist");
  if (std::filesystem::path(dir).is_relative()) {
    const auto here = std::filesystem::current_path(error_code);
    message += " (a relative path is looked up from the working directory";
    if (!error_code) message += ", `" + here.string() + "`";
    message += ")";
  }
  ConfigError& added = errors.emplace_back();
  added.mark = config.server.static_dir_mark;
  if (added.mark.file.empty()) added.mark.file = config.file;
  added.message = message + "; every page would be 404";
}

// YAML allows no NUL anywhere: one is refused before parsing, at its position, with a message
// that says what it likely means (not a text file).
std::optional<SourceMark> first_nul_byte(std::string_view yaml, const std::string& file_name) {
  const size_t offset = yaml.find('\0');
  if (offset == std::string_view::npos) return std::nullopt;
  const std::string_view before = yaml.substr(0, offset);
  const size_t line_start = before.rfind('\n');
  const auto line = static_cast<int>(std::count(before.begin(), before.end(), '\n')) + 1;
  const auto column =
      static_cast<int>(line_start == std::string_view::npos ? offset + 1 : offset - line_start);
  return SourceMark{file_name, line, column};
}

// yaml-cpp 0.7 also never returns when a `,` follows or starts a document's top-level node
// outside brackets (",", "[a],", "- a\n,"), emitting events without end. A first pass counts
// the events against a bound no real document reaches (a few per byte) and stops there.
class RunawayParseGuard final : public YAML::EventHandler {
 public:
  struct Runaway {
    YAML::Mark mark;
  };

  explicit RunawayParseGuard(size_t text_size) : left_(4 * text_size + 64) {}

  void OnDocumentStart(const YAML::Mark& mark) override { tick(mark); }
  void OnDocumentEnd() override { tick(last_); }
  void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { tick(mark); }
  void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { tick(mark); }
  void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                const std::string&) override {
    tick(mark);
  }
  void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {
    tick(mark);
  }
  void OnSequenceEnd() override { tick(last_); }
  void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {
    tick(mark);
  }
  void OnMapEnd() override { tick(last_); }

 private:
  void tick(const YAML::Mark& mark) {
    last_ = mark;
    if (left_-- == 0) throw Runaway{mark};
  }

  size_t left_;
  YAML::Mark last_;
};

// The position where yaml-cpp would run away on `yaml`, or nothing. Syntax errors are left to
// the real parse, which reports them.
std::optional<YAML::Mark> runaway_parse(const std::string& yaml) {
  std::istringstream stream(yaml);
  RunawayParseGuard guard(yaml.size());
  try {
    YAML::Parser parser(stream);
    while (parser.HandleNextDocument(guard)) {
    }
  } catch (const RunawayParseGuard::Runaway& runaway) {
    return runaway.mark;
  } catch (const YAML::Exception&) {
  }
  return std::nullopt;
}

SourceMark mark_from_yaml(const std::string& file_name, const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return {file_name, 0, 0};
  return {file_name, mark.line + 1, mark.column + 1};
}

}  // namespace

LoadResult load_config_text(std::string_view yaml, const std::string& file_name,
                            const Environment& environment) {
  LoadResult result;
  result.text = std::string(yaml);
  if (auto nul = first_nul_byte(yaml, file_name)) {
    result.errors.push_back(
        {*nul, "the config contains a NUL byte, which YAML does not allow (is it a text file?)"});
    return result;
  }
  if (auto runaway = runaway_parse(result.text)) {
    result.errors.push_back(
        {mark_from_yaml(file_name, *runaway),
         "invalid YAML: a `,` outside brackets [ ] or { } (quote the text if it is part of it)"});
    return result;
  }
  std::vector<YAML::Node> documents;
  try {
    documents = YAML::LoadAll(std::string(yaml));
  } catch (const YAML::Exception& error) {
    const SourceMark at = mark_from_yaml(file_name, error.mark);
    const YamlErrorHint hint = explain_yaml_error(yaml, at.line, at.column, error.msg);
    result.errors.push_back({hint.line > 0 ? SourceMark{file_name, hint.line, hint.column} : at,
                             "invalid YAML: " + hint.message});
    return result;
  }

  ValueReader reader(file_name, environment, result.errors);
  reader.collect_notes(result.notes);
  reader.keep_source_text(result.text);
  if (documents.size() > 1) {
    reader.error(documents[1], "the config must be a single YAML document (found a second `---`)");
  }
  Config config;
  config.file = file_name;
  ConfigWalker walker(reader, config);
  try {
    walker.walk_root(documents.empty() ? YAML::Node() : documents.front());
  } catch (const YAML::Exception& error) {  // not expected: the walker checks node types first
    reader.error(mark_from_yaml(file_name, error.mark), "cannot read the config: " + error.msg);
  }
  settle_jwt_secret(config, walker.settings(), environment, reader, result.warnings);
  settle_event_jwt(config, walker.settings(), environment, file_name, result.warnings);
  settle_api_key(config, walker.settings(), environment, file_name, result.warnings);
  check_secrets_differ(config, reader);
  check_reserved_event_names(config, reader);
  check_admin_address(config, walker.settings(), reader);
  if (const auto setting = walker.settings().find("server.static_dir");
      setting != walker.settings().end()) {
    config.server.static_dir_mark = setting->second.value_mark;
  }

  if (result.errors.empty()) {
    result.config = std::move(config);
  } else {
    result.partial = std::move(config);
  }
  return result;
}

LoadResult load_config_file(const std::string& path, const Environment& environment) {
  FileReadResult file = read_regular_file(path);
  if (!file.contents) {
    LoadResult result;
    // Built in place: GCC 12 at -O3 warns (maybe-uninitialized) on the braced temporary.
    ConfigError& error = result.errors.emplace_back();
    error.mark.file = path;
    error.message = "cannot read the config file: " + file.error;
    return result;
  }
  return load_config_text(*file.contents, path, environment);
}

void check_runnable(const Config& config, std::vector<ConfigError>& errors) {
  if (config.events.empty()) {
    // Built in place: GCC 12 at -O3 warns (maybe-uninitialized) on the braced temporary.
    ConfigError& error = errors.emplace_back();
    error.mark.file = config.file;
    error.message =
        "the config declares no events, so every message would be refused: add an `events:` "
        "section with at least one event (see docs/CONFIG.md)";
  }
  check_static_dir(config, errors);
}

}  // namespace dispatch::config
