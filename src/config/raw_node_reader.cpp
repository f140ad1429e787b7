#include "config/raw_node_reader.h"

namespace dispatch::config {

namespace {

class RawNodeBuilder {
 public:
  RawNodeBuilder(ValueReader& reader, const RawNodeLimits& limits)
      : reader_(reader), limits_(limits) {}

  // False when something was reported (the walk stops at the first bound crossed).
  bool read(const YAML::Node& node, const std::string& path, size_t depth, RawNode& out) {
    if (++nodes_ > limits_.max_nodes) {
      reader_.error(node, "`" + path + "`: too large (more than " +
                              std::to_string(limits_.max_nodes) + " YAML nodes)");
      return false;
    }
    if (depth > limits_.max_depth) {
      reader_.error(node, "`" + path + "`: nested too deeply (more than " +
                              std::to_string(limits_.max_depth) + " levels)");
      return false;
    }
    out.mark = reader_.mark_of(node);
    switch (node.Type()) {
      case YAML::NodeType::Null:
      case YAML::NodeType::Undefined:
        out.kind = RawNode::Kind::null;
        return true;
      case YAML::NodeType::Scalar: {
        out.kind = RawNode::Kind::scalar;
        // yaml-cpp tags plain scalars "?" and quoted or block scalars "!".
        out.quoted = node.Tag() != "?";
        auto text = reader_.text(node, path);
        if (!text) return false;
        out.text = std::move(*text);
        return true;
      }
      case YAML::NodeType::Sequence: {
        out.kind = RawNode::Kind::sequence;
        bool ok = true;
        for (size_t i = 0; i < node.size() && ok; ++i) {
          ok = read(node[i], path + "[" + std::to_string(i) + "]", depth + 1,
                    out.items.emplace_back());
        }
        return ok;
      }
      case YAML::NodeType::Map: {
        out.kind = RawNode::Kind::mapping;
        bool ok = true;
        const size_t errors_before = reader_.error_count();
        reader_.for_each_entry(
            node, path,
            [&](const std::string& name, const YAML::Node& key, const YAML::Node& value) {
              if (!ok) return;
              out.keys.push_back(name);
              out.key_marks.push_back(reader_.mark_of(key));
              ok = read(value, path + "." + name, depth + 1, out.items.emplace_back());
            });
        return ok && reader_.error_count() == errors_before;
      }
    }
    return true;
  }

 private:
  ValueReader& reader_;
  const RawNodeLimits& limits_;
  size_t nodes_ = 0;
};

}  // namespace

std::optional<RawNode> read_raw_node(ValueReader& reader, const YAML::Node& node,
                                     const std::string& path, const RawNodeLimits& limits) {
  RawNode raw;
  RawNodeBuilder builder(reader, limits);
  if (!builder.read(node, path, 0, raw)) return std::nullopt;
  return raw;
}

}  // namespace dispatch::config
