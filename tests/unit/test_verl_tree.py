"""verl trees, checked against the real verl 0.9.1 source tree (downloaded once, no deps)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from argus import verl_tree
from taskspec import CompileContext, CompileError, compile_task, load_spec
from tests.verl_fixture import verl_tree_path  # noqa: F401 - a pytest fixture

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "examples/verl-grpo.yaml").read_text()


@pytest.fixture
def tree(verl_tree_path):  # noqa: ANN001, F811
    return verl_tree.inspect_tree("v0.9.1", verl_tree_path, sys.executable)


def user_and_ours(tree, spec):  # noqa: ANN001, ANN201
    argv = compile_task(spec, CompileContext(1, 1, "/ckpt/1", verl_tree=tree)).argv
    user = list(spec.verl.overrides)
    return user, argv[3:len(argv) - len(user)]


def test_reward_key_comes_from_the_tree_config(tree):
    assert tree.reward_key == "reward.custom_reward_function"


def test_old_layout_tree_gets_the_top_level_reward_key(tmp_path):
    cdir = tmp_path / "verl" / "trainer" / "config"
    cdir.mkdir(parents=True)
    (cdir / "ppo_trainer.yaml").write_text("custom_reward_function: {path: null, name: compute_score}\n"
                                           "trainer: {nnodes: 1}\n")
    assert verl_tree.inspect_tree("old", tmp_path, "python").reward_key == "custom_reward_function"


def test_example_overrides_compose(tree):
    spec = load_spec(EXAMPLE)
    assert verl_tree.check_overrides(tree, "ppo", *user_and_ours(tree, spec)) == []


def test_mistyped_key_is_named_with_a_fix_fast(tree):
    text = EXAMPLE.replace("- actor_rollout_ref.rollout.name=vllm", "- trainer.nnode=2")
    spec = load_spec(text)
    start = time.perf_counter()
    issues = verl_tree.check_overrides(tree, "ppo", *user_and_ours(tree, spec))
    assert time.perf_counter() - start < 10  # ~0.3 s here; generous for a loaded CI box
    assert len(issues) == 1 and issues[0].path == "verl.overrides.1"
    assert "'trainer.nnode'" in issues[0].message and "did you mean 'trainer.nnodes'" in issues[0].message


def test_sft_config_is_used_for_sft(tree):
    text = ("kind: verl\nname: s\nverl: {code: v0.9.1, workload: sft, model: /m, train_files: [/a],"
            " overrides: [optim.lr=1e-5]}\nresources: {gpus_per_node: 8}\n")
    spec = load_spec(text)
    assert verl_tree.check_overrides(tree, "sft", *user_and_ours(tree, spec)) == []


def test_a_mistyped_nested_key_gets_a_sibling(tree):
    spec = load_spec(EXAMPLE.replace("- algorithm.adv_estimator=grpo", "- algorithm.adv_estimater=grpo"))
    issues = verl_tree.check_overrides(tree, "ppo", *user_and_ours(tree, spec))
    assert [i.path for i in issues] == ["verl.overrides.0"]
    assert "did you mean 'algorithm.adv_estimator'" in issues[0].message


def test_adding_a_new_key_with_plus_is_allowed(tree):
    spec = load_spec(EXAMPLE.replace("- algorithm.adv_estimator=grpo", "- +trainer.my_note=hello"))
    assert verl_tree.check_overrides(tree, "ppo", *user_and_ours(tree, spec)) == []


def test_an_override_fighting_argus_is_refused_before_hydra(tree):
    spec = load_spec(EXAMPLE.replace("- algorithm.adv_estimator=grpo", "- trainer.n_gpus_per_node=4"))
    with pytest.raises(CompileError) as info:
        compile_task(spec, CompileContext(1, 1, "/ckpt/1", verl_tree=tree))
    assert info.value.path == "verl.overrides.0" and "resources.gpus_per_node" in info.value.message


def test_a_directory_without_verl_config_is_refused_clearly(tmp_path):
    with pytest.raises(ValueError, match="not a verl source tree"):
        verl_tree.inspect_tree("x", tmp_path, "python")


def test_inspection_is_cached_until_the_config_changes(tmp_path):
    cdir = tmp_path / "verl" / "trainer" / "config"
    cdir.mkdir(parents=True)
    (cdir / "ppo_trainer.yaml").write_text("custom_reward_function: {path: null}\n")
    assert verl_tree.inspect_tree("t", tmp_path, "python").reward_key == "custom_reward_function"
    (cdir / "ppo_trainer.yaml").write_text("reward: {custom_reward_function: {path: null}}\n")
    (cdir / "touch.yaml").write_text("")  # a new file moves the directory's mtime
    os.utime(cdir, (time.time() + 5, time.time() + 5))
    assert verl_tree.inspect_tree("t", tmp_path, "python").reward_key == "reward.custom_reward_function"


def test_discovery_by_convention(tmp_path):
    (tmp_path / "code" / "verl-0.9.1").mkdir(parents=True)
    found = verl_tree.discover_trees(tmp_path, {"dev": {"path": "/x", "python": "/py"}})
    assert found["v0.9.1"][0].endswith("verl-0.9.1") and found["0.9.1"] == found["v0.9.1"]
    assert found["dev"] == ("/x", "/py")


def test_discovery_uses_the_trees_own_python_when_present(tmp_path):
    (tmp_path / "code" / "verl-0.7.0").mkdir(parents=True)
    python = tmp_path / "envs" / "verl-0.7.0" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    found = verl_tree.discover_trees(tmp_path, {})
    assert found["v0.7.0"] == (str(tmp_path / "code" / "verl-0.7.0"), str(python))
    assert verl_tree.discover_trees(tmp_path / "missing", {}) == {}
