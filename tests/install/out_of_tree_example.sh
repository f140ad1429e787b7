#!/usr/bin/env bash
# Proves the extension API works for a user outside this tree: installs the build into a
# temporary prefix, builds examples/custom_action as its own CMake project against that prefix
# (find_package(Dispatch), installed headers only), then runs the example action's integration
# tests against the binary built that way.
# Usage: out_of_tree_example.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build_dir=$1
source_dir=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cmake --install "$build_dir" --prefix "$work/prefix" >/dev/null
# The installed headers are the extension API and nothing of the engine's insides.
if [ -n "$(find "$work/prefix/include" -type f ! -path '*/include/dispatch/*')" ] ||
   [ ! -f "$work/prefix/include/dispatch/extension.h" ]; then
  echo "unexpected installed headers:"; find "$work/prefix/include" -type f; exit 1
fi
cmake -S "$source_dir/examples/custom_action" -B "$work/example" -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/example" -j2
test -x "$work/example/dispatch-example"

cd "$source_dir/tests/integration"
DISPATCH_EXAMPLE_BIN="$work/example/dispatch-example" PYTHONPATH="$PWD" \
  /usr/bin/python3 -m unittest -v test_example_action
