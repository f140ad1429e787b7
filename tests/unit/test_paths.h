// Where the repository is, for unit tests that read files of it (docs/CONFIG.md, the GoDispatch
// config in tests/compat). From __FILE__, which is absolute in a plain build; with ccache's
// base_dir (CCACHE_BASEDIR) it is relative to the build directory, so it is resolved from there
// (the directory above this program's), whatever the working directory is.
#pragma once

#include <filesystem>

namespace dispatch::test_paths {

inline std::filesystem::path repo_root() {
  std::filesystem::path file(__FILE__);  // <repo>/tests/unit/test_paths.h
  if (file.is_relative()) {
    file = std::filesystem::read_symlink("/proc/self/exe").parent_path().parent_path() / file;
  }
  return file.lexically_normal().parent_path().parent_path().parent_path();
}

}  // namespace dispatch::test_paths
