// A Redis reply, owned (copied out of hiredis's reply, which lives only during its callback).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace dispatch::redis {

struct RedisReply {
  enum class Type { error, status, string, integer, nil, array };
  Type type = Type::nil;
  std::string text;                  // error, status and string replies
  int64_t integer = 0;               // integer replies
  std::vector<RedisReply> elements;  // array replies

  bool is_error() const { return type == Type::error; }
  static RedisReply error(std::string message) {
    return RedisReply{Type::error, std::move(message), 0, {}};
  }
};

// From a hiredis `redisReply*` (nullptr: the connection dropped before the answer).
RedisReply copy_reply(const void* hiredis_reply);

}  // namespace dispatch::redis
