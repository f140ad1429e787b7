// Tests of the server-side RFC 6455 frame reader (src/protocol/frame_reader.h): messages,
// fragments, length encodings, splitting, pausing, every protocol error with its close code.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "protocol/frame_reader.h"
#include "ws_test_support.h"

namespace dispatch::ws {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using namespace test_support;

constexpr uint64_t kLargeLimit = 1 << 20;

// Records everything the reader reports as short strings, e.g. "text:hello", "ping:p",
// "close:1000:bye", "error:1002".
class Recorder : public FrameReaderHandler {
 public:
  bool on_message(MessageKind kind, char* data, size_t length) override {
    // The padding promised after every message must be readable (caught by ASan builds).
    volatile char last_padding_byte = data[length + message_padding - 1];
    (void)last_padding_byte;
    last_in_place = data >= fed_begin && data + length <= fed_end;
    events.push_back((kind == MessageKind::text ? "text:" : "binary:") + std::string(data, length));
    const size_t index = message_count++;
    return pause_on.count(index) == 0;
  }
  void on_ping(std::string_view payload) override {
    events.push_back("ping:" + std::string(payload));
  }
  void on_pong(std::string_view payload) override {
    events.push_back("pong:" + std::string(payload));
  }
  void on_close(uint16_t code, std::string_view reason) override {
    events.push_back("close:" + std::to_string(code) + ":" + std::string(reason));
  }
  void on_protocol_error(uint16_t close_code, std::string_view) override {
    events.push_back("error:" + std::to_string(close_code));
  }

  std::vector<std::string> events;
  std::set<size_t> pause_on;  // indexes of messages (0-based) whose delivery pauses the reader
  size_t message_count = 0;
  const char* fed_begin = nullptr;
  const char* fed_end = nullptr;
  bool last_in_place = false;
};

// Feeds `bytes` in one call from a buffer with the required padding.
void feed(FrameReader& reader, Recorder& recorder, std::string_view bytes) {
  std::vector<char> buffer(bytes.size() + message_padding, '\xEE');
  std::memcpy(buffer.data(), bytes.data(), bytes.size());
  recorder.fed_begin = buffer.data();
  recorder.fed_end = buffer.data() + bytes.size();
  reader.feed(buffer.data(), bytes.size(), recorder);
  recorder.fed_begin = recorder.fed_end = nullptr;
}

// Feeds `bytes` cut at the given (sorted) positions.
void feed_in_pieces(FrameReader& reader, Recorder& recorder, std::string_view bytes,
                    const std::vector<size_t>& cuts) {
  size_t start = 0;
  for (size_t cut : cuts) {
    feed(reader, recorder, bytes.substr(start, cut - start));
    start = cut;
  }
  feed(reader, recorder, bytes.substr(start));
}

std::vector<std::string> events_of(std::string_view bytes, uint64_t limit = kLargeLimit) {
  FrameReader reader(limit);
  Recorder recorder;
  feed(reader, recorder, bytes);
  return recorder.events;
}

std::string repeated(size_t count, char c = 'a') {
  return std::string(count, c);
}

// ---- messages ----

TEST(FrameReader, SingleTextFrame) {
  EXPECT_THAT(events_of(text_frame("hello")), ElementsAre("text:hello"));
}

TEST(FrameReader, SingleBinaryFrame) {
  EXPECT_THAT(events_of(binary_frame(std::string("\x00\x01\xff", 3))),
              ElementsAre(std::string("binary:\x00\x01\xff", 10)));
}

TEST(FrameReader, EmptyTextMessage) {
  EXPECT_THAT(events_of(text_frame("")), ElementsAre("text:"));
}

TEST(FrameReader, AllThreeLengthEncodings) {
  for (size_t length : {size_t{125}, size_t{126}, size_t{65535}, size_t{65536}, size_t{70000}}) {
    SCOPED_TRACE(length);
    std::string payload;
    for (size_t i = 0; i < length; ++i) payload.push_back(static_cast<char>('a' + i % 26));
    const std::string bytes = text_frame(payload);
    const size_t header = length < 126 ? 6 : length <= 0xFFFF ? 8 : 14;
    ASSERT_EQ(bytes.size(), header + length);
    EXPECT_THAT(events_of(bytes), ElementsAre("text:" + payload));
  }
}

TEST(FrameReader, PingAndPongPayloadsAreDelivered) {
  EXPECT_THAT(events_of(ping_frame("are you there") + pong_frame("") + pong_frame("x")),
              ElementsAre("ping:are you there", "pong:", "pong:x"));
}

TEST(FrameReader, TwoMessagesInOneFeed) {
  EXPECT_THAT(events_of(text_frame("first") + binary_frame("second")),
              ElementsAre("text:first", "binary:second"));
}

TEST(FrameReader, FragmentedMessageOfTwoFragments) {
  EXPECT_THAT(events_of(text_frame("Hel", false) + continuation_frame("lo")),
              ElementsAre("text:Hello"));
}

TEST(FrameReader, FragmentedMessageOfManyFragmentsWithPingsBetween) {
  std::string bytes = binary_frame("f0", false);
  std::string expected = "f0";
  for (int i = 1; i < 20; ++i) {
    // Appended, not "p" + std::to_string(i): GCC 12 at -O3 warns (-Wrestrict) on that form.
    std::string ping = "p", part = "f";
    ping += std::to_string(i);
    part += std::to_string(i);
    bytes += ping_frame(ping);
    bytes += continuation_frame(part, i == 19);
    expected += part;
  }
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  feed(reader, recorder, bytes);
  ASSERT_EQ(recorder.events.size(), 20u);
  for (int i = 1; i < 20; ++i) EXPECT_EQ(recorder.events[i - 1], "ping:p" + std::to_string(i));
  EXPECT_EQ(recorder.events.back(), "binary:" + expected);
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(FrameReader, FragmentedMessageThenAnotherMessage) {
  EXPECT_THAT(events_of(text_frame("a", false) + continuation_frame("b") + text_frame("c")),
              ElementsAre("text:ab", "text:c"));
}

TEST(FrameReader, EmptyFragmentsAreAllowed) {
  EXPECT_THAT(events_of(text_frame("", false) + continuation_frame("", false) +
                        continuation_frame("x", false) + continuation_frame("")),
              ElementsAre("text:x"));
}

// A stream exercising every path: every split of it must give the same events.
std::string mixed_stream() {
  std::string big;
  for (size_t i = 0; i < 70000; ++i) big.push_back(static_cast<char>(i * 7));
  return text_frame("hello") + ping_frame("p1") + binary_frame("part1-", false) + pong_frame("q") +
         continuation_frame("part2-", false) + continuation_frame("part3") +
         text_frame(repeated(60, 'x') + "h\xc3\xa9llo w\xc3\xb6rld \xf0\x9f\x98\x80" +
                    repeated(80, 'y')) +
         binary_frame(big) + text_frame("caf\xc3", false) + continuation_frame("\xa9") +
         close_frame(1000, "bye");
}

std::vector<std::string> expected_mixed_events() {
  std::string big;
  for (size_t i = 0; i < 70000; ++i) big.push_back(static_cast<char>(i * 7));
  return {"text:hello",
          "ping:p1",
          "pong:q",
          "binary:part1-part2-part3",
          "text:" + repeated(60, 'x') + "h\xc3\xa9llo w\xc3\xb6rld \xf0\x9f\x98\x80" +
              repeated(80, 'y'),
          "binary:" + big,
          "text:caf\xc3\xa9",
          "close:1000:bye"};
}

TEST(FrameReader, MixedStreamInOneFeed) {
  EXPECT_EQ(events_of(mixed_stream()), expected_mixed_events());
}

TEST(FrameReader, ByteByByteGivesTheSameEvents) {
  const std::string bytes = mixed_stream();
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  for (size_t i = 0; i < bytes.size(); ++i) feed(reader, recorder, bytes.substr(i, 1));
  EXPECT_EQ(recorder.events, expected_mixed_events());
  EXPECT_TRUE(reader.stopped());
}

TEST(FrameReader, RandomSplitsGiveTheSameEvents) {
  const std::string bytes = mixed_stream();
  std::mt19937 random(12345);
  for (int round = 0; round < 50; ++round) {
    std::uniform_int_distribution<size_t> cut_count(1, 40);
    std::uniform_int_distribution<size_t> position(1, bytes.size() - 1);
    std::set<size_t> cut_set;
    const size_t cuts_wanted = cut_count(random);
    while (cut_set.size() < cuts_wanted) cut_set.insert(position(random));
    // Also cut right inside the headers of the frames near the start.
    if (round % 2 == 0) cut_set.insert(1 + round % 9);
    const std::vector<size_t> cuts(cut_set.begin(), cut_set.end());
    FrameReader reader(kLargeLimit);
    Recorder recorder;
    feed_in_pieces(reader, recorder, bytes, cuts);
    ASSERT_EQ(recorder.events, expected_mixed_events()) << "round " << round;
  }
}

TEST(FrameReader, WholeFrameIsHandedOverInPlace) {
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  feed(reader, recorder, text_frame("first") + binary_frame(repeated(300)));
  EXPECT_THAT(recorder.events, ElementsAre("text:first", "binary:" + repeated(300)));
  EXPECT_TRUE(recorder.last_in_place);
}

TEST(FrameReader, SplitFrameIsNotInTheLastFedBuffer) {
  // A frame completed by a second feed is assembled in the reader's own buffer.
  const std::string bytes = text_frame("split message");
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  feed_in_pieces(reader, recorder, bytes, {5});
  EXPECT_THAT(recorder.events, ElementsAre("text:split message"));
  EXPECT_FALSE(recorder.last_in_place);
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(FrameReader, PartialFrameIsKeptUntilComplete) {
  const std::string bytes = text_frame("abcdef");
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  feed(reader, recorder, bytes.substr(0, 7));
  EXPECT_THAT(recorder.events, IsEmpty());
  EXPECT_EQ(reader.buffered_bytes(), 7u);
  feed(reader, recorder, bytes.substr(7));
  EXPECT_THAT(recorder.events, ElementsAre("text:abcdef"));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

// ---- pause and resume ----

TEST(FrameReader, PauseStopsDeliveryAndResumeDeliversTheRestInOrder) {
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  recorder.pause_on = {0};
  const std::string rest = ping_frame("p") + text_frame("b") + text_frame("c");
  feed(reader, recorder, text_frame("a") + rest);
  EXPECT_THAT(recorder.events, ElementsAre("text:a"));
  EXPECT_TRUE(reader.paused());
  EXPECT_EQ(reader.buffered_bytes(), rest.size());

  reader.resume(recorder);
  EXPECT_THAT(recorder.events, ElementsAre("text:a", "ping:p", "text:b", "text:c"));
  EXPECT_FALSE(reader.paused());
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(FrameReader, BytesFedWhilePausedWaitForResume) {
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  recorder.pause_on = {0};
  feed(reader, recorder, text_frame("a"));
  EXPECT_TRUE(reader.paused());
  feed(reader, recorder, text_frame("b") + ping_frame("p"));
  feed(reader, recorder, text_frame("c"));
  EXPECT_THAT(recorder.events, ElementsAre("text:a"));
  reader.resume(recorder);
  EXPECT_THAT(recorder.events, ElementsAre("text:a", "text:b", "ping:p", "text:c"));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(FrameReader, PausingOnEveryMessage) {
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  recorder.pause_on = {0, 1, 2, 3};
  feed(reader, recorder,
       text_frame("a") + text_frame("b", false) + continuation_frame("c") + binary_frame("d") +
           text_frame("e") + text_frame("f"));
  EXPECT_THAT(recorder.events, ElementsAre("text:a"));
  reader.resume(recorder);
  EXPECT_THAT(recorder.events, ElementsAre("text:a", "text:bc"));
  reader.resume(recorder);
  EXPECT_THAT(recorder.events, ElementsAre("text:a", "text:bc", "binary:d"));
  reader.resume(recorder);
  EXPECT_THAT(recorder.events, ElementsAre("text:a", "text:bc", "binary:d", "text:e"));
  EXPECT_TRUE(reader.paused());
  reader.resume(recorder);
  EXPECT_THAT(recorder.events, ElementsAre("text:a", "text:bc", "binary:d", "text:e", "text:f"));
  EXPECT_FALSE(reader.paused());
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(FrameReader, PauseWithAPartialFrameLeftThenTheRestArrives) {
  const std::string second = text_frame("second message");
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  recorder.pause_on = {0};
  feed(reader, recorder, text_frame("first") + second.substr(0, 4));
  EXPECT_THAT(recorder.events, ElementsAre("text:first"));
  feed(reader, recorder, second.substr(4));
  EXPECT_THAT(recorder.events, ElementsAre("text:first"));
  reader.resume(recorder);
  EXPECT_THAT(recorder.events, ElementsAre("text:first", "text:second message"));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(FrameReader, PauseWhileDeliveringFromTheKeptBuffer) {
  // The first frame arrives split, so it and the frames after it are delivered from the
  // reader's own buffer; pausing there keeps the rest for resume().
  const std::string first = text_frame("first");
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  recorder.pause_on = {0};
  feed(reader, recorder, first.substr(0, 3));
  feed(reader, recorder, first.substr(3) + text_frame("second") + ping_frame("p"));
  EXPECT_THAT(recorder.events, ElementsAre("text:first"));
  EXPECT_TRUE(reader.paused());
  EXPECT_EQ(reader.buffered_bytes(), text_frame("second").size() + ping_frame("p").size());
  reader.resume(recorder);
  EXPECT_THAT(recorder.events, ElementsAre("text:first", "text:second", "ping:p"));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
}

TEST(FrameReader, ResumeWithNothingKeptJustUnpauses) {
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  recorder.pause_on = {0};
  feed(reader, recorder, text_frame("only"));
  EXPECT_TRUE(reader.paused());
  EXPECT_EQ(reader.buffered_bytes(), 0u);
  reader.resume(recorder);
  EXPECT_FALSE(reader.paused());
  feed(reader, recorder, text_frame("next"));
  EXPECT_THAT(recorder.events, ElementsAre("text:only", "text:next"));
}

// ---- protocol errors ----

struct ErrorCase {
  const char* name;
  std::string bytes;
  uint16_t close_code;
};

std::string with_first_byte(uint8_t first_byte, std::string_view payload) {
  RawFrame frame;
  frame.first_byte = first_byte;
  frame.payload = std::string(payload);
  return encode(frame);
}

std::string with_length_form(uint8_t first_byte, std::string_view payload, LengthForm form) {
  RawFrame frame;
  frame.first_byte = first_byte;
  frame.payload = std::string(payload);
  frame.form = form;
  return encode(frame);
}

std::string announcing(uint8_t first_byte, uint64_t length, LengthForm form) {
  RawFrame frame;
  frame.first_byte = first_byte;
  frame.form = form;
  frame.override_length = true;
  frame.announced_length = length;
  return encode(frame);
}

std::vector<ErrorCase> protocol_error_cases() {
  std::vector<ErrorCase> cases;
  RawFrame unmasked;
  unmasked.payload = "hi";
  unmasked.masked = false;
  cases.push_back({"unmasked text", encode(unmasked), 1002});
  unmasked.first_byte = 0x89;
  cases.push_back({"unmasked ping", encode(unmasked), 1002});
  cases.push_back({"RSV1", with_first_byte(0xC1, "hi"), 1002});
  cases.push_back({"RSV2", with_first_byte(0xA1, "hi"), 1002});
  cases.push_back({"RSV3", with_first_byte(0x91, "hi"), 1002});
  for (uint8_t opcode : {0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
    cases.push_back({"reserved opcode", with_first_byte(0x80 | opcode, "hi"), 1002});
  }
  cases.push_back({"ping of 126 bytes", ping_frame(repeated(126)), 1002});
  cases.push_back({"pong of 126 bytes", pong_frame(repeated(126)), 1002});
  cases.push_back({"close of 126 bytes", close_frame(1000, repeated(124)), 1002});
  cases.push_back({"ping with a 64-bit length", announcing(0x89, 70000, LengthForm::bits64), 1002});
  cases.push_back({"fragmented ping", with_first_byte(0x09, "p"), 1002});
  cases.push_back({"fragmented close", with_first_byte(0x08, std::string("\x03\xe8", 2)), 1002});
  cases.push_back({"continuation without start", continuation_frame("x"), 1002});
  cases.push_back({"unfinished continuation without start", continuation_frame("x", false), 1002});
  cases.push_back({"text during fragmented text", text_frame("a", false) + text_frame("b"), 1002});
  cases.push_back(
      {"binary during fragmented text", text_frame("a", false) + binary_frame("b"), 1002});
  cases.push_back(
      {"text during fragmented binary", binary_frame("a", false) + text_frame("b", false), 1002});
  cases.push_back({"16-bit length for 125 bytes",
                   with_length_form(0x81, repeated(125), LengthForm::bits16), 1002});
  cases.push_back(
      {"16-bit length for 0 bytes", with_length_form(0x81, "", LengthForm::bits16), 1002});
  cases.push_back({"64-bit length for 65535 bytes",
                   with_length_form(0x82, repeated(65535), LengthForm::bits64), 1002});
  cases.push_back(
      {"64-bit length for 5 bytes", with_length_form(0x82, "hello", LengthForm::bits64), 1002});
  cases.push_back({"64-bit length with the most significant bit",
                   announcing(0x82, uint64_t{1} << 63, LengthForm::bits64), 1002});
  cases.push_back(
      {"64-bit length all ones", announcing(0x82, ~uint64_t{0}, LengthForm::bits64), 1002});
  cases.push_back({"invalid UTF-8 text", text_frame("abc\xff"), 1007});
  cases.push_back({"lone continuation byte", text_frame("\x80"), 1007});
  cases.push_back({"truncated sequence at the end", text_frame("abc\xc3"), 1007});
  cases.push_back({"overlong slash", text_frame("\xc0\xaf"), 1007});
  cases.push_back({"overlong three bytes", text_frame("\xe0\x80\xaf"), 1007});
  cases.push_back({"surrogate high", text_frame("\xed\xa0\x80"), 1007});
  cases.push_back({"surrogate low", text_frame("\xed\xbf\xbf"), 1007});
  cases.push_back({"above U+10FFFF", text_frame("\xf4\x90\x80\x80"), 1007});
  cases.push_back({"invalid UTF-8 across fragments",
                   text_frame("ok\xe2\x82", false) + continuation_frame("x"), 1007});
  cases.push_back({"truncated sequence in the last fragment",
                   text_frame("ok", false) + continuation_frame("\xe2\x82"), 1007});
  cases.push_back({"close with 1 byte", client_frame(0x8, "\x03"), 1002});
  for (uint16_t code : {0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535}) {
    cases.push_back({"invalid close code", close_frame(code), 1002});
  }
  cases.push_back({"close reason not UTF-8", close_frame(1000, "bye\xff"), 1007});
  cases.push_back({"close reason surrogate", close_frame(1000, "\xed\xa0\x80"), 1007});
  return cases;
}

TEST(FrameReader, ProtocolErrorsCloseWithTheirCode) {
  for (const ErrorCase& c : protocol_error_cases()) {
    SCOPED_TRACE(c.name);
    // Followed by a valid message that must never be delivered.
    FrameReader reader(kLargeLimit);
    Recorder recorder;
    feed(reader, recorder, c.bytes + text_frame("after"));
    EXPECT_THAT(recorder.events, ElementsAre("error:" + std::to_string(c.close_code)));
    EXPECT_TRUE(reader.stopped());
    feed(reader, recorder, text_frame("later"));
    reader.resume(recorder);
    EXPECT_EQ(recorder.events.size(), 1u);
  }
}

TEST(FrameReader, ProtocolErrorsAreFoundWhenFedByteByByte) {
  for (const ErrorCase& c : protocol_error_cases()) {
    if (c.bytes.size() > 2000) continue;
    SCOPED_TRACE(c.name);
    FrameReader reader(kLargeLimit);
    Recorder recorder;
    const std::string bytes = c.bytes + text_frame("after");
    for (size_t i = 0; i < bytes.size(); ++i) feed(reader, recorder, bytes.substr(i, 1));
    EXPECT_THAT(recorder.events, ElementsAre("error:" + std::to_string(c.close_code)));
  }
}

TEST(FrameReader, ErrorAfterValidMessagesKeepsThoseMessages) {
  EXPECT_THAT(events_of(text_frame("one") + ping_frame("p") + with_first_byte(0xC1, "x") +
                        text_frame("two")),
              ElementsAre("text:one", "ping:p", "error:1002"));
}

// ---- message size ----

TEST(FrameReader, SingleFrameOverTheLimitIs1009) {
  EXPECT_THAT(events_of(text_frame(repeated(100)), 100), ElementsAre("text:" + repeated(100)));
  EXPECT_THAT(events_of(text_frame(repeated(101)), 100), ElementsAre("error:1009"));
  EXPECT_THAT(events_of(binary_frame(repeated(70000)), 65536), ElementsAre("error:1009"));
}

TEST(FrameReader, SumOfFragmentsOverTheLimitIs1009) {
  EXPECT_THAT(events_of(text_frame(repeated(60), false) + continuation_frame(repeated(40)), 100),
              ElementsAre("text:" + repeated(100)));
  EXPECT_THAT(events_of(text_frame(repeated(60), false) + continuation_frame(repeated(41)), 100),
              ElementsAre("error:1009"));
  std::string many = binary_frame(repeated(10), false);
  for (int i = 0; i < 10; ++i) many += continuation_frame(repeated(10), false);
  EXPECT_THAT(events_of(many, 100), ElementsAre("error:1009"));
}

TEST(FrameReader, AnnouncedHugeLengthFailsBeforeItsBytesArrive) {
  // Only the header: the reader must not wait for (or buffer) 4 GiB.
  FrameReader reader(64 * 1024);
  Recorder recorder;
  feed(reader, recorder, announcing(0x82, uint64_t{1} << 32, LengthForm::bits64).substr(0, 10));
  EXPECT_THAT(recorder.events, ElementsAre("error:1009"));
  EXPECT_EQ(reader.buffered_bytes(), 0u);

  FrameReader small(100);
  Recorder small_recorder;
  feed(small, small_recorder, announcing(0x81, 1000, LengthForm::bits16).substr(0, 4));
  EXPECT_THAT(small_recorder.events, ElementsAre("error:1009"));
}

TEST(FrameReader, AnnouncedContinuationOverTheLimitFailsEarly) {
  FrameReader reader(100);
  Recorder recorder;
  feed(reader, recorder,
       text_frame(repeated(90), false) + announcing(0x80, 20, LengthForm::bits7).substr(0, 2));
  EXPECT_THAT(recorder.events, ElementsAre("error:1009"));
}

TEST(FrameReader, ControlFramesDoNotCountAgainstTheMessageLimit) {
  EXPECT_THAT(events_of(ping_frame(repeated(125)) + text_frame("0123456789"), 10),
              ElementsAre("ping:" + repeated(125), "text:0123456789"));
}

TEST(FrameReader, RaisedLimitAppliesToTheNextFrame) {
  FrameReader reader(10);
  Recorder recorder;
  reader.set_max_message_size(20);
  feed(reader, recorder, text_frame(repeated(20)));
  EXPECT_THAT(recorder.events, ElementsAre("text:" + repeated(20)));
}

// ---- UTF-8 ----

TEST(FrameReader, ValidUtf8TextIsDelivered) {
  const std::string text = "h\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xef\xbf\xbf \xf4\x8f\xbf\xbf";
  EXPECT_THAT(events_of(text_frame(text)), ElementsAre("text:" + text));
}

TEST(FrameReader, CodePointSplitAcrossFragmentsIsDelivered) {
  EXPECT_THAT(events_of(text_frame("\xf0\x9f", false) + continuation_frame("\x98", false) +
                        continuation_frame("\x80!")),
              ElementsAre("text:\xf0\x9f\x98\x80!"));
}

TEST(FrameReader, BinaryWithInvalidUtf8IsDelivered) {
  const std::string bytes("\xff\xfe\xc0\xaf\xed\xa0\x80", 7);
  EXPECT_THAT(events_of(binary_frame(bytes)), ElementsAre("binary:" + bytes));
  EXPECT_THAT(events_of(binary_frame("\xc3", false) + continuation_frame("\xff")),
              ElementsAre("binary:\xc3\xff"));
}

// ---- close frames ----

TEST(FrameReader, EmptyCloseFrameReportsCode1005) {
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  feed(reader, recorder, client_frame(0x8, "") + text_frame("after"));
  EXPECT_THAT(recorder.events, ElementsAre("close:1005:"));
  EXPECT_TRUE(reader.stopped());
}

TEST(FrameReader, ValidCloseCodesArePassedWithTheReason) {
  for (uint16_t code : {1000, 1001, 1003, 1011, 3000, 4000, 4999}) {
    SCOPED_TRACE(code);
    EXPECT_THAT(events_of(close_frame(code, "bye \xc3\xa9")),
                ElementsAre("close:" + std::to_string(code) + ":bye \xc3\xa9"));
  }
  EXPECT_THAT(events_of(close_frame(1000)), ElementsAre("close:1000:"));
  EXPECT_THAT(events_of(close_frame(1000, repeated(123))),
              ElementsAre("close:1000:" + repeated(123)));
}

TEST(FrameReader, CloseBetweenFragmentsIsAccepted) {
  EXPECT_THAT(events_of(text_frame("a", false) + close_frame(1000, "x")),
              ElementsAre("close:1000:x"));
}

TEST(FrameReader, NothingIsDeliveredAfterClose) {
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  feed(reader, recorder, close_frame(1001) + text_frame("after") + ping_frame("p"));
  feed(reader, recorder, text_frame("later"));
  reader.resume(recorder);
  EXPECT_THAT(recorder.events, ElementsAre("close:1001:"));
  EXPECT_TRUE(reader.stopped());
}

// ---- memory ----

TEST(FrameReader, NoBufferIsHeldAfterCompleteMessages) {
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  feed(reader, recorder, text_frame("a") + binary_frame(repeated(70000)));
  EXPECT_EQ(reader.buffered_bytes(), 0u);

  const std::string fragmented =
      text_frame(repeated(300), false) + ping_frame("p") + continuation_frame(repeated(300));
  for (size_t i = 0; i < fragmented.size(); ++i) {
    feed(reader, recorder, fragmented.substr(i, 1));
  }
  EXPECT_EQ(reader.buffered_bytes(), 0u);

  const std::string split = binary_frame(repeated(1000));
  feed_in_pieces(reader, recorder, split, {3, 500});
  EXPECT_EQ(reader.buffered_bytes(), 0u);
  EXPECT_THAT(recorder.events, ElementsAre("text:a", "binary:" + repeated(70000), "ping:p",
                                           "text:" + repeated(600), "binary:" + repeated(1000)));
}

TEST(FrameReader, UnfinishedFragmentedMessageIsBuffered) {
  FrameReader reader(kLargeLimit);
  Recorder recorder;
  feed(reader, recorder, text_frame(repeated(50), false));
  EXPECT_EQ(reader.buffered_bytes(), 50u);
  feed(reader, recorder, continuation_frame("!"));
  EXPECT_EQ(reader.buffered_bytes(), 0u);
  EXPECT_THAT(recorder.events, ElementsAre("text:" + repeated(50) + "!"));
}

}  // namespace
}  // namespace dispatch::ws
