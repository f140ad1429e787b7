// Reads typed values out of YAML nodes for the loader, collecting every problem instead of
// stopping at the first: each read either returns a value or records a ConfigError at the
// node's position and returns nothing. Every scalar goes through ${VAR} substitution here, so
// substitution applies to any value the loader reads.
//
// Messages name the key by its dotted path (`server.ping_interval`) and may quote the
// offending text; they never quote a string value, so secrets cannot leak through them.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.h"
#include "config/environment.h"

namespace dispatch::config {

class ValueReader {
 public:
  ValueReader(std::string file_name, const Environment& environment,
              std::vector<ConfigError>& errors);

  // Where notes go (e.g. a secret checked without its variable); without it they are dropped.
  void collect_notes(std::vector<ConfigError>& notes) { notes_ = &notes; }
  void note(const SourceMark& mark, std::string message);
  const Environment& environment() const { return environment_; }

  // The file's text, for verbatim_text_start(); without it that finds nothing.
  void keep_source_text(std::string_view yaml) { source_text_ = yaml; }

  const std::string& file_name() const { return file_name_; }
  SourceMark mark_of(const YAML::Node& node) const;
  // Where the scalar's `text` starts in the file when offsets into it map to columns exactly
  // (config/scalar_position.h).
  std::optional<SourceMark> verbatim_text_start(const YAML::Node& node,
                                                std::string_view text) const;
  void error(const SourceMark& mark, std::string message);
  void error(const YAML::Node& node, std::string message) {
    error(mark_of(node), std::move(message));
  }
  size_t error_count() const { return errors_.size(); }

  // Calls `visit(name, key_node, value_node)` for each entry of a mapping, in file order.
  // Keys that are not plain scalars and repeated keys are reported (at the offending key) and
  // skipped. `path` is the mapping's dotted path, for messages ("" at the top).
  void for_each_entry(
      const YAML::Node& mapping, const std::string& path,
      const std::function<void(const std::string&, const YAML::Node&, const YAML::Node&)>& visit);

  // The scalar's text after ${VAR} substitution. `expected` describes what a non-scalar should
  // have been ("a string", "a duration like 25s").
  std::optional<std::string> text(const YAML::Node& node, std::string_view path,
                                  std::string_view expected = "a string");

  std::optional<std::string> read_string(const YAML::Node& node, std::string_view path);
  // A secret: as read_string, except that when the environment allows unset secrets, an unset
  // ${NAME} is a note and becomes unset_variable_placeholder(NAME) (config/substitution.h).
  std::optional<std::string> read_secret(const YAML::Node& node, std::string_view path);
  std::optional<bool> read_bool(const YAML::Node& node, std::string_view path);
  std::optional<uint64_t> read_unsigned(const YAML::Node& node, std::string_view path,
                                        uint64_t max_value);
  std::optional<Duration> read_duration(const YAML::Node& node, std::string_view path);
  std::optional<uint64_t> read_size(const YAML::Node& node, std::string_view path);
  std::optional<RateSpec> read_rate(const YAML::Node& node, std::string_view path);
  // One of `choices`, spelt exactly; returns its index.
  std::optional<size_t> read_choice(const YAML::Node& node, std::string_view path,
                                    const std::vector<std::string>& choices);
  // A list of strings; null is the empty list.
  std::optional<std::vector<std::string>> read_string_list(const YAML::Node& node,
                                                           std::string_view path);

  // True when `node` leaves a key at its default: null, an empty list, "" or `default_text`,
  // or a mapping whose values are all empty in that sense (e.g. `tls: {cert: "", key: ""}`).
  bool is_default_value(const YAML::Node& node, std::string_view path,
                        std::string_view default_text);

 private:
  // "`path`: <problem>, got `text`", the text shortened when long.
  void value_error(const YAML::Node& node, std::string_view path, std::string_view problem,
                   std::string_view got);

  std::string file_name_;
  std::string_view source_text_;
  const Environment& environment_;
  std::vector<ConfigError>& errors_;
  std::vector<ConfigError>* notes_ = nullptr;
};

// "<problem>, got `text`", keeping a trailing parenthesised hint of `problem` at the end:
// "expected a duration like 30s (a number needs a unit)" + "30" ->
// "expected a duration like 30s, got `30` (a number needs a unit)". Long text is shortened.
std::string with_offending_text(std::string_view problem, std::string_view got);

// "a list", "a mapping", "a single value", "nothing": what a node is, for messages.
std::string_view describe_node_kind(const YAML::Node& node);

}  // namespace dispatch::config
