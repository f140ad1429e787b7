// A compiled payload schema (SPEC section 2, `events.<name>.schema`): the JSON Schema subset
// type, properties, required, enum, minLength/maxLength, minimum/maximum, maxItems,
// additionalProperties (a boolean) and items, as a small tree built once at load
// (schema_compiler.h) and walked per message (schema_validator.h).
//
// Nodes live in one vector and point at their children by index; node 0 is the root. The tree
// is bounded by the compiler (schema_limits below), and validation recurses only where the
// schema has a child, so its depth is the schema's, never the payload's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace dispatch::schema {

// What a schema may hold; beyond these, `dispatch check` reports the schema as too large.
struct SchemaLimits {
  size_t max_depth = 32;         // levels of nested schemas (properties / items)
  size_t max_nodes = 1000;       // schemas in one event's tree
  size_t max_enum_values = 256;  // per `enum`
  size_t max_required = 64;      // names per `required`
};
inline constexpr SchemaLimits schema_limits{};

// JSON types as bits of a set; `number` includes integers.
enum TypeBit : uint8_t {
  type_object = 1 << 0,
  type_array = 1 << 1,
  type_string = 1 << 2,
  type_number = 1 << 3,
  type_integer = 1 << 4,
  type_boolean = 1 << 5,
  type_null = 1 << 6,
};
using TypeSet = uint8_t;  // 0 = any type

// A JSON number as written: integers exactly, others as the double a JSON parser reads.
struct Number {
  enum class Kind { int64, uint64, floating };
  Kind kind = Kind::int64;
  int64_t int_value = 0;
  uint64_t uint_value = 0;
  double double_value = 0;

  // Exact for every int64, uint64 and double (long double holds a 64-bit mantissa on x86-64;
  // on targets where it is double, integers beyond 2^53 compare rounded).
  long double value() const {
    switch (kind) {
      case Kind::int64:
        return static_cast<long double>(int_value);
      case Kind::uint64:
        return static_cast<long double>(uint_value);
      case Kind::floating:
        break;
    }
    return static_cast<long double>(double_value);
  }
};

struct EnumValue {
  enum class Kind { string, number, boolean, null };
  Kind kind = Kind::null;
  std::string text;  // string: the value; others: as written, for messages
  Number number;
  bool boolean = false;
};

struct Property {
  std::string name;
  int32_t node = -1;          // its schema, or -1 (named only by `required`)
  int32_t required_bit = -1;  // its bit in SchemaNode::required_mask, or -1
};

struct SchemaNode {
  TypeSet types = 0;
  std::optional<uint64_t> min_length;  // in Unicode code points
  std::optional<uint64_t> max_length;
  std::optional<Number> minimum;
  std::optional<Number> maximum;
  std::string minimum_text;  // as written, for messages
  std::string maximum_text;
  std::optional<uint64_t> max_items;
  int32_t items = -1;                 // schema of every item, or -1
  std::vector<Property> properties;   // sorted by name (binary search)
  std::vector<std::string> required;  // as written, for messages (bit i = required[i])
  uint64_t required_mask = 0;
  bool additional_properties = true;
  bool has_enum = false;
  std::vector<EnumValue> enum_values;
};

struct Schema {
  std::vector<SchemaNode> nodes;  // nodes[0] is the root
};

// "an object", "a string or null": a type set in words, for messages.
std::string describe_types(TypeSet types);

}  // namespace dispatch::schema
