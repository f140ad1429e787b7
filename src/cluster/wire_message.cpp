#include "cluster/wire_message.h"

#include <fmt/format.h>

#include <algorithm>

namespace dispatch::cluster {

namespace {

constexpr char magic = 'D';

void put_u16(std::string& out, size_t value) {
  out.push_back(static_cast<char>((value >> 8) & 0xff));
  out.push_back(static_cast<char>(value & 0xff));
}

void put_u32(std::string& out, uint32_t value) {
  put_u16(out, value >> 16);
  put_u16(out, value & 0xffff);
}

// Ids are bounded far below these (room ids 256 bytes, node ids 8): a longer one is a bug.
std::string header(WireKind kind, std::string_view origin, std::string_view target,
                   size_t rest_size) {
  std::string out;
  out.reserve(3 + 1 + origin.size() + 2 + target.size() + rest_size);
  out.push_back(magic);
  out.push_back(static_cast<char>('0' + wire_format_version));
  out.push_back(static_cast<char>(kind));
  out.push_back(static_cast<char>(std::min<size_t>(origin.size(), 0xff)));
  out.append(origin.substr(0, 0xff));
  put_u16(out, std::min<size_t>(target.size(), 0xffff));
  out.append(target.substr(0, 0xffff));
  return out;
}

class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}
  bool byte(uint8_t& out) {
    if (rest_.empty()) return false;
    out = static_cast<uint8_t>(rest_[0]);
    rest_.remove_prefix(1);
    return true;
  }
  bool u16(uint16_t& out) {
    uint8_t high = 0;
    uint8_t low = 0;
    if (!byte(high) || !byte(low)) return false;
    out = static_cast<uint16_t>(high << 8 | low);
    return true;
  }
  bool u32(uint32_t& out) {
    uint16_t high = 0;
    uint16_t low = 0;
    if (!u16(high) || !u16(low)) return false;
    out = uint32_t{high} << 16 | low;
    return true;
  }
  bool bytes(size_t count, std::string_view& out) {
    if (rest_.size() < count) return false;
    out = rest_.substr(0, count);
    rest_.remove_prefix(count);
    return true;
  }
  std::string_view rest() const { return rest_; }

 private:
  std::string_view rest_;
};

// A whole unmasked text frame, as a node builds them (FIN + text, then its length): anything
// else would reach clients as garbage.
bool is_whole_text_frame(std::string_view frame) {
  if (frame.size() < 2 || static_cast<uint8_t>(frame[0]) != 0x81) return false;
  const uint8_t length_byte = static_cast<uint8_t>(frame[1]);
  if (length_byte & 0x80) return false;  // masked: a client's frame, not a server's
  size_t header_size = 2;
  uint64_t payload_size = length_byte;
  if (length_byte == 126 || length_byte == 127) {
    const size_t extra = length_byte == 126 ? 2 : 8;
    if (frame.size() < 2 + extra) return false;
    payload_size = 0;
    for (size_t i = 0; i < extra; ++i) {
      payload_size = payload_size << 8 | static_cast<uint8_t>(frame[2 + i]);
    }
    header_size += extra;
  }
  return frame.size() - header_size == payload_size;
}

}  // namespace

std::string encode_frame(WireKind kind, std::string_view origin, std::string_view target,
                         std::string_view frame) {
  std::string out = header(kind, origin, target, frame.size());
  out.append(frame);
  return out;
}

std::string encode_join(std::string_view origin, std::string_view user, std::string_view room,
                        bool counts_users, uint32_t request) {
  std::string out = header(WireKind::join_user, origin, user, 5 + room.size());
  out.push_back(counts_users ? '\1' : '\0');
  put_u32(out, request);
  out.append(room);
  return out;
}

std::string encode_close_session(std::string_view origin, std::string_view user, uint64_t session,
                                 uint16_t code, std::string_view reason) {
  std::string out = header(WireKind::close_session, origin, user, 10 + reason.size());
  put_u32(out, static_cast<uint32_t>(session >> 32));
  put_u32(out, static_cast<uint32_t>(session & 0xffffffff));
  put_u16(out, code);
  out.append(reason);
  return out;
}

std::string encode_room_query(std::string_view origin, std::string_view room, uint32_t request) {
  std::string out = header(WireKind::room_query, origin, room, 4);
  put_u32(out, request);
  return out;
}

std::string encode_answer(std::string_view origin, uint32_t request, std::string_view body) {
  std::string out = header(WireKind::answer, origin, "", 4 + body.size());
  put_u32(out, request);
  out.append(body);
  return out;
}

// Each member: u16 length + connection id, u16 length + user id.
void encode_member(std::string& body, std::string_view connection, std::string_view user) {
  put_u16(body, std::min<size_t>(connection.size(), 0xffff));
  body.append(connection.substr(0, 0xffff));
  put_u16(body, std::min<size_t>(user.size(), 0xffff));
  body.append(user.substr(0, 0xffff));
}

std::optional<std::vector<RoomMember>> decode_members(std::string_view body) {
  Reader reader(body);
  std::vector<RoomMember> members;
  while (!reader.rest().empty()) {
    uint16_t size = 0;
    std::string_view connection;
    std::string_view user;
    if (!reader.u16(size) || !reader.bytes(size, connection) || !reader.u16(size) ||
        !reader.bytes(size, user)) {
      return std::nullopt;
    }
    members.push_back({std::string(connection), std::string(user)});
  }
  return members;
}

std::string encode_history_head(std::string_view origin, std::string_view room) {
  return header(WireKind::history_frame, origin, room, 0);
}

std::string encode_leave(std::string_view origin, std::string_view user, std::string_view room) {
  std::string out = header(WireKind::leave_user, origin, user, room.size());
  out.append(room);
  return out;
}

std::string encode_close(std::string_view origin, std::string_view user, uint16_t code,
                         std::string_view reason) {
  std::string out = header(WireKind::close_user, origin, user, 2 + reason.size());
  put_u16(out, code);
  out.append(reason);
  return out;
}

std::variant<WireMessage, std::string> decode_wire_message(std::string_view bytes) {
  Reader reader(bytes);
  uint8_t first = 0;
  uint8_t version = 0;
  if (!reader.byte(first) || first != magic || !reader.byte(version)) {
    return std::string("not a Dispatch cluster message");
  }
  if (version != '0' + wire_format_version) {
    return fmt::format(
        "format version {} is not this node's ({}): run one version of dispatch "
        "per cluster, or upgrade every node",
        static_cast<char>(version), wire_format_version);
  }
  WireMessage message;
  uint8_t kind = 0;
  uint8_t origin_size = 0;
  uint16_t target_size = 0;
  if (!reader.byte(kind) || !reader.byte(origin_size) ||
      !reader.bytes(origin_size, message.origin) || !reader.u16(target_size) ||
      !reader.bytes(target_size, message.target)) {
    return std::string("the message is cut short");
  }
  if (message.origin.empty()) return std::string("the message has no origin node id");
  message.kind = static_cast<WireKind>(kind);
  switch (message.kind) {
    case WireKind::room_frame:
    case WireKind::user_frame:
    case WireKind::all_frame:
      message.frame = reader.rest();
      if (!is_whole_text_frame(message.frame)) {
        return std::string("the message does not carry one whole WebSocket text frame");
      }
      return message;
    case WireKind::join_user: {
      uint8_t counts = 0;
      if (!reader.byte(counts) || !reader.u32(message.request)) {
        return std::string("the message is cut short");
      }
      message.counts_users = counts != 0;
      message.room = reader.rest();
      break;
    }
    case WireKind::leave_user:
      message.room = reader.rest();
      break;
    case WireKind::close_session: {
      uint32_t high = 0;
      uint32_t low = 0;
      if (!reader.u32(high) || !reader.u32(low) || !reader.u16(message.code)) {
        return std::string("the message is cut short");
      }
      message.session = uint64_t{high} << 32 | low;
      message.reason = reader.rest();
      return message;
    }
    case WireKind::answer:
      if (!reader.u32(message.request)) return std::string("the message is cut short");
      message.body = reader.rest();
      return message;
    case WireKind::room_query:
      if (!reader.u32(message.request)) return std::string("the message is cut short");
      if (message.target.empty()) return std::string("the message names no room");
      return message;
    case WireKind::close_user:
      if (!reader.u16(message.code)) return std::string("the message is cut short");
      message.reason = reader.rest();
      return message;
    case WireKind::history_frame: {
      const std::string_view rest = reader.rest();
      const size_t newline = rest.find('\n');
      if (newline == std::string_view::npos || newline == 0 || newline > 20) {
        return std::string("the history message has no offset");
      }
      for (char digit : rest.substr(0, newline)) {
        if (digit < '0' || digit > '9') return std::string("the history message has no offset");
        message.offset = message.offset * 10 + static_cast<uint64_t>(digit - '0');
      }
      message.body = rest.substr(newline + 1);
      if (message.target.empty() || message.offset == 0 || message.body.size() < 2 ||
          message.body.front() != '{' || message.body.back() != '}') {
        return std::string("the history message is not a room's frame");
      }
      return message;
    }
    default:
      return fmt::format("unknown message kind {}", static_cast<unsigned>(kind));
  }
  if (message.room.empty()) return std::string("the message names no room");
  return message;
}

}  // namespace dispatch::cluster
