#include "schema/schema_validator.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "schema/json_pointer.h"

namespace dispatch::schema {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// One step of the path to the value being checked, on the stack: nothing is built unless a
// check fails.
struct PathLink {
  const PathLink* parent = nullptr;
  std::string_view key;  // a member name, or
  size_t index = 0;      // an array index when is_index
  bool is_index = false;
};

std::string pointer_of(const PathLink* link) {
  std::vector<const PathLink*> chain;
  for (; link; link = link->parent) chain.push_back(link);
  std::string pointer;
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    if ((*it)->is_index) {
      append_pointer_token(pointer, std::to_string((*it)->index));
    } else {
      append_pointer_token(pointer, (*it)->key);
    }
  }
  return pointer;
}

TypeSet types_of(element value) {
  switch (value.type()) {
    case element_type::ARRAY:
      return type_array;
    case element_type::OBJECT:
      return type_object;
    case element_type::INT64:
    case element_type::UINT64:
      return type_number | type_integer;
    case element_type::DOUBLE: {
      const double d = value.get_double().value_unsafe();
      return std::floor(d) == d ? type_number | type_integer : type_number;
    }
    case element_type::STRING:
      return type_string;
    case element_type::BOOL:
      return type_boolean;
    case element_type::NULL_VALUE:
      return type_null;
  }
  return 0;
}

std::string_view describe_value(element value) {
  switch (value.type()) {
    case element_type::ARRAY:
      return "an array";
    case element_type::OBJECT:
      return "an object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "a number";
    case element_type::STRING:
      return "a string";
    case element_type::BOOL:
      return "a boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "a value";
}

long double number_of(element value) {
  switch (value.type()) {
    case element_type::INT64:
      return static_cast<long double>(value.get_int64().value_unsafe());
    case element_type::UINT64:
      return static_cast<long double>(value.get_uint64().value_unsafe());
    default:
      break;
  }
  return static_cast<long double>(value.get_double().value_unsafe());
}

std::string number_text(element value) {
  switch (value.type()) {
    case element_type::INT64:
      return std::to_string(value.get_int64().value_unsafe());
    case element_type::UINT64:
      return std::to_string(value.get_uint64().value_unsafe());
    default:
      break;
  }
  return fmt::format("{}", value.get_double().value_unsafe());
}

bool is_number(element_type type) {
  return type == element_type::INT64 || type == element_type::UINT64 ||
         type == element_type::DOUBLE;
}

bool enum_matches(const EnumValue& entry, element value) {
  const element_type type = value.type();
  switch (entry.kind) {
    case EnumValue::Kind::string:
      return type == element_type::STRING && value.get_string().value_unsafe() == entry.text;
    case EnumValue::Kind::number:
      return is_number(type) && number_of(value) == entry.number.value();
    case EnumValue::Kind::boolean:
      return type == element_type::BOOL && value.get_bool().value_unsafe() == entry.boolean;
    case EnumValue::Kind::null:
      return type == element_type::NULL_VALUE;
  }
  return false;
}

std::string enum_list(const SchemaNode& node) {
  constexpr size_t kShown = 8;
  std::string out;
  for (size_t i = 0; i < node.enum_values.size() && i < kShown; ++i) {
    if (i > 0) out += ", ";
    const EnumValue& entry = node.enum_values[i];
    if (entry.kind == EnumValue::Kind::string) {
      out += "\"" + entry.text + "\"";
    } else {
      out += entry.text;
    }
  }
  if (node.enum_values.size() > kShown) out += ", ...";
  return out;
}

std::string plural(uint64_t count, std::string_view word) {
  return std::to_string(count) + " " + std::string(word) + (count == 1 ? "" : "s");
}

class Validator {
 public:
  explicit Validator(const Schema& schema) : schema_(schema) {}

  std::optional<SchemaViolation> run(element payload) {
    if (check(schema_.nodes.front(), payload, nullptr)) return std::nullopt;
    return std::move(violation_);
  }

 private:
  // The message names `at` too, except for `required`: it names the object that lacks it.
  bool fail(const PathLink* at, std::string_view rule, std::string_view what) {
    SchemaViolation violation;
    violation.path = pointer_of(at);
    violation.rule = rule;
    const std::string where = rule == "required" && at ? pointer_of(at->parent) : violation.path;
    violation.message = fmt::format("payload{}: {}", where, what);
    violation_ = std::move(violation);
    return false;
  }

  bool check(const SchemaNode& node, element value, const PathLink* at) {
    if (node.types != 0 && !(node.types & types_of(value))) {
      return fail(
          at, "type",
          fmt::format("expected {}, got {}", describe_types(node.types), describe_value(value)));
    }
    if (node.has_enum) {
      const bool found =
          std::any_of(node.enum_values.begin(), node.enum_values.end(),
                      [&](const EnumValue& entry) { return enum_matches(entry, value); });
      if (!found) return fail(at, "enum", "expected one of " + enum_list(node));
    }
    switch (value.type()) {
      case element_type::STRING:
        return check_string(node, value.get_string().value_unsafe(), at);
      case element_type::INT64:
      case element_type::UINT64:
      case element_type::DOUBLE:
        return check_number(node, value, at);
      case element_type::ARRAY:
        return check_array(node, value.get_array().value_unsafe(), at);
      case element_type::OBJECT:
        return check_object(node, value.get_object().value_unsafe(), at);
      default:
        return true;
    }
  }

  bool check_string(const SchemaNode& node, std::string_view text, const PathLink* at) {
    if (!node.min_length && !node.max_length) return true;
    const size_t length = code_point_count(text);
    if (node.min_length && length < *node.min_length) {
      return fail(at, "minLength",
                  fmt::format("expected at least {}, got {}", plural(*node.min_length, "character"),
                              length));
    }
    if (node.max_length && length > *node.max_length) {
      return fail(at, "maxLength",
                  fmt::format("expected at most {}, got {}", plural(*node.max_length, "character"),
                              length));
    }
    return true;
  }

  bool check_number(const SchemaNode& node, element value, const PathLink* at) {
    if (!node.minimum && !node.maximum) return true;
    const long double number = number_of(value);
    if (node.minimum && number < node.minimum->value()) {
      return fail(at, "minimum",
                  fmt::format("expected a number of at least {}, got {}", node.minimum_text,
                              number_text(value)));
    }
    if (node.maximum && number > node.maximum->value()) {
      return fail(at, "maximum",
                  fmt::format("expected a number of at most {}, got {}", node.maximum_text,
                              number_text(value)));
    }
    return true;
  }

  bool check_array(const SchemaNode& node, simdjson::dom::array array, const PathLink* at) {
    if (node.max_items) {
      const size_t size = array.size();
      if (size > *node.max_items) {
        return fail(
            at, "maxItems",
            fmt::format("expected at most {}, got {}", plural(*node.max_items, "item"), size));
      }
    }
    if (node.items < 0) return true;
    const SchemaNode& items = schema_.nodes[static_cast<size_t>(node.items)];
    PathLink link{at, {}, 0, true};
    for (element item : array) {
      if (!check(items, item, &link)) return false;
      ++link.index;
    }
    return true;
  }

  const Property* find_property(const SchemaNode& node, std::string_view name) const {
    const auto found = std::lower_bound(
        node.properties.begin(), node.properties.end(), name,
        [](const Property& property, std::string_view key) { return property.name < key; });
    if (found == node.properties.end() || found->name != name) return nullptr;
    return &*found;
  }

  bool check_object(const SchemaNode& node, simdjson::dom::object object, const PathLink* at) {
    if (node.properties.empty() && node.additional_properties) return true;
    uint64_t seen = 0;
    for (auto field : object) {
      const Property* property = find_property(node, field.key);
      PathLink link{at, field.key, 0, false};
      if (!property) {
        if (!node.additional_properties) {
          return fail(&link, "additionalProperties",
                      "this property is not allowed (the schema lists the allowed ones)");
        }
        continue;
      }
      if (property->required_bit >= 0) seen |= uint64_t{1} << property->required_bit;
      if (property->node >= 0 &&
          !check(schema_.nodes[static_cast<size_t>(property->node)], field.value, &link)) {
        return false;
      }
    }
    if (const uint64_t missing = node.required_mask & ~seen; missing != 0) {
      // The first missing name in the order `required` lists them.
      size_t bit = 0;
      while (!(missing & (uint64_t{1} << bit))) ++bit;
      const std::string& name = node.required[bit];
      PathLink link{at, name, 0, false};
      return fail(&link, "required", "the required property `" + name + "` is missing");
    }
    return true;
  }

  const Schema& schema_;
  std::optional<SchemaViolation> violation_;
};

}  // namespace

std::optional<SchemaViolation> validate(const Schema& schema, element payload) {
  if (schema.nodes.empty()) return std::nullopt;
  return Validator(schema).run(payload);
}

std::optional<SchemaViolation> validate_missing_payload(const Schema& schema) {
  // Parsed once per thread; the element stays valid while this parser parses nothing else.
  thread_local simdjson::dom::parser parser;
  thread_local element null_value = parser.parse("null", 4, true).value_unsafe();
  return validate(schema, null_value);
}

size_t code_point_count(std::string_view utf8) {
  size_t count = 0;
  for (char c : utf8) count += (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  return count;
}

}  // namespace dispatch::schema
