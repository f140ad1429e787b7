// The subset rules of `dispatch test`'s `expect:` (scenario/subset_match.h): keys not written
// are not compared, arrays are compared whole and elementwise, numbers by value.
#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include "scenario/subset_match.h"

namespace dispatch::scenario {
namespace {

bool matches(const char* expected, const char* received) {
  return subset_matches(boost::json::parse(expected), boost::json::parse(received));
}

SubsetMismatch mismatch(const char* expected, const char* received) {
  auto found = find_mismatch(boost::json::parse(expected), boost::json::parse(received));
  EXPECT_TRUE(found.has_value());
  return found.value_or(SubsetMismatch{});
}

TEST(ScenarioSubsetMatch, KeysNotWrittenAreNotCompared) {
  EXPECT_TRUE(matches(R"({"event":"ack"})", R"({"event":"ack","payload":{"ref":1}})"));
  EXPECT_TRUE(matches(R"({})", R"({"event":"anything"})"));
  EXPECT_TRUE(matches(R"({"payload":{"ref":1}})",
                      R"({"event":"error","payload":{"ref":1,"code":"forbidden"}})"));
}

TEST(ScenarioSubsetMatch, AWrittenKeyMustBePresentAndEqual) {
  EXPECT_FALSE(matches(R"({"event":"ack"})", R"({"event":"error"})"));
  const SubsetMismatch absent = mismatch(R"({"payload":{"ref":1}})", R"({"payload":{}})");
  EXPECT_EQ(absent.path, "payload.ref");
  EXPECT_EQ(absent.expected, "1");
  EXPECT_EQ(absent.received, "(absent)");

  const SubsetMismatch differs =
      mismatch(R"({"payload":{"code":"forbidden"}})", R"({"payload":{"code":"rate_limited"}})");
  EXPECT_EQ(differs.path, "payload.code");
  EXPECT_EQ(differs.expected, R"("forbidden")");
  EXPECT_EQ(differs.received, R"("rate_limited")");
}

TEST(ScenarioSubsetMatch, ArraysAreComparedWholeAndElementwise) {
  EXPECT_TRUE(matches(R"({"ids":[1,2]})", R"({"ids":[1,2]})"));
  EXPECT_FALSE(matches(R"({"ids":[1,2]})", R"({"ids":[1,2,3]})"));  // not a prefix
  EXPECT_FALSE(matches(R"({"ids":[2,1]})", R"({"ids":[1,2]})"));    // order counts
  EXPECT_FALSE(matches(R"({"ids":[]})", R"({"ids":[1]})"));
  // Objects inside arrays are subsets too.
  EXPECT_TRUE(matches(R"({"users":[{"id":"a"},{"id":"b"}]})",
                      R"({"users":[{"id":"a","name":"A"},{"id":"b","name":"B"}]})"));
  EXPECT_EQ(
      mismatch(R"({"users":[{"id":"a"},{"id":"c"}]})", R"({"users":[{"id":"a"},{"id":"b"}]})").path,
      "users[1].id");
}

TEST(ScenarioSubsetMatch, NumbersCompareByValueOtherScalarsExactly) {
  EXPECT_TRUE(matches(R"({"n":1})", R"({"n":1.0})"));
  EXPECT_TRUE(matches(R"({"n":18446744073709551615})", R"({"n":18446744073709551615})"));
  EXPECT_FALSE(matches(R"({"n":-1})", R"({"n":18446744073709551615})"));
  EXPECT_FALSE(matches(R"({"n":1})", R"({"n":"1"})"));
  EXPECT_FALSE(matches(R"({"b":true})", R"({"b":1})"));
  EXPECT_TRUE(matches(R"({"v":null})", R"({"v":null})"));
  EXPECT_FALSE(matches(R"({"v":null})", R"({})"));  // null written: the key must be there
  EXPECT_FALSE(matches(R"({"p":{}})", R"({"p":[]})"));
}

}  // namespace
}  // namespace dispatch::scenario
