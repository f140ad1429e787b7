// libFuzzer target: a template and a payload from one input. The first byte picks the param
// kind (N name, J JSON, T text), the rest up to the first line "%%" is the template source, the
// part after it a JSON payload that {.payload...} placeholders read (through simdjson, as the
// engine does). It must never crash, and a JSON param, once filled, must be one valid JSON document
// (SPEC 2.1: values can neither break the document nor add keys).
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "template/template.h"
#include "template/template_compiler.h"

namespace {

using dispatch::ParamKind;
using dispatch::tmpl::Placeholder;
using dispatch::tmpl::ResolvedValue;
using dispatch::tmpl::Source;

class PayloadScope final : public dispatch::tmpl::TemplateScope {
 public:
  explicit PayloadScope(const simdjson::dom::element* payload) : payload_(payload) {}

  bool resolve(const Placeholder& placeholder, ResolvedValue& out) override {
    switch (placeholder.source) {
      case Source::user_id:
        out = {true, "al\"ice\\"};
        return true;
      case Source::conn_id:
        out = {true, "n1-7"};
        return true;
      case Source::target_id:
        out = {true, "room:</script>"};
        return true;
      case Source::event_name:
        out = {true, "ev\u2028"};
        return true;
      case Source::room_id:
        return false;
      case Source::claim:
        if (placeholder.claim == "n") {
          out = {false, "42"};
          return true;
        }
        return false;
      case Source::payload:
        break;
    }
    if (!payload_) return false;
    simdjson::dom::element value;
    if (payload_->at_pointer(placeholder.json_pointer).get(value)) return false;
    if (value.is_string()) {
      out = {true, value.get_string().value_unsafe()};
    } else {
      text_ = simdjson::minify(value);
      out = {false, text_};
    }
    return true;
  }

 private:
  const simdjson::dom::element* payload_;
  std::string text_;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static constexpr ParamKind kKinds[] = {ParamKind::name, ParamKind::json, ParamKind::text};
  // Seeds start with N, J or T; any other byte picks a kind too.
  const ParamKind kind = data[0] == 'N'   ? ParamKind::name
                         : data[0] == 'J' ? ParamKind::json
                         : data[0] == 'T' ? ParamKind::text
                                          : kKinds[data[0] % 3];
  const std::string_view input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const size_t split = input.find("\n%%\n");
  const std::string_view source = input.substr(0, split);
  const std::string_view payload_text =
      split == std::string_view::npos ? std::string_view() : input.substr(split + 4);

  std::vector<dispatch::tmpl::TemplateError> errors;
  const auto compiled = dispatch::tmpl::Template::compile(source, kind, {}, errors);
  if (!compiled) {
    if (errors.empty() || errors.size() > dispatch::tmpl::kMaxTemplateErrors + 1) std::abort();
    return 0;
  }
  static simdjson::dom::parser parser;
  simdjson::padded_string padded(payload_text.data(), payload_text.size());
  simdjson::dom::element payload;
  const bool has_payload = !parser.parse(padded).get(payload);
  PayloadScope scope(has_payload ? &payload : nullptr);
  std::string out = "kept";
  std::string missing;
  if (!compiled->fill(scope, out, &missing)) {
    if (out != "kept" || missing.empty()) std::abort();
    return 0;
  }
  if (kind == ParamKind::json) {
    static simdjson::dom::parser checker;
    simdjson::padded_string filled(out.data() + 4, out.size() - 4);
    if (checker.parse(filled).error()) std::abort();
  }
  return 0;
}
