// libFuzzer target: arbitrary bytes as a client message through the message parser. It must
// never crash and must either fail with a code or produce an event name.
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>

#include "pipeline/incoming_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static simdjson::dom::parser parser;
  simdjson::padded_string padded(reinterpret_cast<const char*>(data), size);
  dispatch::IncomingMessage message;
  auto failure = dispatch::parse_incoming(parser, padded.data(), padded.size(), message);
  if (!failure && !message.event) std::abort();
  if (message.target && message.target->size() > dispatch::max_target_length) std::abort();
  return 0;
}
