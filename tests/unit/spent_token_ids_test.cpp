// `secure` with `once`: the store of spent token ids lets each id through once, and forgets an id
// when its token can no longer verify, so it holds only live tokens.
#include <gtest/gtest.h>

#include <string>

#include "steps/modifiers/spent_token_ids.h"

namespace dispatch {
namespace {

TEST(SpentTokenIds, AnIdPassesOnceUntilItIsForgotten) {
  SpentTokenIds spent;
  EXPECT_TRUE(spent.spend("a", 1'000, 900));
  EXPECT_FALSE(spent.spend("a", 1'000, 901));
  EXPECT_FALSE(spent.spend("a", 5'000, 999));  // a new expiry does not make it new
  EXPECT_TRUE(spent.spend("b", 1'000, 999));
  EXPECT_EQ(spent.size(), 2u);
}

TEST(SpentTokenIds, ExpiredIdsAreForgottenAsNewOnesArrive) {
  SpentTokenIds spent;
  for (int i = 0; i < 100; ++i) EXPECT_TRUE(spent.spend("old-" + std::to_string(i), 1'000 + i, 0));
  EXPECT_EQ(spent.size(), 100u);
  EXPECT_TRUE(spent.spend("new", 3'000, 1'050));  // ids whose tokens expired by 1050 are gone
  EXPECT_EQ(spent.size(), 50u);
  EXPECT_TRUE(spent.spend("later", 3'000, 2'000));
  EXPECT_EQ(spent.size(), 2u);
}

}  // namespace
}  // namespace dispatch
