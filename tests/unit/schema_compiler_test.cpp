// An event's `schema:` is compiled once at load; each mistake is a `check` error at the
// file:line:col of the offending key or value.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "config_test_support.h"
#include "dispatch/extension.h"
#include "pipeline/compiled_config.h"
#include "schema/schema_compiler.h"

namespace dispatch::schema {
namespace {

using config::test_support::error_lines;
using config::test_support::load;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

// The schema of the event `e`, written as the lines under `schema:` (indented by 6).
struct Compiled {
  std::optional<Schema> schema;
  std::vector<std::string> errors;  // load and compile errors, "test.yaml:line:col: message"
};

Compiled compile(const std::string& schema_lines) {
  const std::string yaml = "events:\n  e:\n    schema:\n" + schema_lines;
  config::LoadResult loaded = load(yaml);
  Compiled out;
  out.errors = error_lines(loaded);
  if (!loaded.config) return out;
  std::vector<config::ConfigError> errors;
  out.schema = compile_schema(*loaded.config->events.at(0).schema, "events.e.schema", errors);
  for (const auto& error : errors) out.errors.push_back(config::format_error(error));
  return out;
}

TEST(SchemaCompiler, TheSpecExampleCompiles) {
  const Compiled compiled = compile(R"(      type: object
      required: [message]
      properties: { message: { type: string, maxLength: 2000 } }
)");
  EXPECT_THAT(compiled.errors, IsEmpty());
  ASSERT_TRUE(compiled.schema);
  ASSERT_EQ(compiled.schema->nodes.size(), 2u);
  const SchemaNode& root = compiled.schema->nodes[0];
  EXPECT_EQ(root.types, type_object);
  ASSERT_EQ(root.properties.size(), 1u);
  EXPECT_EQ(root.properties[0].name, "message");
  EXPECT_EQ(root.properties[0].required_bit, 0);
  EXPECT_EQ(root.required_mask, 1u);
  EXPECT_EQ(compiled.schema->nodes[1].max_length, 2000u);
}

TEST(SchemaCompiler, UnknownKeywordsAreErrorsAtTheKeyWithAHint) {
  EXPECT_THAT(compile("      type: string\n      maxlength: 3\n").errors,
              ElementsAre("test.yaml:5:7: `events.e.schema`: unknown schema keyword `maxlength` "
                          "(did you mean `maxLength`?) (supported: type, properties, required, "
                          "enum, minLength, maxLength, minimum, maximum, maxItems, items, "
                          "additionalProperties, description, title)"));
  // Keywords outside the subset are refused, not ignored.
  EXPECT_THAT(compile("      pattern: \"^a\"\n").errors,
              ElementsAre(::testing::StartsWith(
                  "test.yaml:4:7: `events.e.schema`: unknown schema keyword `pattern`")));
}

TEST(SchemaCompiler, KeywordValuesOfTheWrongKindAreErrorsAtTheValue) {
  EXPECT_THAT(compile("      type: strng\n").errors,
              ElementsAre("test.yaml:4:13: `events.e.schema.type`: expected object, array, "
                          "string, number, integer, boolean or null, got `strng` (did you mean "
                          "`string`?)"));
  EXPECT_THAT(compile("      maxLength: -1\n").errors,
              ElementsAre("test.yaml:4:18: `events.e.schema.maxLength`: expected a whole number, "
                          "0 or more, got `-1`"));
  EXPECT_THAT(compile("      maxItems: \"3\"\n").errors,
              ElementsAre("test.yaml:4:17: `events.e.schema.maxItems`: expected a whole number, "
                          "0 or more, got `3`"));
  EXPECT_THAT(compile("      minimum: ten\n").errors,
              ElementsAre("test.yaml:4:16: `events.e.schema.minimum`: expected a number like 0, "
                          "-5 or 2.5, got `ten`"));
  EXPECT_THAT(compile("      required: message\n").errors,
              ElementsAre("test.yaml:4:17: `events.e.schema.required`: expected a list of "
                          "property names like [message], got `message`"));
  EXPECT_THAT(compile("      enum: []\n").errors,
              ElementsAre("test.yaml:4:13: `events.e.schema.enum`: expected a non-empty list of "
                          "values, got a list"));
  EXPECT_THAT(compile("      enum: [a, [b]]\n").errors,
              ElementsAre("test.yaml:4:17: `events.e.schema.enum[1]`: expected a single value (a "
                          "string, a number, true, false or null), got a list"));
  EXPECT_THAT(compile("      additionalProperties: {type: string}\n").errors,
              ElementsAre("test.yaml:4:29: `events.e.schema.additionalProperties`: only true or "
                          "false is supported (not a schema for the other properties)"));
  EXPECT_THAT(compile("      additionalProperties: no\n").errors,
              ElementsAre("test.yaml:4:29: `events.e.schema.additionalProperties`: expected true "
                          "or false, got `no`"));
  EXPECT_THAT(compile("      items: [{type: string}]\n").errors,
              ElementsAre("test.yaml:4:14: `events.e.schema.items`: a list of schemas (one per "
                          "position) is not supported; give one schema that every item must "
                          "satisfy"));
  EXPECT_THAT(compile("      properties: { a: string }\n").errors,
              ElementsAre("test.yaml:4:24: `events.e.schema.properties.a`: expected a schema (a "
                          "mapping such as {type: string}; {} for any value), got a single value"));
  EXPECT_THAT(compile("      required: [a, a]\n").errors,
              ElementsAre("test.yaml:4:21: `events.e.schema.required[1]`: `a` is listed twice"));
}

TEST(SchemaCompiler, ASchemaMustBeAMapping) {
  EXPECT_THAT(compile("      - type\n").errors,
              ElementsAre("test.yaml:4:7: `events.e.schema`: expected a schema (a mapping such "
                          "as {type: string}; {} for any value), got a list"));
}

TEST(SchemaCompiler, MinAboveMaxIsAnErrorAtTheMin) {
  EXPECT_THAT(compile("      maxLength: 3\n      minLength: 5\n").errors,
              ElementsAre("test.yaml:5:7: `events.e.schema`: minLength (5) is greater than "
                          "maxLength (3)"));
  EXPECT_THAT(compile("      minimum: 2.5\n      maximum: 2\n").errors,
              ElementsAre("test.yaml:4:7: `events.e.schema`: minimum (2.5) is greater than "
                          "maximum (2)"));
  EXPECT_THAT(compile("      minimum: 2\n      maximum: 2\n").errors, IsEmpty());
}

TEST(SchemaCompiler, KeywordsThatCannotApplyToTheDeclaredTypeAreErrors) {
  EXPECT_THAT(compile("      type: integer\n      maxLength: 3\n").errors,
              ElementsAre("test.yaml:5:7: `events.e.schema`: `maxLength` applies only to "
                          "strings, and this schema's type is an integer"));
  EXPECT_THAT(compile("      type: [string, \"null\"]\n      required: [a]\n").errors,
              ElementsAre("test.yaml:5:7: `events.e.schema`: `required` applies only to "
                          "objects, and this schema's type is a string or null"));
  EXPECT_THAT(compile("      type: integer\n      enum: [1, 2.5, x]\n").errors,
              ElementsAre("test.yaml:5:17: `events.e.schema.enum[1]`: `2.5` is not an integer, "
                          "so it can never match",
                          "test.yaml:5:22: `events.e.schema.enum[2]`: `x` is not an integer, so "
                          "it can never match"));
  // Without `type`, a keyword checks only values of its own type (as in JSON Schema).
  EXPECT_THAT(compile("      maxLength: 3\n      minimum: 1\n").errors, IsEmpty());
}

TEST(SchemaCompiler, RequiredNamesOutsidePropertiesAreFineUnlessAdditionalPropertiesIsFalse) {
  EXPECT_THAT(compile("      required: [a]\n").errors, IsEmpty());
  EXPECT_THAT(compile("      required: [a, b]\n      properties: {a: {}}\n"
                      "      additionalProperties: false\n")
                  .errors,
              ElementsAre("test.yaml:4:21: `events.e.schema.required[1]`: `b` is not under "
                          "`properties`, and additionalProperties is false, so no payload could "
                          "pass"));
}

TEST(SchemaCompiler, NullTypeAndUnquotedScalarsInEnumAreJsonValues) {
  const Compiled compiled = compile(
      "      type: [string, null]\n"
      "      enum: [\"null\", null, \"1\", 1, true, \"true\"]\n");
  ASSERT_THAT(compiled.errors, ElementsAre("test.yaml:5:33: `events.e.schema.enum[3]`: `1` is not "
                                           "a string or null, so it can never match",
                                           "test.yaml:5:36: `events.e.schema.enum[4]`: `true` is "
                                           "not a string or null, so it can never match"));
  const Compiled any = compile("      enum: [\"null\", null, \"1\", 1, true, \"true\"]\n");
  ASSERT_TRUE(any.schema);
  const auto& values = any.schema->nodes[0].enum_values;
  ASSERT_EQ(values.size(), 6u);
  EXPECT_EQ(values[0].kind, EnumValue::Kind::string);
  EXPECT_EQ(values[1].kind, EnumValue::Kind::null);
  EXPECT_EQ(values[2].kind, EnumValue::Kind::string);
  EXPECT_EQ(values[3].kind, EnumValue::Kind::number);
  EXPECT_EQ(values[4].kind, EnumValue::Kind::boolean);
  EXPECT_EQ(values[5].kind, EnumValue::Kind::string);
}

TEST(SchemaCompiler, DepthAndSizeAreBounded) {
  std::string deep;
  for (size_t i = 0; i <= schema_limits.max_depth; ++i) deep += "{items: ";
  deep += "{}";
  for (size_t i = 0; i <= schema_limits.max_depth; ++i) deep += "}";
  const Compiled compiled = compile("      items: " + deep + "\n");
  ASSERT_EQ(compiled.errors.size(), 1u);
  EXPECT_THAT(compiled.errors[0], ::testing::HasSubstr("schemas nested more than 32 levels deep"));

  std::string wide = "      properties:\n";
  for (size_t i = 0; i <= schema_limits.max_nodes; ++i) {
    wide += "        p" + std::to_string(i) + ": {}\n";
  }
  const Compiled large = compile(wide);
  ASSERT_FALSE(large.errors.empty());
  EXPECT_THAT(large.errors[0], ::testing::HasSubstr("more than"));
}

TEST(SchemaCompiler, YamlAliasesCannotExpandASchemaWithoutBound) {
  // Each level doubles the tree: 2^20 nodes if the aliases were expanded.
  std::string schema = "      properties:\n        a: &a0 {type: string}\n";
  for (int i = 1; i <= 20; ++i) {
    schema += "        b" + std::to_string(i) + ": &a" + std::to_string(i) +
              " {properties: {l: *a" + std::to_string(i - 1) + ", r: *a" + std::to_string(i - 1) +
              "}}\n";
  }
  const Compiled compiled = compile(schema);
  ASSERT_FALSE(compiled.errors.empty());
  EXPECT_THAT(compiled.errors[0], ::testing::HasSubstr("too large (more than 2000 YAML nodes)"));
}

}  // namespace
}  // namespace dispatch::schema

namespace dispatch {
namespace {

// `dispatch check` and `serve` compile configs through CompiledConfig: a schema error is one of
// its errors, and an event with a schema gets it on its Pipeline (one without, none).
TEST(SchemaCompiler, CompiledConfigReportsSchemaErrorsAndKeepsTheSchema) {
  StepRegistry registry;
  register_builtin_steps(registry);
  auto load = [](const char* yaml) {
    config::LoadResult loaded = config::test_support::load(yaml);
    EXPECT_THAT(config::test_support::error_lines(loaded), ::testing::IsEmpty());
    return std::move(*loaded.config);
  };
  std::vector<config::ConfigError> errors;
  EXPECT_EQ(CompiledConfig::compile(load("events:\n  e:\n    schema: {type: [integr]}\n"), registry,
                                    errors),
            nullptr);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(config::format_error(errors[0]),
            "test.yaml:3:21: `events.e.schema.type[0]`: expected object, array, string, number, "
            "integer, boolean or null, got `integr` (did you mean `integer`?)");

  errors.clear();
  auto compiled = CompiledConfig::compile(
      load("events:\n  with:\n    schema: {type: object}\n  without:\n    actions: []\n"), registry,
      errors);
  ASSERT_NE(compiled, nullptr);
  EXPECT_NE(compiled->find_event("with")->schema, nullptr);
  EXPECT_EQ(compiled->find_event("without")->schema, nullptr);
}

}  // namespace
}  // namespace dispatch
