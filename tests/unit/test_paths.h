// Where the repository is, for unit tests that read files of it (docs/CONFIG.md, the GoDispatch
// config in tests/compat): the source directory the build was configured from (not __FILE__,
// which ccache's base_dir makes relative), whatever the working directory is.
#pragma once

#include <filesystem>

namespace dispatch::test_paths {

inline std::filesystem::path repo_root() {
  return DISPATCH_SOURCE_DIR;  // tests/CMakeLists.txt defines it
}

}  // namespace dispatch::test_paths
