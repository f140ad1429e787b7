#include "schema/schema_compiler.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <string_view>

#include "config/suggestion.h"
#include "config/value_reader.h"

namespace dispatch::schema {

namespace {

using config::RawNode;

const std::vector<std::string>& keywords() {
  static const std::vector<std::string> kKeywords = {
      "type",
      "properties",
      "required",
      "enum",
      "minLength",
      "maxLength",
      "minimum",
      "maximum",
      "maxItems",
      "items",
      "additionalProperties",
      "description",
      "title",
  };
  return kKeywords;
}

const std::vector<std::string>& type_names() {
  static const std::vector<std::string> kNames = {"object",  "array",   "string", "number",
                                                  "integer", "boolean", "null"};
  return kNames;
}

std::optional<TypeBit> type_bit(std::string_view name) {
  if (name == "object") return type_object;
  if (name == "array") return type_array;
  if (name == "string") return type_string;
  if (name == "number") return type_number;
  if (name == "integer") return type_integer;
  if (name == "boolean") return type_boolean;
  if (name == "null") return type_null;
  return std::nullopt;
}

std::string_view describe_raw(const RawNode& node) {
  switch (node.kind) {
    case RawNode::Kind::null:
      return "nothing";
    case RawNode::Kind::scalar:
      return "a single value";
    case RawNode::Kind::sequence:
      return "a list";
    case RawNode::Kind::mapping:
      return "a mapping";
  }
  return "nothing";
}

bool is_plain(const RawNode& node, std::string_view a, std::string_view b, std::string_view c) {
  return node.kind == RawNode::Kind::scalar && !node.quoted &&
         (node.text == a || node.text == b || node.text == c);
}

bool is_true(const RawNode& node) {
  return is_plain(node, "true", "True", "TRUE");
}
bool is_false(const RawNode& node) {
  return is_plain(node, "false", "False", "FALSE");
}
bool is_null(const RawNode& node) {
  return node.kind == RawNode::Kind::null || is_plain(node, "null", "Null", "NULL") ||
         is_plain(node, "~", "~", "~");
}

// A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool is_json_number_text(std::string_view text, bool& integral) {
  size_t i = 0;
  integral = true;
  auto digits = [&] {
    const size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    return i > start;
  };
  if (i < text.size() && text[i] == '-') ++i;
  if (i < text.size() && text[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < text.size() && text[i] == '.') {
    integral = false;
    ++i;
    if (!digits()) return false;
  }
  if (i < text.size() && (text[i] == 'e' || text[i] == 'E')) {
    integral = false;
    ++i;
    if (i < text.size() && (text[i] == '+' || text[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == text.size();
}

std::optional<Number> parse_number(std::string_view text) {
  bool integral = false;
  if (!is_json_number_text(text, integral)) return std::nullopt;
  const char* begin = text.data();
  const char* end = text.data() + text.size();
  Number number;
  if (integral) {
    if (std::from_chars(begin, end, number.int_value).ec == std::errc{}) {
      number.kind = Number::Kind::int64;
      return number;
    }
    if (text[0] != '-' && std::from_chars(begin, end, number.uint_value).ec == std::errc{}) {
      number.kind = Number::Kind::uint64;
      return number;
    }
  }
  number.kind = Number::Kind::floating;
  const auto parsed = std::from_chars(begin, end, number.double_value);
  if (parsed.ec != std::errc{} || !std::isfinite(number.double_value)) return std::nullopt;
  return number;
}

class Compiler {
 public:
  Compiler(Schema& schema, std::vector<config::ConfigError>& errors)
      : schema_(schema), errors_(errors) {}

  bool failed() const { return failed_; }

  // The index of the compiled node, or -1 (reported).
  int32_t compile(const RawNode& raw, const std::string& path, size_t depth) {
    if (raw.kind != RawNode::Kind::mapping) {
      error(raw.mark, "`" + path + "`: expected a schema (a mapping such as {type: string}; {} " +
                          "for any value), got " + std::string(describe_raw(raw)));
      return -1;
    }
    if (depth >= schema_limits.max_depth) {
      error(raw.mark, "`" + path + "`: schemas nested more than " +
                          std::to_string(schema_limits.max_depth) + " levels deep");
      return -1;
    }
    if (schema_.nodes.size() >= schema_limits.max_nodes) {
      error(raw.mark, "`" + path + "`: the schema has more than " +
                          std::to_string(schema_limits.max_nodes) + " nested schemas");
      return -1;
    }
    const auto index = static_cast<int32_t>(schema_.nodes.size());
    schema_.nodes.emplace_back();
    SchemaNode node;
    Keys keys;
    for (size_t i = 0; i < raw.keys.size(); ++i) {
      const std::string& keyword = raw.keys[i];
      const RawNode& value = raw.items[i];
      const config::SourceMark& key_mark = raw.key_marks[i];
      const std::string key_path = path + "." + keyword;
      if (keyword == "type") {
        keys.type = key_mark;
        read_type(value, key_path, node);
      } else if (keyword == "properties") {
        keys.properties = key_mark;
        read_properties(value, key_path, depth, node);
      } else if (keyword == "required") {
        keys.required = key_mark;
        keys.required_value = &value;
        read_required(value, key_path, node);
      } else if (keyword == "enum") {
        keys.enum_key = key_mark;
        keys.enum_value = &value;
        read_enum(value, key_path, node);
      } else if (keyword == "minLength") {
        keys.min_length = key_mark;
        node.min_length = read_count(value, key_path);
      } else if (keyword == "maxLength") {
        keys.max_length = key_mark;
        node.max_length = read_count(value, key_path);
      } else if (keyword == "maxItems") {
        keys.max_items = key_mark;
        node.max_items = read_count(value, key_path);
      } else if (keyword == "minimum") {
        keys.minimum = key_mark;
        node.minimum = read_number(value, key_path, node.minimum_text);
      } else if (keyword == "maximum") {
        keys.maximum = key_mark;
        node.maximum = read_number(value, key_path, node.maximum_text);
      } else if (keyword == "items") {
        keys.items = key_mark;
        if (value.kind == RawNode::Kind::sequence) {
          error(value.mark, "`" + key_path +
                                "`: a list of schemas (one per position) is not supported; "
                                "give one schema that every item must satisfy");
        } else {
          node.items = compile(value, key_path, depth + 1);
        }
      } else if (keyword == "additionalProperties") {
        keys.additional_properties = key_mark;
        if (is_true(value)) {
          node.additional_properties = true;
        } else if (is_false(value)) {
          node.additional_properties = false;
        } else if (value.kind == RawNode::Kind::mapping) {
          error(value.mark, "`" + key_path +
                                "`: only true or false is supported (not a schema for the "
                                "other properties)");
        } else {
          value_error(value, key_path, "expected true or false");
        }
      } else if (keyword == "description" || keyword == "title") {
        if (value.kind != RawNode::Kind::scalar) {
          error(value.mark,
                "`" + key_path + "`: expected text, got " + std::string(describe_raw(value)));
        }
      } else {
        error(key_mark, "`" + path + "`: unknown schema keyword `" + keyword + "`" +
                            config::did_you_mean_hint(keyword, keywords()) +
                            " (supported: type, properties, required, enum, minLength, "
                            "maxLength, minimum, maximum, maxItems, items, "
                            "additionalProperties, description, title)");
      }
    }
    check_consistency(path, keys, node);
    schema_.nodes[static_cast<size_t>(index)] = std::move(node);
    return index;
  }

 private:
  // Where each keyword was written in one schema, for the checks that involve several.
  struct Keys {
    std::optional<config::SourceMark> type, properties, required, enum_key, min_length, max_length,
        max_items, minimum, maximum, items, additional_properties;
    const RawNode* required_value = nullptr;
    const RawNode* enum_value = nullptr;
  };

  void error(const config::SourceMark& mark, std::string message) {
    errors_.push_back({mark, std::move(message)});
    failed_ = true;
  }

  void value_error(const RawNode& value, const std::string& path, std::string_view problem) {
    if (value.kind == RawNode::Kind::scalar) {
      error(value.mark, "`" + path + "`: " + config::with_offending_text(problem, value.text));
    } else {
      error(value.mark, "`" + path + "`: " + std::string(problem) + ", got " +
                            std::string(describe_raw(value)));
    }
  }

  void add_type(const RawNode& value, const std::string& path, SchemaNode& node) {
    if (is_null(value)) {
      node.types |= type_null;
      return;
    }
    if (value.kind != RawNode::Kind::scalar) {
      value_error(value, path, "expected a type name");
      return;
    }
    const auto bit = type_bit(value.text);
    if (!bit) {
      error(value.mark, "`" + path + "`: " +
                            config::with_offending_text(
                                "expected object, array, string, number, integer, boolean or null",
                                value.text) +
                            config::did_you_mean_hint(value.text, type_names()));
      return;
    }
    node.types |= *bit;
  }

  void read_type(const RawNode& value, const std::string& path, SchemaNode& node) {
    if (value.kind == RawNode::Kind::sequence) {
      if (value.items.empty()) {
        error(value.mark, "`" + path + "`: the list of types is empty");
        return;
      }
      for (size_t i = 0; i < value.items.size(); ++i) {
        add_type(value.items[i], path + "[" + std::to_string(i) + "]", node);
      }
      return;
    }
    add_type(value, path, node);
  }

  void read_properties(const RawNode& value, const std::string& path, size_t depth,
                       SchemaNode& node) {
    if (value.kind == RawNode::Kind::null) return;
    if (value.kind != RawNode::Kind::mapping) {
      value_error(value, path, "expected a mapping of property names to schemas");
      return;
    }
    for (size_t i = 0; i < value.keys.size(); ++i) {
      Property property;
      property.name = value.keys[i];
      property.node = compile(value.items[i], path + "." + value.keys[i], depth + 1);
      node.properties.push_back(std::move(property));
    }
  }

  void read_required(const RawNode& value, const std::string& path, SchemaNode& node) {
    if (value.kind == RawNode::Kind::null) return;
    if (value.kind != RawNode::Kind::sequence) {
      value_error(value, path, "expected a list of property names like [message]");
      return;
    }
    if (value.items.size() > schema_limits.max_required) {
      error(value.mark,
            "`" + path + "`: more than " + std::to_string(schema_limits.max_required) + " names");
      return;
    }
    for (size_t i = 0; i < value.items.size(); ++i) {
      const RawNode& item = value.items[i];
      const std::string item_path = path + "[" + std::to_string(i) + "]";
      if (item.kind != RawNode::Kind::scalar) {
        value_error(item, item_path, "expected a property name");
        continue;
      }
      if (std::find(node.required.begin(), node.required.end(), item.text) != node.required.end()) {
        error(item.mark, "`" + item_path + "`: `" + item.text + "` is listed twice");
        continue;
      }
      node.required.push_back(item.text);
    }
  }

  void read_enum(const RawNode& value, const std::string& path, SchemaNode& node) {
    if (value.kind != RawNode::Kind::sequence || value.items.empty()) {
      value_error(value, path, "expected a non-empty list of values");
      return;
    }
    if (value.items.size() > schema_limits.max_enum_values) {
      error(value.mark, "`" + path + "`: more than " +
                            std::to_string(schema_limits.max_enum_values) + " values");
      return;
    }
    node.has_enum = true;
    for (size_t i = 0; i < value.items.size(); ++i) {
      const RawNode& item = value.items[i];
      EnumValue entry;
      if (is_null(item)) {
        entry.kind = EnumValue::Kind::null;
        entry.text = "null";
      } else if (item.kind != RawNode::Kind::scalar) {
        value_error(item, path + "[" + std::to_string(i) + "]",
                    "expected a single value (a string, a number, true, false or null)");
        continue;
      } else if (is_true(item) || is_false(item)) {
        entry.kind = EnumValue::Kind::boolean;
        entry.boolean = is_true(item);
        entry.text = entry.boolean ? "true" : "false";
      } else if (auto number = item.quoted ? std::nullopt : parse_number(item.text)) {
        entry.kind = EnumValue::Kind::number;
        entry.number = *number;
        entry.text = item.text;
      } else {
        entry.kind = EnumValue::Kind::string;
        entry.text = item.text;
      }
      node.enum_values.push_back(std::move(entry));
    }
  }

  std::optional<uint64_t> read_count(const RawNode& value, const std::string& path) {
    uint64_t count = 0;
    const bool digits_only = value.kind == RawNode::Kind::scalar && !value.quoted &&
                             !value.text.empty() &&
                             std::all_of(value.text.begin(), value.text.end(),
                                         [](char c) { return c >= '0' && c <= '9'; });
    const char* end = value.text.data() + value.text.size();
    if (!digits_only || std::from_chars(value.text.data(), end, count).ec != std::errc{}) {
      value_error(value, path, "expected a whole number, 0 or more");
      return std::nullopt;
    }
    return count;
  }

  std::optional<Number> read_number(const RawNode& value, const std::string& path,
                                    std::string& text) {
    std::optional<Number> number;
    if (value.kind == RawNode::Kind::scalar && !value.quoted) number = parse_number(value.text);
    if (!number) {
      value_error(value, path, "expected a number like 0, -5 or 2.5");
      return std::nullopt;
    }
    text = value.text;
    return number;
  }

  static bool type_matches(TypeSet types, const EnumValue& value) {
    switch (value.kind) {
      case EnumValue::Kind::string:
        return types & type_string;
      case EnumValue::Kind::boolean:
        return types & type_boolean;
      case EnumValue::Kind::null:
        return types & type_null;
      case EnumValue::Kind::number: {
        if (types & type_number) return true;
        if (!(types & type_integer)) return false;
        const long double v = value.number.value();
        return value.number.kind != Number::Kind::floating || std::floor(v) == v;
      }
    }
    return false;
  }

  void check_consistency(const std::string& path, const Keys& keys, SchemaNode& node) {
    if (node.min_length && node.max_length && *node.min_length > *node.max_length) {
      error(*keys.min_length, "`" + path + "`: minLength (" + std::to_string(*node.min_length) +
                                  ") is greater than maxLength (" +
                                  std::to_string(*node.max_length) + ")");
    }
    if (node.minimum && node.maximum && node.minimum->value() > node.maximum->value()) {
      error(*keys.minimum, "`" + path + "`: minimum (" + node.minimum_text +
                               ") is greater than maximum (" + node.maximum_text + ")");
    }
    if (node.types != 0) {
      auto needs = [&](const std::optional<config::SourceMark>& key, const char* keyword,
                       TypeSet wanted, const char* wanted_words) {
        if (!key || (node.types & wanted)) return;
        error(*key, "`" + path + "`: `" + keyword + "` applies only to " + wanted_words +
                        ", and this schema's type is " + describe_types(node.types));
      };
      needs(keys.min_length, "minLength", type_string, "strings");
      needs(keys.max_length, "maxLength", type_string, "strings");
      needs(keys.minimum, "minimum", type_number | type_integer, "numbers");
      needs(keys.maximum, "maximum", type_number | type_integer, "numbers");
      needs(keys.max_items, "maxItems", type_array, "arrays");
      needs(keys.items, "items", type_array, "arrays");
      needs(keys.properties, "properties", type_object, "objects");
      needs(keys.required, "required", type_object, "objects");
      needs(keys.additional_properties, "additionalProperties", type_object, "objects");
      // (When an item was refused, its siblings' indices no longer match: reported already.)
      if (keys.enum_value && node.has_enum &&
          keys.enum_value->items.size() == node.enum_values.size()) {
        for (size_t i = 0; i < node.enum_values.size(); ++i) {
          if (type_matches(node.types, node.enum_values[i])) continue;
          error(keys.enum_value->items[i].mark,
                "`" + path + ".enum[" + std::to_string(i) + "]`: `" + node.enum_values[i].text +
                    "` is not " + describe_types(node.types) + ", so it can never match");
        }
      }
    }
    // Required names: each gets a bit; one not under `properties` gets an entry without schema.
    for (size_t i = 0; i < node.required.size(); ++i) {
      const std::string& name = node.required[i];
      auto found = std::find_if(node.properties.begin(), node.properties.end(),
                                [&](const Property& p) { return p.name == name; });
      if (found == node.properties.end()) {
        if (!node.additional_properties &&
            keys.required_value->items.size() == node.required.size()) {
          error(keys.required_value->items[i].mark,
                "`" + path + ".required[" + std::to_string(i) + "]`: `" + name +
                    "` is not under `properties`, and additionalProperties is false, so no "
                    "payload could pass");
        }
        Property property;
        property.name = name;
        node.properties.push_back(std::move(property));
        found = node.properties.end() - 1;
      }
      found->required_bit = static_cast<int32_t>(i);
      node.required_mask |= uint64_t{1} << i;
    }
    std::sort(node.properties.begin(), node.properties.end(),
              [](const Property& a, const Property& b) { return a.name < b.name; });
  }

  Schema& schema_;
  std::vector<config::ConfigError>& errors_;
  bool failed_ = false;
};

}  // namespace

std::optional<Schema> compile_schema(const config::RawNode& raw, const std::string& path,
                                     std::vector<config::ConfigError>& errors) {
  Schema schema;
  Compiler compiler(schema, errors);
  compiler.compile(raw, path, 0);
  if (compiler.failed()) return std::nullopt;
  return schema;
}

}  // namespace dispatch::schema
