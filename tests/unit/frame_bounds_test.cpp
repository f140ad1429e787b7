// Outgoing frames have 32-bit sizes (frames/out_frame.h): server.max_message_size is capped at
// 64MiB so a frame built from a message stays far below that, and a frame past it is refused
// instead of being cut short.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <string_view>

#include "config_test_support.h"
#include "frames/out_frame.h"

namespace dispatch {
namespace {

using config::test_support::error_lines;
using config::test_support::load;

TEST(FrameBounds, MaxMessageSizeUpTo64MiBLoads) {
  auto loaded = load(R"(
server:
  max_message_size: 64MiB
)");
  ASSERT_TRUE(loaded.config) << ::testing::PrintToString(error_lines(loaded));
  EXPECT_EQ(loaded.config->server.max_message_size, 64u * 1024 * 1024);
}

TEST(FrameBounds, MaxMessageSizeAbove64MiBIsRefusedWithItsPosition) {
  auto loaded = load(R"(
server:
  max_message_size: 65MiB
)");
  EXPECT_FALSE(loaded.config);
  EXPECT_EQ(
      error_lines(loaded),
      std::vector<std::string>{"test.yaml:2:21: `server.max_message_size` must be at most 64MiB"});
}

TEST(FrameBounds, AFrameBeyond32BitSizesIsRefusedNotTruncated) {
  const char byte = 'x';
  // Only the size is looked at: the check comes before any byte is read.
  const std::string_view too_large(&byte, size_t{OutFrame::max_size} + 1);
  EXPECT_THROW(OutFrame::create(too_large), std::length_error);
}

}  // namespace
}  // namespace dispatch
