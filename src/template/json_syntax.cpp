#include "template/json_syntax.h"

#include <utility>

namespace dispatch::tmpl {
namespace {

constexpr int kMaxDepth = 128;

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

bool is_hex_digit(char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

// Recursive descent over the JSON grammar; stops at the first error.
class JsonSyntaxChecker {
 public:
  explicit JsonSyntaxChecker(std::string_view text) : text_(text) {}

  std::optional<JsonSyntaxError> check() {
    skip_whitespace();
    if (!value(0)) return error_;
    skip_whitespace();
    if (pos_ != text_.size()) fail("unexpected text after the end of the JSON value");
    return error_;
  }

 private:
  bool fail(std::string message) {
    error_ = JsonSyntaxError{pos_, std::move(message)};
    return false;
  }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_whitespace() {
    while (!at_end()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') return;
      ++pos_;
    }
  }

  bool value(int depth) {
    if (depth > kMaxDepth) return fail("JSON nested too deeply");
    switch (peek()) {
      case '{':
        return object(depth);
      case '[':
        return array(depth);
      case '"':
        return string();
      case 't':
        return word("true");
      case 'f':
        return word("false");
      case 'n':
        return word("null");
      default:
        if (peek() == '-' || is_digit(peek())) return number();
        return fail(at_end() ? "unexpected end, expected a JSON value" : "expected a JSON value");
    }
  }

  bool object(int depth) {
    ++pos_;  // '{'
    skip_whitespace();
    if (peek() == '}') {
      ++pos_;
      return true;
    }
    while (true) {
      if (peek() != '"') return fail("expected a string key");
      if (!string()) return false;
      skip_whitespace();
      if (peek() != ':') return fail("expected ':' after the object key");
      ++pos_;
      skip_whitespace();
      if (!value(depth + 1)) return false;
      skip_whitespace();
      if (peek() == '}') {
        ++pos_;
        return true;
      }
      if (peek() != ',') return fail("expected ',' or '}' in object");
      ++pos_;
      skip_whitespace();
    }
  }

  bool array(int depth) {
    ++pos_;  // '['
    skip_whitespace();
    if (peek() == ']') {
      ++pos_;
      return true;
    }
    while (true) {
      if (!value(depth + 1)) return false;
      skip_whitespace();
      if (peek() == ']') {
        ++pos_;
        return true;
      }
      if (peek() != ',') return fail("expected ',' or ']' in array");
      ++pos_;
      skip_whitespace();
    }
  }

  bool string() {
    ++pos_;  // opening quote
    while (!at_end()) {
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return true;
      }
      if (static_cast<unsigned char>(c) < 0x20) {
        return fail("control character in a string (write it as an escape such as \\n)");
      }
      if (c != '\\') {
        ++pos_;
        continue;
      }
      ++pos_;
      const char escaped = peek();
      if (escaped == 'u') {
        for (int i = 1; i <= 4; ++i) {
          if (pos_ + i >= text_.size() || !is_hex_digit(text_[pos_ + i])) {
            return fail("\\u must be followed by four hex digits");
          }
        }
        pos_ += 5;
      } else if (escaped == '"' || escaped == '\\' || escaped == '/' || escaped == 'b' ||
                 escaped == 'f' || escaped == 'n' || escaped == 'r' || escaped == 't') {
        ++pos_;
      } else {
        return fail("invalid escape sequence in a string");
      }
    }
    return fail("unterminated string");
  }

  bool digits() {
    if (!is_digit(peek())) return false;
    while (is_digit(peek())) ++pos_;
    return true;
  }

  bool number() {
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
    } else if (!digits()) {
      return fail("invalid number");
    }
    if (peek() == '.') {
      ++pos_;
      if (!digits()) return fail("invalid number: expected digits after '.'");
    }
    if (peek() == 'e' || peek() == 'E') {
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      if (!digits()) return fail("invalid number: expected digits in the exponent");
    }
    return true;
  }

  bool word(std::string_view expected) {
    if (text_.substr(pos_, expected.size()) != expected) {
      return fail("expected a JSON value (did you mean " + std::string(expected) + "?)");
    }
    pos_ += expected.size();
    return true;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::optional<JsonSyntaxError> error_;
};

}  // namespace

std::optional<JsonSyntaxError> find_json_syntax_error(std::string_view text) {
  return JsonSyntaxChecker(text).check();
}

}  // namespace dispatch::tmpl
