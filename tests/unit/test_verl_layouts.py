"""verl layouts read from the real trees of verl 0.4.1, 0.6.1, 0.7.1 and 0.9.1 (wheels, no deps):
the layout, composing Argus's overrides with each tree's config, and every kind of sealed override."""

from __future__ import annotations

import shutil
import stat
import sys
import time
from pathlib import Path

import pytest

from argus.verl import check, overrides
from argus.verl.layout import read_layout
from argus.verl.trees import TreeEntry, inspect_tree
from taskspec import CompileContext, CompileError, compile_task, load_spec
from taskspec.compile import argus_overrides
from tests.verl_fixture import tree_or_skip, verl_layout_tree  # noqa: F401 - a pytest fixture

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "examples/verl-grpo.yaml").read_text()
EXPECTED = {  # what each tree's own config and code say
    "0.4.1": {"reward": "custom_reward_function", "prefix": "ray_init", "py_key": False, "sft": False,
              "cpus_per_gpu": 1, "fixed_env": True},
    "0.6.1": {"reward": "custom_reward_function", "prefix": "ray_kwargs.ray_init", "py_key": False,
              "sft": False, "cpus_per_gpu": 1, "fixed_env": False},
    "0.7.1": {"reward": "reward.custom_reward_function", "prefix": "ray_kwargs.ray_init", "py_key": False,
              "sft": True, "cpus_per_gpu": 3, "fixed_env": False},
    "0.9.1": {"reward": "reward.custom_reward_function", "prefix": "ray_kwargs.ray_init", "py_key": True,
              "sft": True, "cpus_per_gpu": 3, "fixed_env": False},
}


def tree_of(version: str, path: Path):  # noqa: ANN201
    return inspect_tree(TreeEntry(f"v{version}", str(path), sys.executable, "settings"))


def spec_for(version: str, extra_overrides: list[str] = (), text: str = EXAMPLE):  # noqa: ANN201
    items = "".join(f"\n    - '{o}'" for o in extra_overrides)
    return load_spec(text.replace("code: v0.9.1", f"code: v{version}").replace(
        "    - actor_rollout_ref.rollout.name=vllm", "    - actor_rollout_ref.rollout.name=vllm" + items))


def composed(tree, spec):  # noqa: ANN001, ANN201
    ctx = CompileContext(1, 1, "/ckpt/1", verl_tree=tree)
    return check.compose_task(tree, spec.verl.workload, list(spec.verl.overrides), argus_overrides(spec, ctx, tree))


def test_the_layout_is_read_from_the_trees_own_config(verl_layout_tree):  # noqa: F811
    version, path = verl_layout_tree
    want, layout = EXPECTED[version], read_layout(path)
    ppo = layout.workloads["ppo"]
    assert ppo.keys["reward"] == want["reward"] and layout.ray_init_prefix == want["prefix"]
    assert ("py_executable" in ppo.keys) == want["py_key"]
    assert ("sft" in layout.workloads) == want["sft"] and ("sft" in layout.unsupported) != want["sft"]
    assert layout.cpus_per_gpu == want["cpus_per_gpu"]
    assert bool(layout.ray_init_env) == want["fixed_env"]
    assert ppo.keep_keys == ("trainer.max_actor_ckpt_to_keep", "trainer.max_critic_ckpt_to_keep")
    if want["sft"]:
        assert layout.workloads["sft"].keep_keys == ("trainer.max_ckpt_to_keep",)
        assert layout.workloads["sft"].keys["model"] == "model.path"


def test_argus_overrides_compose_and_read_back(verl_layout_tree):  # noqa: F811
    version, path = verl_layout_tree
    tree = tree_of(version, path)
    spec = spec_for(version, text=EXAMPLE.replace("retry:", "checkpoint: {save_freq: 50, keep: 2}\nretry:")
                    .replace("checkpoint: {save_freq: 50}\n", ""))
    issues, values = composed(tree, spec)
    assert issues == []
    assert values["trainer.nnodes"] == 2 and values["trainer.n_gpus_per_node"] == 8
    assert values["trainer.default_local_dir"] == "/ckpt/1" and values["trainer.resume_mode"] == "auto"
    assert values[f"{EXPECTED[version]['reward']}.path"] == "/gpfs/users/alice/reward.py"
    assert values["trainer.max_actor_ckpt_to_keep"] == 2 and values["trainer.experiment_name"] == "qwen-grpo-gsm8k"
    py_key = "ray_kwargs.ray_init.runtime_env.py_executable"
    assert (values.get(py_key) == sys.executable) == EXPECTED[version]["py_key"]


def test_sft_composes_on_trees_with_the_ray_sft_trainer(verl_layout_tree):  # noqa: F811
    version, path = verl_layout_tree
    if not EXPECTED[version]["sft"]:
        pytest.skip(f"verl {version} has no Ray SFT trainer (its refusal is tested in test_taskspec_compile)")
    tree = tree_of(version, path)
    spec = load_spec(f"kind: verl\nname: s\nverl: {{code: v{version}, workload: sft, model: /m, "
                     "train_files: [/a], overrides: [optim.lr=1e-5]}\nresources: {gpus_per_node: 8}\n"
                     "checkpoint: {keep: 1}\n")
    issues, values = composed(tree, spec)
    assert issues == [] and values["model.path"] == "/m" and values["trainer.max_ckpt_to_keep"] == 1


def test_a_mistyped_key_is_named_with_a_fix_fast(verl_layout_tree):  # noqa: F811
    version, path = verl_layout_tree
    tree = tree_of(version, path)
    spec = spec_for(version, ["trainer.nnode=2"])
    start = time.perf_counter()
    issues, _ = composed(tree, spec)
    assert time.perf_counter() - start < 10  # ~0.3 s here; generous for a loaded CI box
    assert [i.path for i in issues] == ["verl.overrides.2"]
    assert "did you mean 'trainer.nnodes'" in issues[0].message


REFUSED = [  # (override, words the refusal must carry); checked on every layout
    ("trainer={nnodes:4}", "would replace trainer.default_local_dir"),
    ("data={train_files:[/x]}", "would replace data.train_files"),
    ("trainer.nnodes=4", "from resources.nodes"),
    ("~trainer.resume_mode", "always auto"),
    ("trainer.max_critic_ckpt_to_keep=1", "from checkpoint.keep"),
    ("custom_reward_function.path=/x.py", "from verl.reward"),
    ("reward.custom_reward_function.name=f", "from verl.reward"),
    ("actor_rollout_ref.rollout.nnodes=1", "outside the pool Argus admitted"),
    ("+critic.n_gpus_per_node=2", "outside the pool Argus admitted"),
    ("ray_kwargs.ray_init.num_cpus=4", "Ray refuses when it attaches"),
    ("+ray_kwargs.ray_init.num_gpus=1", "Ray refuses when it attaches"),
    ("ray_init.num_cpus=4", "Ray refuses when it attaches"),
    ("+ray_kwargs.ray_init.runtime_env.env_vars.A=1", "ray.init arguments"),
    ("hydra.run.dir=/tmp/x", "hydra's own setting"),
    ("hydra/job_logging=disabled", "hydra's own setting"),
    ("data.tokenizer=./tok", "relative path"),
    ("data.tokenizer='~/tok'", "relative path"),
]


@pytest.mark.parametrize("override,words", REFUSED)
def test_sealed_overrides_are_refused_naming_the_override(verl_layout_tree, override, words):  # noqa: F811
    version, path = verl_layout_tree
    layout = read_layout(path)
    sealed = overrides.seal(layout, "ppo", ["algorithm.adv_estimator=grpo", override], str(path))
    assert [i.path for i in sealed.issues] == ["verl.overrides.1"], sealed.issues
    assert words in sealed.issues[0].message


def test_layout_specific_refusals():
    old, new = tree_or_skip("0.6.1"), tree_or_skip("0.9.1")
    pool = "reward_model.enable_resource_pool=true"
    assert overrides.seal(read_layout(old), "ppo", [pool], str(old)).issues[0].path == "verl.overrides.0"
    pool = "reward.reward_model.enable_resource_pool=true"
    assert "outside the pool" in overrides.seal(read_layout(new), "ppo", [pool], str(new)).issues[0].message
    own = overrides.seal(read_layout(new), "ppo", ["ray_kwargs.ray_init.runtime_env.py_executable=/p"], str(new))
    assert "the tree's checked interpreter" in own.issues[0].message
    deep = overrides.seal(read_layout(new), "ppo", ["ray_kwargs={ray_init:{num_cpus:8}}"], str(new))
    assert "would replace ray_kwargs.ray_init.runtime_env.py_executable" in deep.issues[0].message
    nested = overrides.seal(read_layout(new), "ppo", ["reward.reward_model={enable_resource_pool:true}"], str(new))
    assert "sets 'reward.reward_model.enable_resource_pool'" in nested.issues[0].message


def test_overrides_that_change_nothing_argus_owns_pass_and_paths_go_to_the_policy():
    path = tree_or_skip("0.9.1")
    fine = ["algorithm.adv_estimator=grpo", "+trainer.my_note=hello", "ray_kwargs.ray_init.num_cpus=null",
            "trainer.project_name=mine", "trainer.resume_from_path=/gpfs/ckpt/global_step_5",
            "data.tokenizer=Qwen/Qwen2.5-0.5B"]
    sealed = overrides.seal(read_layout(path), "ppo", fine, str(path))
    assert sealed.issues == []
    assert sealed.paths == [("verl.overrides.4", "/gpfs/ckpt/global_step_5")]


def test_a_value_relative_to_the_tree_is_refused_with_the_absolute_path():
    path = tree_or_skip("0.9.1")
    sealed = overrides.seal(read_layout(path), "ppo", ["data.custom_cls.path=verl/trainer/main_ppo.py"], str(path))
    assert "relative to the verl tree" in sealed.issues[0].message
    assert str(path / "verl/trainer/main_ppo.py") in sealed.issues[0].message
    assert overrides.model_issue("./models/q", str(path)).path == "verl.model"
    assert overrides.model_issue("Qwen/Qwen2.5-0.5B-Instruct", str(path)) is None


def test_the_04_layout_refuses_env_that_its_ray_init_sets_itself():
    path = tree_or_skip("0.4.1")
    issues = overrides.env_issues(read_layout(path), {"NCCL_DEBUG": "INFO", "MINE": "1"})
    assert [i.path for i in issues] == ["env.NCCL_DEBUG"]
    assert overrides.env_issues(read_layout(tree_or_skip("0.9.1")), {"NCCL_DEBUG": "INFO"}) == []


def test_a_read_only_tree_is_read_and_composed_without_writing(tmp_path):
    source = tree_or_skip("0.9.1")
    copy = tmp_path / "verl-ro"
    shutil.copytree(source / "verl" / "trainer" / "config", copy / "verl" / "trainer" / "config")
    (copy / "verl" / "__init__.py").write_text("")
    for p in [copy, *copy.rglob("*")]:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    try:
        before = sorted(str(p) for p in copy.rglob("*"))
        tree = tree_of("ro", copy)
        issues, values = composed(tree, spec_for("ro"))
        assert issues == [] and values["trainer.nnodes"] == 2
        assert sorted(str(p) for p in copy.rglob("*")) == before
    finally:
        for p in [copy, *copy.rglob("*")]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)


def test_the_sft_example_composes_on_091_and_is_refused_on_061():
    spec = load_spec((REPO / "examples/verl-sft.yaml").read_text())
    issues, values = composed(tree_of("0.9.1", tree_or_skip("0.9.1")), spec)
    assert issues == [] and values["trainer.max_ckpt_to_keep"] == 2 and values["trainer.n_gpus_per_node"] == 8
    old = tree_of("0.6.1", tree_or_skip("0.6.1"))
    with pytest.raises(CompileError) as info:
        compile_task(spec, CompileContext(1, 1, "/c", verl_tree=old, run_dir="/r"))
    assert info.value.path == "verl.workload" and "0.7.1 or later" in info.value.message
