// A template compile error: what is wrong, and where in the template (a byte offset), kept apart
// so that the config loader can point at the mistake in the file itself.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

namespace dispatch::tmpl {

struct TemplateError {
  std::optional<std::size_t> offset;  // none for an error about the whole template
  std::string message;                // says nothing of the offset

  bool operator==(const TemplateError&) const = default;
};

// "message (at offset N)", or the message alone when it has no offset.
inline std::string with_offset(const TemplateError& error) {
  if (!error.offset) return error.message;
  return error.message + " (at offset " + std::to_string(*error.offset) + ")";
}

}  // namespace dispatch::tmpl
