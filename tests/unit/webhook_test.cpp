// Webhooks below the socket: the X-Dispatch-Signature header (a known HMAC-SHA256 vector), the
// retry schedule (exponential, capped, jitter within its half), and the config's `check` errors
// for `webhooks:` targets and `_webhook` steps. Delivery over real sockets is tested in
// tests/integration/test_webhooks.py.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "compile_test_support.h"
#include "config/webhook_url.h"
#include "config_test_support.h"
#include "webhook/retry_backoff.h"
#include "webhook/webhook_signature.h"

namespace dispatch {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace std::chrono_literals;

TEST(WebhookSignature, IsTheHexHmacSha256OfTimestampDotBody) {
  // python3 -c 'import hmac,hashlib;print(hmac.new(b"s3cret",b"1700000000.{\"a\":1}",
  //             hashlib.sha256).hexdigest())'
  EXPECT_EQ(webhook::webhook_signature("s3cret", 1700000000, R"({"a":1})"),
            "t=1700000000,v1=1698a50bc74d1ff1db85c4e0a5297c2ad9fdba245d5737cdb789e4cc6e098940");
}

TEST(WebhookSignature, NoSecretNoSignature) {
  EXPECT_EQ(webhook::webhook_signature("", 1700000000, "{}"), "");
}

TEST(WebhookBackoff, DoublesFrom200msUpTo10sWithJitterInTheUpperHalf) {
  // The shortest wait (no jitter) is half the step; the longest is the whole step.
  EXPECT_EQ(webhook::retry_delay(1, 0.0), 100ms);
  EXPECT_EQ(webhook::retry_delay(1, 0.999999), 199ms);
  EXPECT_EQ(webhook::retry_delay(2, 0.0), 200ms);
  EXPECT_EQ(webhook::retry_delay(3, 0.0), 400ms);
  EXPECT_EQ(webhook::retry_delay(3, 0.5), 600ms);
  EXPECT_EQ(webhook::retry_delay(6, 0.0), 3200ms);
  EXPECT_EQ(webhook::retry_delay(7, 0.0), 5000ms);  // 12.8 s capped at 10 s
  EXPECT_EQ(webhook::retry_delay(7, 1.0), 10000ms);
  EXPECT_EQ(webhook::retry_delay(40, 1.0), 10000ms);  // never overflows
}

TEST(WebhookUrl, AcceptsHttpWithHostPortAndPath) {
  auto url = config::parse_webhook_url("http://127.0.0.1:9000/dispatch?x=1");
  ASSERT_TRUE(url) << url.error;
  EXPECT_EQ(url.value->host, "127.0.0.1");
  EXPECT_EQ(url.value->port, 9000);
  EXPECT_EQ(url.value->path, "/dispatch?x=1");
  url = config::parse_webhook_url("http://backend.internal");
  ASSERT_TRUE(url) << url.error;
  EXPECT_EQ(url.value->host, "backend.internal");
  EXPECT_EQ(url.value->port, 80);
  EXPECT_EQ(url.value->path, "/");
  url = config::parse_webhook_url("http://[::1]:8081/h");
  ASSERT_TRUE(url) << url.error;
  EXPECT_EQ(url.value->host, "::1");
  EXPECT_EQ(url.value->port, 8081);
}

using test_support::compile_errors;

std::string with_target(std::string_view target_yaml) {
  return "webhooks:\n  backend: " + std::string(target_yaml) +
         "\nevents:\n  e:\n    actions:\n      - {name: _webhook, params: [backend, '{}']}\n";
}

TEST(WebhookConfig, AFullTargetLoadsWithItsValues) {
  config::LoadResult loaded = config::test_support::load(
      with_target("{url: \"http://127.0.0.1:9000/d\", secret: abc, timeout: 500ms, retries: 5, "
                  "queue: 10}"));
  ASSERT_THAT(config::test_support::error_lines(loaded), IsEmpty());
  ASSERT_EQ(loaded.config->webhooks.size(), 1u);
  const config::WebhookTarget& target = loaded.config->webhooks[0];
  EXPECT_EQ(target.name, "backend");
  EXPECT_EQ(target.address.port, 9000);
  EXPECT_EQ(target.secret, "abc");
  EXPECT_EQ(target.timeout, 500ms);
  EXPECT_EQ(target.retries, 5u);
  EXPECT_EQ(target.queue, 10u);
  EXPECT_THAT(compile_errors(with_target("{url: \"http://127.0.0.1:9000/d\"}")), IsEmpty());
}

TEST(WebhookConfig, BadUrlsAreCheckErrorsAtTheValue) {
  EXPECT_THAT(compile_errors(with_target("{url: \"https://example.com/hook\"}")),
              ElementsAre("test.yaml:2:18: `webhooks.backend.url`: expected an URL like "
                          "\"http://127.0.0.1:9000/dispatch\", got `https://example.com/hook` "
                          "(https:// is not supported yet: this version has no TLS client; POST "
                          "to a local http:// relay)"));
  EXPECT_THAT(
      compile_errors(with_target("{url: \"127.0.0.1:9000\"}")),
      ElementsAre(::testing::HasSubstr("got `127.0.0.1:9000` (it must start with http://)")));
  EXPECT_THAT(compile_errors(with_target("{url: \"http://:9000/x\"}")),
              ElementsAre(::testing::HasSubstr("(no host)")));
  EXPECT_THAT(compile_errors(with_target("{url: \"http://host:99999/x\"}")),
              ElementsAre(::testing::HasSubstr("(not a valid host:port)")));
  EXPECT_THAT(compile_errors(with_target("{url: \"http://host:0/x\"}")),
              ElementsAre(::testing::HasSubstr("(the port must be 1 to 65535)")));
}

TEST(WebhookConfig, AMissingUrlOrABadValueIsAnError) {
  // One error for a target without url: not a second one at each step naming it.
  EXPECT_THAT(compile_errors(with_target("{secret: abc}")),
              ElementsAre("test.yaml:2:3: `webhooks.backend`: `url` is required, like "
                          "\"http://127.0.0.1:9000/dispatch\""));
  EXPECT_THAT(compile_errors(with_target("{url: \"http://h/\", retries: 11}")),
              ElementsAre("test.yaml:2:40: `webhooks.backend.retries` must be at most 10 (each "
                          "retry waits longer than the last)"));
  EXPECT_THAT(compile_errors(with_target("{url: \"http://h/\", queue: 0}")),
              ElementsAre("test.yaml:2:38: `webhooks.backend.queue` must be from 1 to 1000000"));
  EXPECT_THAT(compile_errors(with_target("{url: \"http://h/\", timeout: 0s}")),
              ElementsAre("test.yaml:2:40: `webhooks.backend.timeout` must be longer than 0"));
}

TEST(WebhookConfig, AnUnknownKeyGetsADidYouMean) {
  EXPECT_THAT(compile_errors(with_target("{url: \"http://h/\", timout: 2s}")),
              ElementsAre("test.yaml:2:31: unknown key `webhooks.backend.timout` (did you mean "
                          "`timeout`?)"));
}

TEST(WebhookConfig, TheStepNamesADeclaredTargetWrittenOut) {
  EXPECT_THAT(compile_errors(R"(
webhooks:
  backend: {url: "http://127.0.0.1:9000/"}
events:
  e:
    actions:
      - {name: _webhook, params: [backnd, '{}']}
)"),
              ElementsAre("test.yaml:6:35: `_webhook`: no webhook target `backnd` (did you mean "
                          "`backend`?)"));
  EXPECT_THAT(compile_errors(R"(
webhooks:
  backend: {url: "http://127.0.0.1:9000/"}
events:
  e:
    actions:
      - {name: _webhook, params: ["{.payload.url}", '{}']}
)"),
              ElementsAre("test.yaml:6:35: `_webhook`: the target name must be written out (a "
                          "name under `webhooks:`), not a template: a URL never comes from a "
                          "message"));
  EXPECT_THAT(compile_errors(R"(
events:
  e:
    actions:
      - {name: _webhook, params: [backend, '{"a": ']}
)"),
              ::testing::Contains(::testing::HasSubstr("`_webhook` param `body`")));
}

}  // namespace
}  // namespace dispatch
