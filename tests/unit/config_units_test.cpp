// Durations, sizes, rates and listen addresses: the accepted forms and the rejected ones.
#include <gtest/gtest.h>

#include "config/address.h"
#include "config/units.h"

namespace dispatch::config {
namespace {

using namespace std::chrono_literals;

TEST(ConfigUnits, Durations) {
  EXPECT_EQ(parse_duration("0").value, Duration{0});
  EXPECT_EQ(parse_duration("250ms").value, 250ms);
  EXPECT_EQ(parse_duration("30s").value, 30s);
  EXPECT_EQ(parse_duration("5m").value, 5min);
  EXPECT_EQ(parse_duration("1h").value, 1h);
  EXPECT_EQ(parse_duration("0s").value, Duration{0});
  EXPECT_EQ(parse_duration("1m30s").value, 90s);
  EXPECT_EQ(parse_duration("1h2m3s4ms").value, 1h + 2min + 3s + 4ms);
  EXPECT_EQ(parse_duration("60m").value, 1h);
}

TEST(ConfigUnits, BadDurations) {
  const std::string expected = "expected a duration like 250ms, 30s, 5m or 1h";
  for (const char* text :
       {"", "abc", "s", "-5s", "1.5s", "5 s", "5S", "5sec", "10d", "ms", "1m30", " 5s"}) {
    const auto result = parse_duration(text);
    EXPECT_FALSE(result) << text;
    EXPECT_TRUE(result.error.starts_with(expected)) << text << ": " << result.error;
  }
  EXPECT_EQ(parse_duration("30").error, expected + " (a number needs a unit)");
  EXPECT_EQ(parse_duration("99999999999999999999h").error, expected);  // digits overflow
  EXPECT_EQ(parse_duration("9999999999999999h").error, expected + " (this one is far too long)");
}

TEST(ConfigUnits, Sizes) {
  EXPECT_EQ(parse_size("0").value, 0u);
  EXPECT_EQ(parse_size("65536").value, 65536u);
  EXPECT_EQ(parse_size("512B").value, 512u);
  EXPECT_EQ(parse_size("64KiB").value, 64u * 1024);
  EXPECT_EQ(parse_size("1MiB").value, 1024u * 1024);
  EXPECT_EQ(parse_size("2GiB").value, 2ull * 1024 * 1024 * 1024);
  EXPECT_EQ(parse_size("8 KiB").value, 8u * 1024);
}

TEST(ConfigUnits, BadSizes) {
  const std::string expected = "expected a size like 65536, 64KiB, 1MiB or 1GiB";
  for (const char* text : {"", "KiB", "-1", "1.5MiB", "64kibibytes", "1TiB", "lots"}) {
    const auto result = parse_size(text);
    EXPECT_FALSE(result) << text;
    EXPECT_EQ(result.error, expected) << text;
  }
  EXPECT_EQ(parse_size("64KB").error, expected + " (did you mean `64KiB`?)");
  EXPECT_EQ(parse_size("64k").error, expected + " (did you mean `64KiB`?)");
  EXPECT_EQ(parse_size("10MB").error, expected + " (did you mean `10MiB`?)");
  EXPECT_EQ(parse_size("1G").error, expected + " (did you mean `1GiB`?)");
  EXPECT_EQ(parse_size("99999999999GiB").error, expected + " (this one is far too large)");
}

TEST(ConfigUnits, Rates) {
  EXPECT_EQ(parse_rate("10/s").value, (RateSpec{10, 1s}));
  EXPECT_EQ(parse_rate("10/m").value, (RateSpec{10, 1min}));
  EXPECT_EQ(parse_rate("5/h").value, (RateSpec{5, 1h}));
  EXPECT_EQ(parse_rate("10/10s").value, (RateSpec{10, 10s}));
  EXPECT_EQ(parse_rate("5/1h").value, (RateSpec{5, 1h}));
  EXPECT_EQ(parse_rate("3/500ms").value, (RateSpec{3, 500ms}));
  EXPECT_EQ(parse_rate("0/s").value, (RateSpec{0, 1s}));  // callers decide whether 0 is useful
}

TEST(ConfigUnits, BadRates) {
  const std::string expected = "expected a rate like 10/s, 10/m or 10/10s";
  for (const char* text :
       {"", "10", "/m", "10/", "ten/m", "10/minute", "-1/m", "10/m/s", "4294967296/s", "10 /m"}) {
    const auto result = parse_rate(text);
    EXPECT_FALSE(result) << text;
    EXPECT_EQ(result.error, expected) << text;
  }
  EXPECT_EQ(parse_rate("10/0s").error, expected + " (the window must be longer than 0)");
  EXPECT_EQ(parse_rate("10/0").error, expected + " (the window must be longer than 0)");
}

TEST(ConfigUnits, ListenAddresses) {
  EXPECT_EQ(parse_listen_address(":8080").value, (ListenAddress{"", 8080}));
  EXPECT_EQ(parse_listen_address("127.0.0.1:80").value, (ListenAddress{"127.0.0.1", 80}));
  EXPECT_EQ(parse_listen_address("[::1]:8080").value, (ListenAddress{"::1", 8080}));
  EXPECT_EQ(parse_listen_address("[::]:1").value, (ListenAddress{"::", 1}));
  EXPECT_EQ(parse_listen_address("[fe80::1%eth0]:9").value, (ListenAddress{"fe80::1%eth0", 9}));
  EXPECT_EQ(parse_listen_address("localhost:0").value, (ListenAddress{"localhost", 0}));
  EXPECT_EQ(parse_listen_address("my-host.example:65535").value,
            (ListenAddress{"my-host.example", 65535}));
}

TEST(ConfigUnits, BadListenAddresses) {
  const std::string expected =
      "expected host:port like \":8080\", \"127.0.0.1:8080\" or \"[::1]:8080\"";
  struct Case {
    const char* text;
    const char* detail;
  };
  for (const Case& c :
       {Case{"8080", "did you mean `:8080`?"}, Case{"localhost", "missing `:port`"},
        Case{"", "missing `:port`"},
        Case{"::1:8080", "an IPv6 address needs brackets, like [::1]:8080"},
        Case{"[::1", "no closing `]`"},
        Case{"[localhost]:80", "not an IPv6 address inside the brackets"},
        Case{"[::1]8080", "missing `:port`"}, Case{"[::1]", "missing `:port`"},
        Case{"a b:80", "not a valid host"}, Case{"h:", "the port must be 0 to 65535"},
        Case{"h:65536", "the port must be 0 to 65535"},
        Case{"h:123456", "the port must be 0 to 65535"},
        Case{"h:-1", "the port must be 0 to 65535"},
        Case{"h:http", "the port must be 0 to 65535"}}) {
    const auto result = parse_listen_address(c.text);
    EXPECT_FALSE(result) << c.text;
    EXPECT_EQ(result.error, expected + " (" + c.detail + ")") << c.text;
  }
}

}  // namespace
}  // namespace dispatch::config
