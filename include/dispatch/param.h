// A step's params as the extension API sees them: what a step declares (ParamSpec, built with
// the descriptors in `dispatch::params`) and what it gets back at load time (a compiled Param).
//
//   definition.params = {dispatch::params::event_name("event"), dispatch::params::text("text"),
//                        dispatch::params::optional(dispatch::params::name("room id"))};
//
// Every param is a template ({$user.id}, {.payload.text}, ...), compiled once when the config
// loads; the kind decides how it is checked and filled.
#pragma once

#include <string>
#include <string_view>

namespace dispatch {

namespace tmpl {
class Template;  // the engine's compiled template: the only kind of Param
}

enum class ParamKind {
  name,  // event names, room ids, user ids: plain text
  json,  // payload documents: valid JSON once filled, filled JSON-safely
  text,  // log lines: plain text
};

// One declared param. Build it with the descriptors below rather than by hand.
struct ParamSpec {
  std::string name;  // how errors and docs call it: "room id"
  ParamKind kind = ParamKind::name;
  bool optional = false;    // may be left out (only trailing params)
  bool event_name = false;  // a literal that may not be welcome/ack/error (cannot forge frames)
};

namespace params {

// A user id, room id or other plain text value.
inline ParamSpec name(std::string label) {
  return {std::move(label), ParamKind::name};
}
// The name of the event a step sends: a literal, never `welcome`, `ack` or `error`.
inline ParamSpec event_name(std::string label) {
  return {std::move(label), ParamKind::name, false, true};
}
// A JSON document once filled (a payload); placeholders are filled JSON-safely.
inline ParamSpec json(std::string label) {
  return {std::move(label), ParamKind::json};
}
// Free text (a log line).
inline ParamSpec text(std::string label) {
  return {std::move(label), ParamKind::text};
}
// The same param, which config may leave out.
inline ParamSpec optional(ParamSpec spec) {
  spec.optional = true;
  return spec;
}

}  // namespace params

// A compiled param, as a step's factory receives it (StepBuildContext::param). It lives as long
// as the step built from it: keep a reference. Fill it per message with StepContext::fill.
class Param {
 public:
  ParamKind kind() const;
  // True when the param has no placeholder; literal_text() is then its text (braces unescaped).
  bool is_literal() const;
  std::string_view literal_text() const;
  // The param as written in config.yaml.
  std::string_view source() const;

 private:
  friend class tmpl::Template;
  Param() = default;
  ~Param() = default;
  Param(const Param&) = default;
  Param& operator=(const Param&) = default;
};

}  // namespace dispatch
