"""verl trees, checked against the real verl 0.9.1 source tree (downloaded once, no deps)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from argus import verl_tree
from taskspec import CompileContext, compile_task, load_spec

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tree():
    from tests.verl_fixture import verl_source_tree

    try:
        path = verl_source_tree()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"could not fetch the verl 0.9.1 wheel: {exc}")
    return verl_tree.inspect_tree("v0.9.1", path, sys.executable)


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
    spec = load_spec((REPO / "examples/verl-grpo.yaml").read_text())
    assert verl_tree.check_overrides(tree, "ppo", *user_and_ours(tree, spec)) == []


def test_mistyped_key_is_named_with_a_fix_fast(tree):
    text = (REPO / "examples/verl-grpo.yaml").read_text().replace(
        "- actor_rollout_ref.rollout.name=vllm", "- trainer.nnode=2")
    spec = load_spec(text)
    start = time.perf_counter()
    issues = verl_tree.check_overrides(tree, "ppo", *user_and_ours(tree, spec))
    assert time.perf_counter() - start < 5
    assert len(issues) == 1 and issues[0].path == "verl.overrides.1"
    assert "'trainer.nnode'" in issues[0].message and "did you mean 'trainer.nnodes'" in issues[0].message


def test_sft_config_is_used_for_sft(tree):
    text = ("kind: verl\nname: s\nverl: {code: v0.9.1, workload: sft, model: /m, train_files: [/a],"
            " overrides: [optim.lr=1e-5]}\n")
    spec = load_spec(text)
    assert verl_tree.check_overrides(tree, "sft", *user_and_ours(tree, spec)) == []


def test_discovery_by_convention(tmp_path):
    (tmp_path / "code" / "verl-0.9.1").mkdir(parents=True)
    found = verl_tree.discover_trees(tmp_path, {"dev": {"path": "/x", "python": "/py"}})
    assert found["v0.9.1"][0].endswith("verl-0.9.1") and found["0.9.1"] == found["v0.9.1"]
    assert found["dev"] == ("/x", "/py")
