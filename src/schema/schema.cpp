#include "schema/schema.h"

namespace dispatch::schema {

std::string describe_types(TypeSet types) {
  static constexpr struct {
    TypeBit bit;
    const char* words;
  } kNames[] = {
      {type_object, "an object"}, {type_array, "an array"},     {type_string, "a string"},
      {type_number, "a number"},  {type_integer, "an integer"}, {type_boolean, "a boolean"},
      {type_null, "null"},
  };
  std::vector<const char*> names;
  for (const auto& name : kNames) {
    // "a number" already covers integers.
    if (name.bit == type_integer && (types & type_number)) continue;
    if (types & name.bit) names.push_back(name.words);
  }
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += names[i];
  }
  return out.empty() ? "any value" : out;
}

}  // namespace dispatch::schema
