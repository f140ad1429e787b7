#!/usr/bin/env python3
# Tests of scripts/layers itself: each test writes a small source tree into a temporary directory
# (src/<folder>/<file> with the given #include lines), runs the script on it and reads its output
# and exit status. Run: python3 tests/architecture/layers_test.py  (ctest architecture.layers_script)
import os
import subprocess
import sys
import tempfile
import unittest

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scripts", "layers")


def run_layers(files, *options):
    """files: {"src/a/b.cpp": ["#include \"c/d.h\"", ...]} → (exit status, stdout + stderr)."""
    with tempfile.TemporaryDirectory() as root:
        for path, lines in files.items():
            full = os.path.join(root, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            with open(full, "w", encoding="utf-8") as f:
                f.write("".join(line + "\n" for line in lines))
        result = subprocess.run(
            [sys.executable, SCRIPT, *options, root],
            capture_output=True,
            text=True,
            encoding="utf-8",
            timeout=60,
        )
        return result.returncode, result.stdout + result.stderr


# Every include runs down the declared layers: app → server → transport → ... → dispatch.
CLEAN_TREE = {
    "include/dispatch/extension.h": ["#pragma once", '#include "dispatch/json.h"'],
    "include/dispatch/json.h": ["#pragma once"],
    "src/template/template.h": ["#pragma once", '#include "dispatch/json.h"', "#include <string>"],
    "src/config/config.h": [
        "#pragma once",
        '#include "config/units.h"',
        '#include "dispatch/json.h"',
    ],
    "src/config/units.h": ["#pragma once"],
    "src/log/log.cpp": ['#include "log/log.h"', '#include "template/template.h"'],
    "src/log/log.h": ["#pragma once"],
    "src/steps/modifiers/rate_limit.cpp": [
        '#include "dispatch/extension.h"',
        '#include "config/config.h"',
        '#include "sliding_window.h"',
    ],
    "src/steps/modifiers/sliding_window.h": ["#pragma once"],
    "src/pipeline/router.h": ["#pragma once", '#include "steps/registry.h"'],
    "src/server/engine.cpp": [
        '#include "server/engine.h"',
        "",
        '#include "pipeline/router.h"',
        '#include "log/log.h"',
    ],
    "src/server/engine.h": ["#pragma once"],
    "src/app/main.cpp": ['#include "server/engine.h"', '#include "config/config.h"'],
}


def with_files(tree, extra):
    merged = dict(tree)
    merged.update(extra)
    return merged


class CheckTest(unittest.TestCase):
    def test_a_tree_whose_includes_all_run_down_passes_with_one_summary_line(self):
        status, output = run_layers(CLEAN_TREE, "--check")
        self.assertEqual(status, 0, output)
        self.assertEqual(
            output, "layers: 8 folders, 10 includes between folders, every one runs down\n"
        )

    def test_one_upward_include_fails_naming_its_file_and_line(self):
        tree = with_files(
            CLEAN_TREE,
            {"src/config/loader.cpp": ['#include "config/config.h"', '#include "server/engine.h"']},
        )
        status, output = run_layers(tree, "--check")
        self.assertEqual(status, 1, output)
        self.assertIn(
            'src/config/loader.cpp:2: includes "server/engine.h" (layer config=1.7 below server=12)',
            output,
        )
        self.assertIn("1 include(s) run up the declared layers", output)
        self.assertNotIn("src/server/engine.cpp", output)  # its includes run down

    def test_inside_the_bottom_layer_only_the_declared_order_may_be_included(self):
        tree = with_files(CLEAN_TREE, {"src/template/pieces.cpp": ['#include "log/log.h"']})
        status, output = run_layers(tree, "--check")
        self.assertEqual(status, 1, output)
        self.assertIn(
            'src/template/pieces.cpp:1: includes "log/log.h" (layer template=1.4 below log=1.5)',
            output,
        )

    def test_the_public_api_may_include_nothing_of_src(self):
        tree = with_files(
            CLEAN_TREE, {"include/dispatch/param.h": ["#pragma once", '#include "config/units.h"']}
        )
        status, output = run_layers(tree, "--check")
        self.assertEqual(status, 1, output)
        self.assertIn(
            'include/dispatch/param.h:2: includes "config/units.h" '
            "(layer dispatch=1.1 below config=1.7)",
            output,
        )

    def test_a_folder_in_no_layer_fails_saying_where_to_add_it(self):
        tree = with_files(
            CLEAN_TREE, {"src/rooms/directory.cpp": ['#include "config/config.h"']}
        )
        status, output = run_layers(tree, "--check")
        self.assertEqual(status, 1, output)
        self.assertIn("folder rooms is in no layer: add it to LAYERS in scripts/layers", output)
        self.assertIn("0 include(s) run up the declared layers, 1 folder(s) in no layer", output)

    def test_a_folder_without_sources_is_no_folder(self):
        tree = with_files(CLEAN_TREE, {"src/rooms/README.md": ["moved to delivery/"]})
        status, output = run_layers(tree, "--check")
        self.assertEqual(status, 0, output)

    def test_a_root_without_src_is_an_error(self):
        status, output = run_layers({"README.md": ["no sources"]}, "--check")
        self.assertEqual(status, 2, output)
        self.assertIn("src is not a directory", output)


class PictureTest(unittest.TestCase):
    def test_floors_follow_the_longest_path_down_top_floor_first(self):
        status, output = run_layers(CLEAN_TREE)
        self.assertEqual(status, 0, output)
        rows = [line.split()[:3] for line in output.splitlines() if line.startswith("floor")]
        self.assertEqual(
            rows,
            [
                ["floor", "6", "app"],
                ["floor", "5", "server"],
                ["floor", "4", "pipeline"],
                ["floor", "3", "log"],
                ["floor", "3", "steps"],
                ["floor", "2", "config"],
                ["floor", "2", "template"],
                ["floor", "1", "dispatch"],
            ],
        )
        self.assertIn("→ pipeline(1) log(1)", output)  # server's arrows, highest floor first
        self.assertIn("folder cycles: 0", output)
        self.assertIn("includes that run back up (part of a folder cycle): 0", output)

    def test_a_nested_folder_counts_as_its_top_folder_with_its_lines(self):
        status, output = run_layers(CLEAN_TREE)
        self.assertEqual(status, 0, output)
        steps = [line for line in output.splitlines() if " steps " in line]
        self.assertEqual(len(steps), 1, output)
        self.assertRegex(steps[0], r"steps +4 lines +→ config\(1\) dispatch\(1\)$")

    def test_a_cycle_shares_one_floor_and_its_includes_are_listed_as_running_back_up(self):
        tree = with_files(
            CLEAN_TREE,
            {
                "src/transport/connection.cpp": [
                    '#include "transport/connection.h"',
                    '#include "server/engine.h"',
                ],
                "src/transport/connection.h": ["#pragma once"],
                "src/server/loop.cpp": ['#include "transport/connection.h"'],
            },
        )
        status, output = run_layers(tree)
        self.assertEqual(status, 0, output)
        self.assertIn("folder cycles: 1\n  server ⇄ transport\n", output)
        self.assertIn(
            "includes that run back up (part of a folder cycle): 2\n"
            "  server → transport (1)\n"
            "    src/server/loop.cpp:1 → transport/connection.h\n"
            "  transport → server (1)\n"
            "    src/transport/connection.cpp:2 → server/engine.h\n",
            output,
        )
        floors = {
            line.split()[2]: line.split()[1]
            for line in output.splitlines()
            if line.startswith("floor")
        }
        self.assertEqual(floors["server"], floors["transport"])
        self.assertEqual(floors["app"], str(int(floors["server"]) + 1))

    def test_the_picture_is_the_same_every_run(self):
        first = run_layers(CLEAN_TREE)
        self.assertEqual(first, run_layers(CLEAN_TREE))


if __name__ == "__main__":
    unittest.main(verbosity=2)
