// The `dispatch` command line: serve (the default), check, token, --version, --help.
#include <fmt/format.h>
#include <simdjson.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "app/default_config.h"
#include "auth/jwt.h"
#include "config/loader.h"
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

int run_check(const std::string& path, const std::string& env_file, const StepRegistry& registry) {
  ServeOptions options;
  options.config_path = path;
  options.env_file = env_file;
  CheckedConfig checked = check_config(options, registry);
  const auto& errors = checked.errors;
  for (const auto& warning : checked.warnings)
    std::cout << path << ": warning: " << warning << "\n";
  for (const auto& error : errors) std::cout << config::format_error(error) << "\n";
  if (errors.empty()) std::cout << path << ": ok\n";
  return errors.empty() ? 0 : 1;
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
  app.add_option("--address", address, address_help);

  auto* check_command = app.add_subcommand(
      "check", "Validate a config: prints every problem as file:line:col: message, exits 0 or 1.");
  std::string check_path = "config.yaml";
  check_command->add_option("--config,-c", check_path, "config file")->capture_default_str();
  check_command->add_option("--env-file", env_file, "dotenv file")->capture_default_str();

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

  app.footer(R"(Commands (dispatch <command> --help for each):
  dispatch                      same as `dispatch serve`
  dispatch serve --config FILE  run the server with FILE
  dispatch serve --address HOST:PORT
                                listen there instead of the config's server.address
  dispatch check --config FILE  validate FILE: every problem as file:line:col: message
  dispatch token --sub alice    a development session token (HS256)
  dispatch test FILE...         run scenario files against their config (virtual clock,
                                no server); --junit FILE writes JUnit XML

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
      R"(Checks everything `serve` checks at start: YAML syntax, unknown keys (with a "did you mean"
hint), duplicate keys, types, durations and sizes, ${VAR} references, the secret, every event's
modifiers and actions with their params and templates. Exit 0 when valid, 1 otherwise.
Example:
  dispatch check --config config.yaml)");
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
perms (from --perm) and every --claim; a claim value that parses as JSON keeps its type
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

  if (check_command->parsed()) return run_check(check_path, env_file, registry);
  if (test_command->parsed()) {
    return run_test(scenario_files, junit_path, env_file, test_command->count("--env-file") > 0,
                    registry);
  }

  if (token_command->parsed()) {
    if (secret.empty()) {
      std::vector<config::ConfigError> errors;
      auto environment = config::Environment::from_process(env_file, false, errors);
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
    std::string json = "{\"sub\":\"";
    tmpl::append_json_escaped(json, subject);
    json += fmt::format(
        "\",\"iat\":{},\"exp\":{}", now,
        now + std::chrono::duration_cast<std::chrono::seconds>(*lifetime.value).count());
    if (!perms.empty()) {
      json += ",\"perms\":[";
      for (size_t i = 0; i < perms.size(); ++i) {
        json += (i ? ",\"" : "\"");
        tmpl::append_json_escaped(json, perms[i]);
        json += "\"";
      }
      json += "]";
    }
    for (const std::string& claim : claims) {
      size_t equals = claim.find('=');
      if (equals == std::string::npos || equals == 0) {
        std::cerr << "--claim must be k=v\n";
        return 2;
      }
      json += ",\"";
      tmpl::append_json_escaped(json, claim.substr(0, equals));
      json += "\":" + claim_json(claim.substr(equals + 1));
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
  options.env_file_required = serve_command->count("--env-file") > 0;
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
