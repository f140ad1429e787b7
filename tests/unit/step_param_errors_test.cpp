// Step params a new user gets wrong are `check` errors at the param's own position that echo
// what was written: a rate of 0 (which would block forever), a malformed rate, a `secure` claim
// check that is not `claim=value`.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "compile_test_support.h"
#include "config_test_support.h"

namespace dispatch {
namespace {

using test_support::compile_errors;

std::string rate_limit_config(std::string_view rate) {
  return R"(
events:
  e:
    modifiers:
      - name: rate_limit
        params: [")" +
         std::string(rate) + R"("]
    actions:
      - {name: _reply, params: [ok, '{}']}
)";
}

TEST(StepParamErrors, ARateOfZeroIsRefusedAtTheRate) {
  const auto errors = compile_errors(rate_limit_config("0/10s"));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_TRUE(errors[0].starts_with("test.yaml:5:18: `rate_limit`: rate `0/10s`: a count of 0"))
      << errors[0];
}

TEST(StepParamErrors, AMalformedRateIsEchoedAtItsPosition) {
  for (const char* rate : {"10/fortnight", "ten/s", "10"}) {
    const auto errors = compile_errors(rate_limit_config(rate));
    ASSERT_EQ(errors.size(), 1u) << rate;
    EXPECT_TRUE(errors[0].starts_with("test.yaml:5:18: `rate_limit`: rate `" + std::string(rate) +
                                      "`: expected a rate like"))
        << errors[0];
  }
}

TEST(StepParamErrors, AMisspeltStepOptionGetsADidYouMean) {
  EXPECT_EQ(compile_errors(R"(
events:
  e:
    modifiers:
      - name: rate_limit
        params: ["10/s"]
        scop: node
    actions:
      - {name: _reply, params: [ok, '{}']}
)"),
            std::vector<std::string>{
                "test.yaml:4:9: `rate_limit` has no option `scop` (did you mean `scope`?)"});
}

TEST(StepParamErrors, AMisspeltStepNameGetsADidYouMean) {
  const auto errors = compile_errors(R"(
events:
  e:
    modifiers:
      - name: rate_limt
        params: ["10/s"]
    actions:
      - {name: _replly, params: [ok, '{}']}
)");
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_TRUE(errors[0].starts_with(
      "test.yaml:4:9: unknown modifier `rate_limt` (did you mean `rate_limit`?) (known: "))
      << errors[0];
  EXPECT_TRUE(
      errors[1].starts_with("test.yaml:7:9: unknown action `_replly` (did you mean `_reply`?)"))
      << errors[1];
}

const std::string kSecureConfig = R"(
auth:
  event_jwt:
    secret: "fedcba9876543210fedcba9876543210"
events:
  e:
    modifiers:
      - name: secure
        params: [)";

TEST(StepParamErrors, SecureTakesTemplatedClaimChecksAndOnce) {
  EXPECT_TRUE(compile_errors(kSecureConfig +
                             R"("msg={.payload.msg_id}", "room=r:{$target.id}", once, "org=acme"]
    actions:
      - {name: _reply, params: [ok, '{}']}
)")
                  .empty());
}

TEST(StepParamErrors, ASecureParamThatIsNotAClaimCheckSaysWhatIsExpected) {
  for (const char* param : {"{.payload.msg_id}", "=x", "onse", "{$token.k}=x"}) {
    const auto errors = compile_errors(kSecureConfig + "once, \"" + param + R"("]
    actions:
      - {name: _reply, params: [ok, '{}']}
)");
    ASSERT_EQ(errors.size(), 1u) << param;
    EXPECT_TRUE(errors[0].starts_with("test.yaml:8:24: `secure`: `" + std::string(param) +
                                      "` is not a claim check: write `claim=value`"))
        << errors[0];
  }
}

// Each placeholder mistake of a template is its own error. Where the param's text is in the file
// byte for byte on one line (plain or quoted without escapes), it is at the placeholder's own
// line:col; elsewhere at the param, with the offset into its text.
TEST(StepParamErrors, TemplateMistakesAreEachAtTheirPlaceholder) {
  const auto errors = compile_errors(R"(
events:
  e:
    actions:
      - name: _reply
        params: [x, '{"a": "{payload.x}", "b": "{user.name}"}']
      - name: _log
        params:
          - plain {$usr.id} text
      - name: _log
        params: ["quoted {$usr.id}"]
)");
  ASSERT_EQ(errors.size(), 4u) << ::testing::PrintToString(errors);
  EXPECT_TRUE(
      errors[0].starts_with("test.yaml:5:29: `_reply` param `payload`: `{payload.x}` is "
                            "not a placeholder"))
      << errors[0];
  EXPECT_TRUE(
      errors[1].starts_with("test.yaml:5:49: `_reply` param `payload`: `{user.name}` is "
                            "not a placeholder"))
      << errors[1];
  EXPECT_TRUE(
      errors[2].starts_with("test.yaml:8:19: `_log` param `message`: unknown placeholder "
                            "{$usr.id}: did you mean {$user.id}?"))
      << errors[2];
  EXPECT_TRUE(errors[3].starts_with("test.yaml:10:26: `_log` param `message`: unknown placeholder"))
      << errors[3];
  for (const std::string& error : errors) EXPECT_EQ(error.find("offset"), std::string::npos);
}

TEST(StepParamErrors, TemplateMistakesKeepTheOffsetWhereColumnsDoNotMapExactly) {
  const auto errors = compile_errors(R"(
events:
  e:
    actions:
      - name: _log
        params: ["esc\taped {$usr.id}"]
      - name: _log
        params: ['it''s {$usr.id}']
      - name: _log
        params: ['${UNSET_IN_TEST:-sub}stituted {$usr.id}']
      - name: _log
        params:
          - |
            block {$usr.id}
      - name: _log
        params:
          - folded
            over {$usr.id} lines
)");
  ASSERT_EQ(errors.size(), 5u) << ::testing::PrintToString(errors);
  EXPECT_TRUE(errors[0].starts_with("test.yaml:5:18: ")) << errors[0];
  EXPECT_TRUE(errors[0].ends_with("(at offset 9)")) << errors[0];
  EXPECT_TRUE(errors[1].starts_with("test.yaml:7:18: ")) << errors[1];
  EXPECT_TRUE(errors[1].ends_with("(at offset 5)")) << errors[1];
  EXPECT_TRUE(errors[2].starts_with("test.yaml:9:18: ")) << errors[2];
  EXPECT_TRUE(errors[2].ends_with("(at offset 12)")) << errors[2];
  EXPECT_TRUE(errors[3].starts_with("test.yaml:12:13: ")) << errors[3];
  EXPECT_TRUE(errors[3].ends_with("(at offset 6)")) << errors[3];
  EXPECT_TRUE(errors[4].starts_with("test.yaml:16:13: ")) << errors[4];
  EXPECT_TRUE(errors[4].ends_with("(at offset 12)")) << errors[4];
}

}  // namespace
}  // namespace dispatch
