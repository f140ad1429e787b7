// What one node publishes to the others over Redis (SPEC 6). Every message starts with the
// format version, so a node refuses a format it does not know instead of misreading it, and
// carries the origin node's id, so a node drops what it published itself (it has served its own
// recipients already). A frame travels as the ready-to-send WebSocket bytes: the receiving node
// queues them as they are, without parsing or serialising anything.
//
// Layout (big-endian lengths):
//   'D' '1'            magic and format version 1
//   kind               1 byte (WireKind)
//   origin             u8 length, then the node id
//   target             u16 length, then the room or user id ("" for everyone)
//   the rest, by kind: a frame — its bytes; join — 1 byte counts_users, u32 request, then the
//                      room; leave — the room; close — u16 close code, then the reason;
//                      room query — u32 request; answer — u32 request, then its body;
//                      close one session — u64 connection number, u16 close code, then the
//                      reason; history frame — the offset in decimal, '\n', then the frame's
//                      JSON (written by the publishing script in Redis, which alone knows the
//                      offset; every node, the origin too, builds the WebSocket frame from it)
//
// A join with a request number other than 0 asks every node that applies it to answer with that
// number on the origin's node channel once it receives the room's traffic: the origin holds the
// `_join` step until they all have (or a deadline passes). A room query asks every node with
// members of the room to answer with them (encode_members).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace dispatch::cluster {

enum class WireKind : uint8_t {
  room_frame = 'r',
  user_frame = 'u',
  all_frame = 'a',
  join_user = 'j',
  leave_user = 'l',
  close_user = 'c',
  answer = 'k',
  room_query = 'q',
  close_session = 'x',
  history_frame = 'h',
};

struct WireMessage {
  WireKind kind = WireKind::room_frame;
  std::string_view origin;
  std::string_view target;    // room or user; "" for everyone
  std::string_view room;      // join and leave
  std::string_view frame;     // the frame kinds: the WebSocket frame's bytes
  bool counts_users = false;  // join: the room has a max_members policy
  uint32_t request = 0;       // join (0: no answer wanted), room query, answer
  std::string_view body;      // answer
  uint16_t code = 0;          // close, close_session
  std::string_view reason;    // close, close_session
  uint64_t session = 0;       // close_session: the connection number on the receiving node
  uint64_t offset = 0;        // history_frame (its JSON is in `body`)
};

inline constexpr uint8_t wire_format_version = 1;

std::string encode_frame(WireKind kind, std::string_view origin, std::string_view target,
                         std::string_view frame);
std::string encode_join(std::string_view origin, std::string_view user, std::string_view room,
                        bool counts_users, uint32_t request);
// The head of a history frame (origin and room); the publishing script appends the rest.
std::string encode_history_head(std::string_view origin, std::string_view room);
std::string encode_room_query(std::string_view origin, std::string_view room, uint32_t request);
std::string encode_answer(std::string_view origin, uint32_t request, std::string_view body = {});

// A room query's answer body: the node's members of the room, (connection id, user id) pairs.
struct RoomMember {
  std::string connection;
  std::string user;
};
void encode_member(std::string& body, std::string_view connection, std::string_view user);
// The members, or nothing when the body is not a list of members.
std::optional<std::vector<RoomMember>> decode_members(std::string_view body);
std::string encode_close_session(std::string_view origin, std::string_view user, uint64_t session,
                                 uint16_t code, std::string_view reason);
std::string encode_leave(std::string_view origin, std::string_view user, std::string_view room);
std::string encode_close(std::string_view origin, std::string_view user, uint16_t code,
                         std::string_view reason);

// The message (its views point into `bytes`), or what is wrong with it.
std::variant<WireMessage, std::string> decode_wire_message(std::string_view bytes);

}  // namespace dispatch::cluster
