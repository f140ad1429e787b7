// Reads a YAML subtree into a RawNode (config.h) for a key a later stage interprets, such as an
// event's payload `schema:`. Scalars go through ${VAR} substitution like every other value; keys
// must be plain scalars and may not repeat. The subtree is bounded (YAML aliases could otherwise
// make a small file expand into a huge tree): beyond `max_nodes` nodes or `max_depth` levels it
// is an error at the node where the bound was crossed.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <optional>
#include <string>

#include "config/config.h"
#include "config/value_reader.h"

namespace dispatch::config {

struct RawNodeLimits {
  size_t max_nodes = 2000;
  size_t max_depth = 64;
};

std::optional<RawNode> read_raw_node(ValueReader& reader, const YAML::Node& node,
                                     const std::string& path, const RawNodeLimits& limits = {});

}  // namespace dispatch::config
