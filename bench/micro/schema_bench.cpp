// One payload schema check (Pipeline::check_payload's work) on a typical chat payload, against
// the SPEC's example schema, next to the parse of the same payload (the baseline every message
// pays anyway): a payload that passes, and one that fails (the cost of building the error's
// path and message).
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <optional>
#include <string>

#include "config/environment.h"
#include "config/loader.h"
#include "schema/schema_compiler.h"
#include "schema/schema_validator.h"

namespace {

const dispatch::schema::Schema& spec_schema() {
  static const dispatch::schema::Schema schema = [] {
    const dispatch::config::Environment environment(
        {{"DISPATCH_JWT_SECRET", "0123456789abcdef0123456789abcdef"}}, false);
    auto loaded = dispatch::config::load_config_text(R"(
events:
  send_message:
    schema:
      type: object
      required: [message]
      properties: { message: { type: string, maxLength: 2000 } }
)",
                                                     "bench.yaml", environment);
    std::vector<dispatch::config::ConfigError> errors;
    return *dispatch::schema::compile_schema(*loaded.config->events.at(0).schema,
                                             "events.send_message.schema", errors);
  }();
  return schema;
}

void run_parse_only(benchmark::State& state, const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::padded_string input(json);
  for (auto _ : state) {
    simdjson::dom::element root;
    benchmark::DoNotOptimize(parser.parse(input.data(), input.size(), false).get(root));
  }
}

void run_check(benchmark::State& state, const std::string& json, bool should_pass) {
  const dispatch::schema::Schema& schema = spec_schema();
  simdjson::dom::parser parser;
  simdjson::padded_string input(json);
  simdjson::dom::element payload;
  if (parser.parse(input).get(payload)) state.SkipWithError("payload does not parse");
  for (auto _ : state) {
    auto violation = dispatch::schema::validate(schema, payload);
    if (violation.has_value() == should_pass) state.SkipWithError("unexpected outcome");
    benchmark::DoNotOptimize(violation);
  }
}

const std::string kPasses = R"({"message":"hi there"})";
const std::string kFails = R"({"message":7})";

void SchemaParsePayloadOnly(benchmark::State& state) {
  run_parse_only(state, kPasses);
}
void SchemaCheckPasses(benchmark::State& state) {
  run_check(state, kPasses, true);
}
void SchemaCheckFails(benchmark::State& state) {
  run_check(state, kFails, false);
}

}  // namespace

BENCHMARK(SchemaParsePayloadOnly);
BENCHMARK(SchemaCheckPasses);
BENCHMARK(SchemaCheckFails);
