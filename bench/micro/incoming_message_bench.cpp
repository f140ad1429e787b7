// Parsing one client message: simdjson's parse alone (the baseline) against parse_incoming,
// which adds the envelope checks and the duplicate-key check at every depth, on a typical chat
// message, a nested payload, and a payload object large enough to be checked by sorting.
#include <benchmark/benchmark.h>
#include <simdjson.h>

#include <string>

#include "pipeline/incoming_message.h"

namespace {

std::string chat_message() {
  return R"({"event":"send_message","target":"room:lobby","payload":{"text":"hello there, how is it going?","client_ts":1733300000123},"id":42})";
}

std::string nested_message() {
  return R"({"event":"update","target":"room:doc-7","payload":{"op":"set","path":["a","b"],"value":{"title":"x","tags":["t1","t2"],"meta":{"author":"u1","rev":17,"flags":{"draft":false,"pinned":true}}},"cursor":{"line":3,"col":9}},"id":"m-9"})";
}

std::string large_object_message() {
  std::string json = R"({"event":"bulk","target":"room:r","payload":{)";
  for (int i = 0; i < 200; ++i)
    json += (i ? ",\"key" : "\"key") + std::to_string(i) + "\":" + std::to_string(i);
  return json + "},\"id\":1}";
}

void run_parse_only(benchmark::State& state, const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::padded_string input(json);
  for (auto _ : state) {
    simdjson::dom::element root;
    benchmark::DoNotOptimize(parser.parse(input.data(), input.size(), false).get(root));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}

void run_parse_incoming(benchmark::State& state, const std::string& json) {
  simdjson::dom::parser parser;
  simdjson::padded_string input(json);
  for (auto _ : state) {
    dispatch::IncomingMessage message;
    auto failure = dispatch::parse_incoming(parser, input.data(), input.size(), message);
    if (failure) state.SkipWithError(failure->message.c_str());
    benchmark::DoNotOptimize(message);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * json.size()));
}

void ParseOnlyChat(benchmark::State& state) {
  run_parse_only(state, chat_message());
}
void ParseIncomingChat(benchmark::State& state) {
  run_parse_incoming(state, chat_message());
}
void ParseOnlyNested(benchmark::State& state) {
  run_parse_only(state, nested_message());
}
void ParseIncomingNested(benchmark::State& state) {
  run_parse_incoming(state, nested_message());
}
void ParseOnlyLargeObject(benchmark::State& state) {
  run_parse_only(state, large_object_message());
}
void ParseIncomingLargeObject(benchmark::State& state) {
  run_parse_incoming(state, large_object_message());
}
BENCHMARK(ParseOnlyChat);
BENCHMARK(ParseIncomingChat);
BENCHMARK(ParseOnlyNested);
BENCHMARK(ParseIncomingNested);
BENCHMARK(ParseOnlyLargeObject);
BENCHMARK(ParseIncomingLargeObject);

}  // namespace
