// The `dispatch` command line: serve (the default), check, token, test, help, version.
#include <fmt/format.h>
#include <simdjson.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <tuple>

#include "app/default_config.h"
#include "auth/jwt.h"
#include "config/lints.h"
#include "config/loader.h"
#include "config/substitution.h"
#include "config/units.h"
#include "dispatch/extension.h"
#include "log/log.h"
#include "pipeline/compiled_config.h"
#include "scenario/report.h"
#include "scenario/runner.h"
#include "server/server.h"
#include "template/json_escape.h"

namespace dispatch {

namespace {

// A --claim value keeps its JSON type when it parses as JSON ("3", "true", "[1]"), else it is
// a string.
std::string claim_json(const std::string& value) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(value);
  simdjson::dom::element element;
  if (!parser.parse(padded).get(element)) return simdjson::minify(element);
  std::string quoted = "\"";
  tmpl::append_json_escaped(quoted, value);
  quoted.push_back('"');
  return quoted;
}

struct CheckFlags {
  bool strict = false;           // --strict: warnings fail the check
  bool without_secrets = false;  // --without-secrets: unset secrets are notes
  bool env_file_required = false;
};

// `dispatch check`: every error, warning (the loader's and the lints') and note, in file order,
// as `file:line:col: [warning: |note: ]message`; then `file: ok` when it passes.
int run_check(const std::string& path, const std::string& env_file, const CheckFlags& flags,
              const StepRegistry& registry) {
  ServeOptions options;
  options.config_path = path;
  options.env_file = env_file;
  options.env_file_required = flags.env_file_required;
  options.without_secrets = flags.without_secrets;
  CheckedConfig checked = check_config(options, registry);
  std::vector<config::ConfigError> warnings = std::move(checked.warnings);
  if (checked.compiled) {
    for (config::ConfigError& lint : config::lint_config(checked.compiled->config())) {
      warnings.push_back(std::move(lint));
    }
  }
  struct Diagnostic {
    const config::ConfigError* problem;
    std::string_view label;
  };
  std::vector<Diagnostic> diagnostics;
  for (const auto& note : checked.notes) diagnostics.push_back({&note, "note: "});
  for (const auto& warning : warnings) diagnostics.push_back({&warning, "warning: "});
  for (const auto& error : checked.errors) diagnostics.push_back({&error, ""});
  std::stable_sort(diagnostics.begin(), diagnostics.end(), [](const auto& a, const auto& b) {
    return std::tie(a.problem->mark.line, a.problem->mark.column) <
           std::tie(b.problem->mark.line, b.problem->mark.column);
  });
  for (const Diagnostic& diagnostic : diagnostics) {
    config::ConfigError shown = *diagnostic.problem;
    shown.message = std::string(diagnostic.label) + shown.message;
    std::cout << config::format_error(shown) << "\n";
  }
  if (!checked.errors.empty()) return 1;
  const std::string count =
      std::to_string(warnings.size()) + (warnings.size() == 1 ? " warning" : " warnings");
  if (flags.strict && !warnings.empty()) {
    std::cout << path << ": " << count << ", which --strict makes errors\n";
    return 1;
  }
  std::cout << path << ": ok" << (warnings.empty() ? "" : " (" + count + ")") << "\n";
  return 0;
}

// `dispatch test`: runs every scenario file, prints the report, writes JUnit XML if asked.
int run_test(const std::vector<std::string>& files, const std::string& junit_path,
             const std::string& env_file, bool env_file_required, const StepRegistry& registry) {
  log::set_level(log::Level::error);  // the engine's info lines (refusals, _log) are noise here
  scenario::RunOptions options;
  options.env_file = env_file;
  options.env_file_required = env_file_required;
  options.embedded_config_text = std::string(development_config);
  std::vector<scenario::FileResult> results;
  for (const std::string& file : files) {
    results.push_back(scenario::run_scenario_file(file, options, registry));
  }
  scenario::print_report(std::cout, results);
  if (!junit_path.empty()) {
    std::ofstream junit(junit_path, std::ios::binary | std::ios::trunc);
    junit << scenario::junit_xml(results);
    junit.close();
    if (!junit) {
      std::cerr << "--junit " << junit_path << ": cannot write the file\n";
      return 2;
    }
  }
  return scenario::exit_code(results);
}

}  // namespace

int run_command_line(int argc, char** argv, const StepRegistry& registry) {
  CLI::App app{
      "Dispatch: a configuration-driven real-time WebSocket engine.\n"
      "Events, their guards (modifiers) and steps (actions), and who may connect are "
      "declared in config.yaml.",
      "dispatch"};
  app.set_version_flag("--version", "dispatch " DISPATCH_VERSION);
  app.require_subcommand(0, 1);

  std::string config_path;
  std::string env_file = ".env";
  auto* serve_command = app.add_subcommand(
      "serve",
      "Run the server (the default command). Without --config it uses ./config.yaml, "
      "or the embedded development config when that does not exist.");
  serve_command->add_option("--config,-c", config_path, "config file (default ./config.yaml)");
  serve_command->add_option("--env-file", env_file, "dotenv file read before the config")
      ->capture_default_str();
  // Also on the app itself: `dispatch --address ...` is the default run with another address.
  std::string address;
  const char* address_help =
      "host:port to listen on instead of the config's server.address (\":9000\", "
      "\"127.0.0.1:0\" = any free port); the config file stays as it is";
  serve_command->add_option("--address", address, address_help);
  // `dispatch --config FILE` etc. is `dispatch serve --config FILE`: serve is the default.
  app.add_option("--config,-c", config_path, "config file for the default command, serve");
  app.add_option("--env-file", env_file, "dotenv file read before the config");
  app.add_option("--address", address, address_help);

  auto* check_command = app.add_subcommand(
      "check", "Validate a config: prints every problem as file:line:col: message, exits 0 or 1.");
  std::string check_path = "config.yaml";
  check_command->add_option("--config,-c", check_path, "config file")->capture_default_str();
  check_command->add_option("--env-file", env_file, "dotenv file")->capture_default_str();
  CheckFlags check_flags;
  check_command->add_flag("--strict", check_flags.strict,
                          "fail (exit 1) on warnings too: lints and e.g. a short secret");
  check_command->add_flag("--without-secrets", check_flags.without_secrets,
                          "check a config whose secrets are not set here (CI): each unset "
                          "secret variable is a note, not an error");

  auto* test_command = app.add_subcommand(
      "test",
      "Run scenario files against their config in process, with a virtual clock: no server, no "
      "port. Exit 0 all passed, 1 a scenario failed, 2 a file or its config could not be read.");
  std::vector<std::string> scenario_files;
  std::string junit_path;
  test_command->add_option("files", scenario_files, "scenario files (YAML)")->required();
  test_command->add_option("--junit", junit_path, "also write the results as JUnit XML here");
  test_command->add_option("--env-file", env_file, "dotenv file read before each config")
      ->capture_default_str();

  auto* token_command = app.add_subcommand(
      "token", "Print an HS256 session token signed with the configured secret (development).");
  std::string subject;
  std::vector<std::string> perms;
  std::vector<std::string> claims;
  std::string ttl = "1h";
  std::string secret;
  std::string token_config;
  token_command->add_option("--sub", subject, "the user id (the token's sub)")->required();
  token_command->add_option("--perm", perms, "a permission for the perms claim (repeatable)");
  token_command->add_option("--claim", claims,
                            "an extra claim k=v; v keeps its JSON type if it is JSON");
  token_command->add_option("--ttl", ttl, "lifetime, e.g. 30m, 1h, 24h")->capture_default_str();
  token_command->add_option("--secret", secret, "sign with this secret instead of the config's");
  token_command->add_option("--config,-c", token_config, "take the secret from this config");
  token_command->add_option("--env-file", env_file, "dotenv file read before the config")
      ->capture_default_str();

  auto* help_command = app.add_subcommand("help", "Print this help (or a command's) and exit.");
  std::string help_topic;
  help_command->add_option("command", help_topic, "the command to explain");
  auto* version_command = app.add_subcommand("version", "Print the version and exit.");
  // The footer below lists the commands with examples; CLI11's own list would repeat them.
  for (CLI::App* command :
       {serve_command, check_command, test_command, token_command, help_command, version_command}) {
    command->group("");
  }

  app.footer(R"(Commands (dispatch <command> --help for each):
  dispatch                      same as `dispatch serve`
  dispatch serve --config FILE  run the server with FILE
  dispatch serve --address HOST:PORT
                                listen there instead of the config's server.address
  dispatch check --config FILE  validate FILE: every problem as file:line:col: message;
                                --strict also fails on warnings (lints), --without-secrets
                                checks it without its secrets (CI)
  dispatch token --sub alice    a development session token (HS256)
  dispatch test FILE...         run scenario files against their config (virtual clock,
                                no server); --junit FILE writes JUnit XML
  dispatch help [COMMAND], dispatch --help
                                this help, or a command's (also dispatch COMMAND --help)
  dispatch version, dispatch --version
                                the version

Files and environment:
  ./config.yaml        the config when --config is not given; without it (and without
                       --config) the embedded development config runs: a small chat on
                       127.0.0.1:8080 with a PUBLIC secret, for trying Dispatch only
  ./.env               KEY=VALUE lines read before the config (real environment wins)
  ${NAME}, ${NAME:-default} in any config value come from the environment
  DISPATCH_JWT_SECRET  the session secret when the config does not set auth.jwt.secret
                       (GoDispatch's GODISPATCH_SERVER_AUTH_JWTSECRET is read too)

Exit codes: 0 clean stop (or config valid), 1 bad config or startup failure (such as the port
being taken), 2 bad command line. `dispatch test`: 0 all passed, 1 a scenario failed, 2 a
scenario file or its config could not be read.

Docs: README.md (quick start), docs/CONFIG.md (every key), docs/PROTOCOL.md (the wire protocol).)");
  serve_command->footer(R"(Signals while serving:
  SIGINT, SIGTERM  stop accepting, close every client with 1001 "going away", drain for up to
                   server.shutdown_grace, exit 0
  SIGHUP           reload the config; a config that fails `dispatch check` is refused (logged)
                   and the running one stays; one that removes events clients used since the
                   last (re)load is refused with a warning naming them, unless SIGHUP comes
                   again within 60 s with the same file content
  SIGPIPE          ignored; every other signal keeps its default

Logs are JSON lines on stdout, at log.level; secrets and tokens are never logged.
Examples:
  dispatch serve --config config.yaml
  dispatch serve --config config.yaml --address 127.0.0.1:9000
  DISPATCH_JWT_SECRET=$(openssl rand -hex 32) dispatch serve -c config.yaml --env-file prod.env)");
  check_command->footer(
      R"help(Checks everything `serve` checks at start: YAML syntax, unknown keys (with a "did you mean"
hint), duplicate keys, types, durations and sizes, ${VAR} references, the secret, every event's
modifiers and actions with their params and templates. Exit 0 when valid, 1 otherwise.

It also warns (file:line:col: warning: ...) about configs that run but are likely mistakes:
  unguarded_room_send      _notify_room with nothing checking the sender is in the room
  unlimited_broadcast      _broadcast without rate_limit
  unreachable_room_policy  a rooms: glob no _join can reach
  impossible_claim_check   a secure claim check no event token passes
Each warning says how to fix it, or to silence it with `lint_ignore: [<name>]` in the event or
room policy it names. --strict makes warnings fail the check (exit 1).

--without-secrets checks a config whose secrets are not set in this environment (CI): an unset
${VAR} in auth.jwt.secret or auth.event_jwt.secret (or an unset DISPATCH_JWT_SECRET when the
file sets no secret) is a note "not set: VAR (checked without it)" instead of an error;
every other unset variable is still an error.
Examples:
  dispatch check --config config.yaml
  dispatch check --config config.yaml --strict --without-secrets)help");
  test_command->footer(
      R"(A scenario file names the config it tests (relative to the file, or <embedded> for the
embedded development config) and lists scenarios: clients with the claims of their token
(minted in process with the config's secret), then steps in order:
  - alice: {send: {event: join, target: "room:1", id: 1}}
  - alice: {expect: {event: ack, payload: {ref: 1}}}   # a subset of the next frame
  - alice: {expect_nothing: true}
  - alice: {expect_close: 4001}
  - advance: 61s                                      # the virtual clock
  - connect: {bob: {sub: bob}, expect_refusal: too_many_connections}
A frame no step expected fails the scenario unless its event is in the scenario's `ignore`.
Docs: docs/TESTING-CONFIGS.md.
Example:
  dispatch test tests/scenarios/default_config.yaml --junit results.xml)");
  token_command->footer(
      R"(The secret is, in order: --secret, the config given with --config, ./config.yaml, or the
embedded development config's public secret. The token carries sub, iat, exp (now + --ttl),
perms (from --perm) and every --claim, each key once (--claim exp=... replaces the exp of
--ttl; a repeated --claim keeps its last value); a claim value that parses as JSON keeps its type
(--claim level=3 is a number, --claim admin=true a boolean, --claim team=red a string).
Examples:
  dispatch token --sub alice
  dispatch token --sub bob --perm kick_user --claim org=acme --ttl 24h --config config.yaml
An event token for the `secure` modifier (docs/CONFIG.md, auth.event_jwt): sign with the event
secret, name the event, and give a jti when the step says `once`:
  dispatch token --secret "$DISPATCH_EVENT_JWT_SECRET" --sub alice --ttl 5m \
    --claim evt=delete_message --claim msg=m-42 --claim jti=$(uuidgen)
Use it in a browser: new WebSocket("ws://127.0.0.1:8080/ws", ["dispatch.v1", "bearer." + token]))");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    int code = app.exit(error);
    return code == 0 ? 0 : 2;
  }

  // The options before a command belong to serve, the default command: `dispatch --config x
  // check` would otherwise check ./config.yaml without a word.
  for (CLI::App* command : app.get_subcommands()) {
    if (command == serve_command) continue;
    for (const char* option : {"--config", "--env-file", "--address"}) {
      if (app.count(option) > 0) {
        std::cerr << option << " before `" << command->get_name()
                  << "` belongs to serve (the default command): write it after `"
                  << command->get_name() << "`\n";
        return 2;
      }
    }
  }
  if (help_command->parsed()) {
    if (help_topic.empty()) {
      // Not app.help(): that describes the selected subcommand, `help` itself.
      std::cout << app.get_formatter()->make_help(&app, "dispatch", CLI::AppFormatMode::Normal);
      return 0;
    }
    for (CLI::App* command : app.get_subcommands({})) {
      if (command->get_name() == help_topic && command != help_command) {
        std::cout << command->help();
        return 0;
      }
    }
    std::cerr << "dispatch help: no command `" << help_topic
              << "` (the commands: serve, check, token, test, help, version)\n";
    return 2;
  }
  if (version_command->parsed()) {
    std::cout << "dispatch " DISPATCH_VERSION "\n";
    return 0;
  }
  if (check_command->parsed()) {
    check_flags.env_file_required = check_command->count("--env-file") > 0;
    return run_check(check_path, env_file, check_flags, registry);
  }
  if (test_command->parsed()) {
    return run_test(scenario_files, junit_path, env_file, test_command->count("--env-file") > 0,
                    registry);
  }

  if (token_command->parsed()) {
    if (secret.empty()) {
      std::vector<config::ConfigError> errors;
      auto environment = config::Environment::from_process(
          env_file, token_command->count("--env-file") > 0, errors);
      if (!errors.empty()) {
        for (const auto& error : errors) std::cerr << config::format_error(error) << "\n";
        return 1;
      }
      // Only the session secret matters here: another secret (e.g. the event secret) that is
      // not set in this shell must not stop a development token.
      environment.allow_unset_secrets(true);
      std::string path = token_config;
      if (path.empty() && std::filesystem::exists("config.yaml")) path = "config.yaml";
      auto loaded = path.empty()
                        ? config::load_config_text(development_config, "<embedded>", environment)
                        : config::load_config_file(path, environment);
      if (!loaded.config) {
        for (const auto& error : loaded.errors) std::cerr << config::format_error(error) << "\n";
        return 1;
      }
      secret = loaded.config->auth.jwt.secret;
      if (config::holds_unset_variable_placeholder(secret)) {
        for (const auto& note : loaded.notes) {
          if (note.mark != loaded.config->auth.jwt.mark) continue;  // another secret's
          config::ConfigError shown = note;
          shown.message = "note: " + shown.message;
          std::cerr << config::format_error(shown) << "\n";
        }
        std::cerr << "the config's session secret (auth.jwt.secret) is not set: set its "
                     "environment variable (or put it in .env), or pass --secret\n";
        return 1;
      }
      if (secret.empty()) {
        std::cerr << (loaded.config->auth.jwt.public_key_file.empty()
                          ? "the config has no session secret to sign with: pass --secret\n"
                          : "the config verifies tokens with auth.jwt.public_key_file: sign them "
                            "with its private key (dispatch token signs HS256 only), or pass "
                            "--secret\n");
        return 1;
      }
    }
    auto lifetime = config::parse_duration(ttl);
    if (!lifetime) {
      std::cerr << "--ttl: " << lifetime.error << "\n";
      return 2;
    }
    const int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    // Claims in order; a --claim naming sub, iat, exp or perms replaces that claim (a token has
    // each key once: `--claim exp=…` overrides --ttl).
    std::vector<std::pair<std::string, std::string>> token_claims;  // name, JSON value
    auto set_claim = [&token_claims](std::string name, std::string json_value) {
      for (auto& [existing, value] : token_claims) {
        if (existing == name) {
          value = std::move(json_value);
          return;
        }
      }
      token_claims.emplace_back(std::move(name), std::move(json_value));
    };
    std::string quoted_subject = "\"";
    tmpl::append_json_escaped(quoted_subject, subject);
    quoted_subject += "\"";
    set_claim("sub", std::move(quoted_subject));
    set_claim("iat", std::to_string(now));
    set_claim("exp",
              std::to_string(
                  now + std::chrono::duration_cast<std::chrono::seconds>(*lifetime.value).count()));
    if (!perms.empty()) {
      std::string list = "[";
      for (size_t i = 0; i < perms.size(); ++i) {
        list += (i ? ",\"" : "\"");
        tmpl::append_json_escaped(list, perms[i]);
        list += "\"";
      }
      set_claim("perms", list + "]");
    }
    for (const std::string& claim : claims) {
      size_t equals = claim.find('=');
      if (equals == std::string::npos || equals == 0) {
        std::cerr << "--claim must be k=v\n";
        return 2;
      }
      set_claim(claim.substr(0, equals), claim_json(claim.substr(equals + 1)));
    }
    std::string json = "{";
    for (const auto& [name, value] : token_claims) {
      if (json.size() > 1) json += ",";
      json += "\"";
      tmpl::append_json_escaped(json, name);
      json += "\":";
      json += value;
    }
    json += "}";
    std::cout << auth::sign_jwt_hs256(json, secret) << "\n";
    return 0;
  }

  ServeOptions options;
  if (!address.empty()) {
    auto parsed = config::parse_listen_address(address);
    if (!parsed) {
      std::cerr << "--address `" << address << "`: " << parsed.error << "\n";
      return 2;
    }
    options.address_override = *parsed.value;
  }
  options.env_file = env_file;
  options.env_file_required = serve_command->count("--env-file") > 0 || app.count("--env-file") > 0;
  if (!config_path.empty()) {
    options.config_path = config_path;
  } else if (std::filesystem::exists("config.yaml")) {
    options.config_path = "config.yaml";
  } else {
    options.config_text = std::string(development_config);
  }
  return serve(options, registry);
}

}  // namespace dispatch
