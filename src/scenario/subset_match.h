// How `expect:` compares a frame with what a scenario step wrote (docs/TESTING-CONFIGS.md):
//   - an object matches when every key written is present and matches; keys not written are
//     not compared;
//   - an array matches only an array of the same length whose elements match in order (each
//     element compared by these same rules, so objects inside arrays are subsets too);
//   - numbers compare by value (1 matches 1.0); strings, booleans and null compare exactly.
#pragma once

#include <boost/json/value.hpp>

#include <optional>
#include <string>

namespace dispatch::scenario {

// The first place where the received frame does not match: `path` is dotted ("payload.code",
// "payload.items[2]"), `expected`/`received` the values there as compact JSON (received is
// "(absent)" for a missing key).
struct SubsetMismatch {
  std::string path;
  std::string expected;
  std::string received;
};

std::optional<SubsetMismatch> find_mismatch(const boost::json::value& expected,
                                            const boost::json::value& received);

inline bool subset_matches(const boost::json::value& expected, const boost::json::value& received) {
  return !find_mismatch(expected, received);
}

}  // namespace dispatch::scenario
