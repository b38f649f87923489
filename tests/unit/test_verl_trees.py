"""Finding verl trees, checking their interpreters, and reading checkpoints the way verl does."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from argus.verl import interpreters
from argus.verl.checkpoints import latest_step
from argus.verl.trees import TreeEntry, describe, discover_trees, inspect_tree
from tests.verl_fixture import tree_or_skip


def test_discovery_by_convention_and_settings(tmp_path):
    (tmp_path / "code" / "verl-0.9.1").mkdir(parents=True)
    found = discover_trees(tmp_path, {"dev": {"path": "/x", "python": "/py"}})
    assert found["v0.9.1"].path.endswith("verl-0.9.1") and found["0.9.1"].path == found["v0.9.1"].path
    assert found["v0.9.1"].source == "server" and found["v0.9.1"].python == sys.executable
    assert found["dev"] == TreeEntry("dev", "/x", "/py", "settings")
    assert discover_trees(tmp_path / "missing", {}) == {}


def test_discovery_uses_the_trees_own_environment_when_present(tmp_path):
    (tmp_path / "code" / "verl-0.7.0").mkdir(parents=True)
    python = tmp_path / "envs" / "verl-0.7.0" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    entry = discover_trees(tmp_path, {})["v0.7.0"]
    assert (entry.python, entry.source) == (str(python), "convention")


def test_the_servers_interpreter_passes_the_check_for_a_real_tree():
    path = tree_or_skip("0.9.1")
    result = interpreters.check_interpreter(sys.executable, str(path))
    assert result.ok, result.problem
    row = describe(TreeEntry("v0.9.1", str(path), sys.executable, "server"))
    assert row["status"].startswith("ok (server's interpreter") and row["workloads"] == ["ppo", "sft"]
    assert "runtime_env.py_executable" in row["layout"] and row["cpus_per_gpu"] == 3


def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "python"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_interpreter_problems_are_named_with_the_fix(tmp_path):
    tree = str(tree_or_skip("0.9.1"))
    missing = interpreters.check_interpreter(str(tmp_path / "nope"), tree)
    assert not missing.ok and "not an executable file" in missing.problem
    other = tmp_path / "other"
    (other / "verl").mkdir(parents=True)
    (other / "verl" / "__init__.py").write_text("")
    shadow = script(tmp_path, f'PYTHONPATH={other}:$PYTHONPATH exec {sys.executable} "$@"')
    result = interpreters.check_interpreter(shadow, tree)
    assert not result.ok and "uninstall the other verl" in result.problem
    wrong_ray = interpreters.check_interpreter(sys.executable, tree, ray_version="1.0.0")
    assert not wrong_ray.ok and "install ray==1.0.0" in wrong_ray.problem


def test_a_tree_whose_interpreter_fails_is_refused_and_says_where_it_came_from(tmp_path):
    tree = str(tree_or_skip("0.9.1"))
    broken = script(tmp_path, "exit 3")
    with pytest.raises(ValueError, match="verl tree 'v0.9.1': interpreter .* failed") as info:
        inspect_tree(TreeEntry("v0.9.1", tree, broken, "server"))
    assert "server's interpreter was tried" in str(info.value)
    assert describe(TreeEntry("v0.9.1", tree, broken, "settings"))["status"] == "broken"


def test_a_directory_without_verl_config_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="not a verl source tree"):
        inspect_tree(TreeEntry("x", str(tmp_path), sys.executable, "settings"))


def test_the_newest_step_is_read_as_verl_reads_it(tmp_path):
    assert latest_step(tmp_path) is None
    (tmp_path / "global_step_30").mkdir()
    assert latest_step(tmp_path) is None  # no marker: verl starts from scratch
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("40\n")
    assert latest_step(tmp_path) is None  # the marker names a step that is not there
    (tmp_path / "global_step_40").mkdir()
    assert latest_step(tmp_path) == 40
    (tmp_path / "latest_checkpointed_iteration.txt").write_text("garbage")
    assert latest_step(tmp_path) is None
    assert latest_step(tmp_path / "missing") is None
