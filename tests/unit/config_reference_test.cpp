// docs/CONFIG.md is exactly render_config_reference(): generated from the loader's key table, so
// the two cannot drift. Also: every key and every built-in step is in it, and every YAML example
// in it (and in docs/MIGRATING.md) loads and compiles, so the examples cannot rot.
//
// To regenerate docs/CONFIG.md, from the repository root:
//   DISPATCH_WRITE_CONFIG_REFERENCE=1 build/tests/dispatch_unit_tests --gtest_filter=ConfigRef*
// (or DISPATCH_WRITE_CONFIG_REFERENCE=<path> to write it elsewhere).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "config/key_reference.h"
#include "config/key_table.h"
#include "config_test_support.h"
#include "dispatch/extension.h"
#include "pipeline/compiled_config.h"
#include "test_paths.h"

namespace dispatch::config {
namespace {

using test_support::error_lines;
using test_support::kTestSecret;
using ::testing::IsEmpty;

constexpr const char* kRegenerate =
    "regenerate it: DISPATCH_WRITE_CONFIG_REFERENCE=1 ./build/tests/dispatch_unit_tests "
    "--gtest_filter='ConfigReference*'";

using test_paths::repo_root;

std::filesystem::path config_doc_path() {
  return repo_root() / "docs" / "CONFIG.md";
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::ostringstream contents;
  contents << file.rdbuf();
  return contents.str();
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) lines.push_back(line);
  return lines;
}

// The bodies of the ```yaml blocks, with the line each starts on.
struct YamlBlock {
  int line = 0;
  std::string text;
};

std::vector<YamlBlock> yaml_blocks(const std::string& markdown) {
  std::vector<YamlBlock> blocks;
  const std::vector<std::string> lines = lines_of(markdown);
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i] != "```yaml") continue;
    YamlBlock block;
    block.line = static_cast<int>(i + 2);
    for (++i; i < lines.size() && lines[i] != "```"; ++i) block.text += lines[i] + "\n";
    blocks.push_back(std::move(block));
  }
  return blocks;
}

TEST(ConfigReference, DocsMatchTheKeyTable) {
  const std::string rendered = render_config_reference();
  if (const char* target = std::getenv("DISPATCH_WRITE_CONFIG_REFERENCE")) {
    const std::filesystem::path path =
        std::string_view(target) == "1" ? config_doc_path() : std::filesystem::path(target);
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << rendered;
    ASSERT_TRUE(out.good()) << "could not write " << path;
    std::cout << "wrote " << path << "\n";
    return;
  }
  const std::filesystem::path path = config_doc_path();
  ASSERT_TRUE(std::filesystem::exists(path)) << path << " is missing; " << kRegenerate;
  const std::string on_disk = read_file(path);
  if (on_disk == rendered) return;
  const std::vector<std::string> want = lines_of(rendered);
  const std::vector<std::string> have = lines_of(on_disk);
  size_t line = 0;
  while (line < want.size() && line < have.size() && want[line] == have[line]) ++line;
  ADD_FAILURE() << "docs/CONFIG.md is out of date with the key table (src/config/key_table.cpp) "
                   "or src/config/key_reference.cpp; "
                << kRegenerate << "\nfirst difference at line " << line + 1
                << ":\n  file:      " << (line < have.size() ? have[line] : "<end of file>")
                << "\n  generated: " << (line < want.size() ? want[line] : "<end of file>");
}

TEST(ConfigReference, ListsEveryKeyAndEveryBuiltInStep) {
  const std::string rendered = render_config_reference();
  for (const KeyInfo& key : config_keys()) {
    EXPECT_NE(rendered.find("| `" + key.path + "` |"), std::string::npos)
        << key.path << " has no row in the reference";
    if (!key.alias_of.empty()) {
      EXPECT_NE(rendered.find("| `" + key.path + "` | `" + key.alias_of + "` |"), std::string::npos)
          << key.path << " is not shown with the key it sets";
    }
    if (!key.implemented) {
      EXPECT_NE(rendered.find("| `" + key.path + "` |"), std::string::npos);
      const size_t row = rendered.find("| `" + key.path + "` |");
      const size_t end = rendered.find('\n', row);
      EXPECT_NE(rendered.substr(row, end - row).find("**not yet**"), std::string::npos)
          << key.path << " is not marked not yet";
    }
  }
  StepRegistry registry;
  register_builtin_steps(registry);
  for (StepKind kind : {StepKind::action, StepKind::modifier}) {
    for (const std::string& name : registry.names(kind)) {
      const size_t row = rendered.find("| `" + name + "` |");
      ASSERT_NE(row, std::string::npos) << name << " has no row in the reference";
      const std::string text = rendered.substr(row, rendered.find('\n', row) - row);
      EXPECT_EQ(text.find("**not yet**"), std::string::npos) << name << " exists but says not yet";
      EXPECT_EQ(text.find("not documented yet"), std::string::npos)
          << name << ": add what it does to kStepDocs in src/config/key_reference.cpp";
    }
  }
}

// The public key file the docs' examples name (`/etc/dispatch/tokens.pub.pem`) is not on a test
// machine: examples get a real Ed25519 public key written to a temporary file in its place.
constexpr std::string_view kExamplePublicKeyPath = "/etc/dispatch/tokens.pub.pem";

struct ExamplePublicKeyFile {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("dispatch-example-key-" + std::to_string(::getpid()) + ".pem");
  ExamplePublicKeyFile() {
    EVP_PKEY* key = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    FILE* out = std::fopen(path.c_str(), "w");
    if (key && out) PEM_write_PUBKEY(out, key);
    if (out) std::fclose(out);
    EVP_PKEY_free(key);
  }
  ~ExamplePublicKeyFile() {
    std::error_code ignored;
    std::filesystem::remove(path, ignored);
  }
};

std::string example_public_key_file() {
  static const ExamplePublicKeyFile file;
  return file.path.string();
}

// Loads and compiles every ```yaml block of `markdown`, as `dispatch check` would.
void expect_examples_load(const std::string& markdown, const std::string& document) {
  std::vector<YamlBlock> blocks = yaml_blocks(markdown);
  for (YamlBlock& block : blocks) {
    for (size_t at = block.text.find(kExamplePublicKeyPath); at != std::string::npos;
         at = block.text.find(kExamplePublicKeyPath, at)) {
      block.text.replace(at, kExamplePublicKeyPath.size(), example_public_key_file());
    }
  }
  const Environment environment = test_support::test_environment(
      {{"DISPATCH_EVENT_JWT_SECRET", "fedcba9876543210fedcba9876543210"},
       {"GODISPATCH_SERVER_AUTH_JWTSECRET", kTestSecret},
       {"DISPATCH_API_KEY", "0123456789abcdef0123456789abcdef"}});
  StepRegistry registry;
  register_builtin_steps(registry);
  for (const YamlBlock& block : blocks) {
    const std::string name = document + " example at line " + std::to_string(block.line);
    LoadResult loaded = load_config_text(block.text, name, environment);
    ASSERT_THAT(error_lines(loaded), IsEmpty()) << block.text;
    EXPECT_THAT(loaded.warnings, IsEmpty()) << block.text;
    std::vector<ConfigError> errors;
    const auto compiled = CompiledConfig::compile(std::move(*loaded.config), registry, errors);
    std::vector<std::string> compile_errors;
    for (const ConfigError& error : errors) compile_errors.push_back(format_error(error));
    EXPECT_THAT(compile_errors, IsEmpty()) << block.text;
    EXPECT_NE(compiled, nullptr) << block.text;
  }
}

TEST(ConfigReference, EveryYamlExampleLoadsAndCompiles) {
  const std::string rendered = render_config_reference();
  EXPECT_GE(yaml_blocks(rendered).size(), 10u);
  expect_examples_load(rendered, "CONFIG.md");
}

TEST(ConfigReference, MigratingGuideExamplesLoadAndCompile) {
  const std::string migrating = read_file(repo_root() / "docs" / "MIGRATING.md");
  EXPECT_GE(yaml_blocks(migrating).size(), 2u);
  expect_examples_load(migrating, "MIGRATING.md");
}

}  // namespace
}  // namespace dispatch::config
