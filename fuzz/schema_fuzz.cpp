// libFuzzer target: a payload schema and a payload from one input, split at the first line
// "%%": the part before is the schema in YAML (as under `events.<name>.schema:`), the part after
// a JSON payload. The schema is compiled as the loader would; when it compiles, the payload is
// checked. It must never crash, and a violation must name a keyword and a JSON Pointer.
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "config/environment.h"
#include "config/raw_node_reader.h"
#include "config/value_reader.h"
#include "schema/schema_compiler.h"
#include "schema/schema_validator.h"

namespace {

void check_violation(const std::optional<dispatch::schema::SchemaViolation>& violation) {
  if (!violation) return;
  if (violation->rule.empty() || violation->message.empty()) std::abort();
  if (!violation->path.empty() && violation->path[0] != '/') std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t split = input.find("\n%%\n");
  const std::string_view schema_text = input.substr(0, split);
  const std::string_view payload_text =
      split == std::string_view::npos ? std::string_view() : input.substr(split + 4);

  YAML::Node node;
  try {
    node = YAML::Load(std::string(schema_text));
  } catch (const YAML::Exception&) {
    return 0;
  }
  static const dispatch::config::Environment environment({{"X", "string"}}, false);
  std::vector<dispatch::config::ConfigError> errors;
  dispatch::config::ValueReader reader("fuzz.yaml", environment, errors);
  std::optional<dispatch::config::RawNode> raw;
  try {
    raw = dispatch::config::read_raw_node(reader, node, "schema");
  } catch (const YAML::Exception&) {
    return 0;
  }
  if (!raw) {
    if (errors.empty()) std::abort();
    return 0;
  }
  const auto schema = dispatch::schema::compile_schema(*raw, "schema", errors);
  if (!schema) {
    if (errors.empty()) std::abort();
    return 0;
  }
  if (!errors.empty()) std::abort();

  check_violation(dispatch::schema::validate_missing_payload(*schema));
  static simdjson::dom::parser parser;
  simdjson::padded_string padded(payload_text.data(), payload_text.size());
  simdjson::dom::element payload;
  if (parser.parse(padded).get(payload)) return 0;
  check_violation(dispatch::schema::validate(*schema, payload));
  return 0;
}
