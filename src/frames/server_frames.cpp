#include "frames/server_frames.h"

#include <fmt/format.h>
#include <simdjson.h>

#include <string>

#include "protocol/websocket.h"
#include "template/json_escape.h"

namespace dispatch {

namespace {

// Each thread reuses one buffer: the JSON is written after room for the longest header, then
// the header is written right before it, and the frame copies the contiguous bytes once.
std::string& scratch() {
  thread_local std::string buffer;
  buffer.clear();
  buffer.append(ws::max_server_header_size, '\0');
  return buffer;
}

FrameRef finish_text_frame(std::string& buffer) {
  const size_t payload_length = buffer.size() - ws::max_server_header_size;
  char header[ws::max_server_header_size];
  size_t header_length = ws::write_server_header(ws::Opcode::text, payload_length, header);
  char* start = buffer.data() + ws::max_server_header_size - header_length;
  std::copy(header, header + header_length, start);
  return FrameRef(OutFrame::create({start, header_length + payload_length}));
}

void append_string(std::string& out, std::string_view text) {
  out.push_back('"');
  tmpl::append_json_escaped(out, text);
  out.push_back('"');
}

}  // namespace

namespace {

void append_event_json(std::string& out, std::string_view event, std::string_view payload_json,
                       const FrameOrigin& origin);

}  // namespace

std::string build_event_json_prefix(std::string_view event, std::string_view payload_json,
                                    const FrameOrigin& origin) {
  std::string out;
  append_event_json(out, event, payload_json, origin);
  out.pop_back();  // the closing brace
  return out;
}

FrameRef build_text_frame(std::string_view json) {
  std::string& out = scratch();
  out.append(json);
  return finish_text_frame(out);
}

FrameRef build_event_frame(std::string_view event, std::string_view payload_json,
                           const FrameOrigin& origin) {
  std::string& out = scratch();
  append_event_json(out, event, payload_json, origin);
  return finish_text_frame(out);
}

namespace {

void append_event_json(std::string& out, std::string_view event, std::string_view payload_json,
                       const FrameOrigin& origin) {
  out.append("{\"event\":");
  append_string(out, event);
  out.append(",\"payload\":");
  out.append(payload_json);
  if (!origin.ref_json.empty()) {
    out.append(",\"ref\":");
    out.append(origin.ref_json);
  }
  if (origin.room) {
    out.append(",\"room\":");
    append_string(out, *origin.room);
  }
  if (origin.from) {
    out.append(",\"from\":");
    append_string(out, *origin.from);
  }
  if (origin.offset > 0) {
    fmt::format_to(std::back_inserter(out), ",\"offset\":{},\"epoch\":", origin.offset);
    append_string(out, origin.epoch);
  }
  out.push_back('}');
}

}  // namespace

FrameRef build_error_frame(ErrorCode code, std::string_view message, std::string_view ref_json,
                           std::optional<std::string_view> event, const ErrorDetails& details) {
  std::string& out = scratch();
  out.append("{\"event\":\"error\",\"payload\":{\"code\":");
  append_string(out, wire_name(code));
  out.append(",\"message\":");
  append_string(out, message);
  out.append(",\"ref\":");
  out.append(ref_json.empty() ? std::string_view("null") : ref_json);
  out.append(",\"event\":");
  if (event) {
    append_string(out, *event);
  } else {
    out.append("null");
  }
  if (!details.field.empty()) {
    out.append(",\"field\":");
    append_string(out, details.field);
  }
  if (details.retry_after_ms >= 0) {
    fmt::format_to(std::back_inserter(out), ",\"retry_after_ms\":{}", details.retry_after_ms);
  }
  if (!details.path.empty() || !details.rule.empty()) {
    out.append(",\"path\":");
    append_string(out, details.path);
    out.append(",\"rule\":");
    append_string(out, details.rule);
  }
  out.append("}}");
  return finish_text_frame(out);
}

FrameRef build_ack_frame(std::string_view ref_json, std::string_view extra_json) {
  std::string& out = scratch();
  out.append("{\"event\":\"ack\",\"payload\":{\"ref\":");
  out.append(ref_json);
  out.append(extra_json);
  out.append("}}");
  return finish_text_frame(out);
}

FrameRef build_close_frame(uint16_t code, std::string_view reason) {
  return FrameRef(OutFrame::create(ws::make_close_frame(code, reason)));
}

FrameRef build_control_frame(uint8_t opcode, std::string_view payload) {
  return FrameRef(
      OutFrame::create(ws::make_server_frame(static_cast<ws::Opcode>(opcode), payload)));
}

FrameRef build_raw_frame(std::string_view bytes) {
  return FrameRef(OutFrame::create(bytes));
}

bool is_json_document(std::string_view text) {
  thread_local simdjson::dom::parser parser;
  return parser.parse(text.data(), text.size(), true).error() == simdjson::SUCCESS;
}

}  // namespace dispatch
