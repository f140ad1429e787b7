#include "scenario/subset_match.h"

#include <boost/json/serialize.hpp>

#include <string_view>

namespace dispatch::scenario {

namespace {

namespace json = boost::json;

std::string join_key(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

bool numbers_equal(const json::value& a, const json::value& b) {
  if (a.is_double() || b.is_double()) return a.to_number<double>() == b.to_number<double>();
  if (a.is_int64() && b.is_int64()) return a.get_int64() == b.get_int64();
  if (a.is_uint64() && b.is_uint64()) return a.get_uint64() == b.get_uint64();
  // One signed, one unsigned: equal only when the signed one is not negative.
  const json::value& signed_one = a.is_int64() ? a : b;
  const json::value& unsigned_one = a.is_int64() ? b : a;
  return signed_one.get_int64() >= 0 &&
         static_cast<uint64_t>(signed_one.get_int64()) == unsigned_one.get_uint64();
}

bool is_number(const json::value& value) {
  return value.is_int64() || value.is_uint64() || value.is_double();
}

std::optional<SubsetMismatch> mismatch_at(const std::string& path, const json::value& expected,
                                          const json::value& received) {
  return SubsetMismatch{path.empty() ? "(the whole frame)" : path, json::serialize(expected),
                        json::serialize(received)};
}

std::optional<SubsetMismatch> compare(const std::string& path, const json::value& expected,
                                      const json::value& received) {
  if (expected.is_object()) {
    if (!received.is_object()) return mismatch_at(path, expected, received);
    const json::object& received_object = received.get_object();
    for (const auto& [key, value] : expected.get_object()) {
      const std::string key_path = join_key(path, key);
      const auto found = received_object.find(key);
      if (found == received_object.end()) {
        return SubsetMismatch{key_path, json::serialize(value), "(absent)"};
      }
      if (auto mismatch = compare(key_path, value, found->value())) return mismatch;
    }
    return std::nullopt;
  }
  if (expected.is_array()) {
    if (!received.is_array() || received.get_array().size() != expected.get_array().size()) {
      return mismatch_at(path, expected, received);
    }
    const json::array& expected_array = expected.get_array();
    const json::array& received_array = received.get_array();
    for (size_t i = 0; i < expected_array.size(); ++i) {
      const std::string element_path = path + "[" + std::to_string(i) + "]";
      if (auto mismatch = compare(element_path, expected_array[i], received_array[i])) {
        return mismatch;
      }
    }
    return std::nullopt;
  }
  if (is_number(expected)) {
    if (is_number(received) && numbers_equal(expected, received)) return std::nullopt;
    return mismatch_at(path, expected, received);
  }
  if (expected == received) return std::nullopt;
  return mismatch_at(path, expected, received);
}

}  // namespace

std::optional<SubsetMismatch> find_mismatch(const json::value& expected,
                                            const json::value& received) {
  return compare("", expected, received);
}

}  // namespace dispatch::scenario
