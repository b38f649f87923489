"""Compiling a spec into a Ray job request (pure: no Ray, no server)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from taskspec import (CompileContext, CompileError, VerlLayout, VerlTree, WorkloadLayout, compile_task,
                      entrypoint_for, load_spec)

REPO = Path(__file__).resolve().parents[2]
_KEYS = {"nnodes": "trainer.nnodes", "gpus_per_node": "trainer.n_gpus_per_node",
         "checkpoint_dir": "trainer.default_local_dir", "resume_mode": "trainer.resume_mode",
         "save_freq": "trainer.save_freq", "train_files": "data.train_files", "val_files": "data.val_files",
         "project": "trainer.project_name", "experiment": "trainer.experiment_name"}
# As argus.verl.layout reads verl 0.9.1 (tests/unit/test_verl_layouts.py checks the real tree).
LAYOUT = VerlLayout(workloads={
    "ppo": WorkloadLayout("verl.trainer.main_ppo", "ppo_trainer", {
        **_KEYS, "model": "actor_rollout_ref.model.path", "reward": "reward.custom_reward_function",
        "py_executable": "ray_kwargs.ray_init.runtime_env.py_executable"},
        ("trainer.max_actor_ckpt_to_keep", "trainer.max_critic_ckpt_to_keep")),
    "sft": WorkloadLayout("verl.trainer.sft_trainer_ray", "sft_trainer_engine", {**_KEYS, "model": "model.path"},
                          ("trainer.max_ckpt_to_keep",))})
OLD = VerlLayout(workloads={"ppo": WorkloadLayout("verl.trainer.main_ppo", "ppo_trainer", {
    **_KEYS, "model": "actor_rollout_ref.model.path", "reward": "custom_reward_function"})},
    unsupported={"sft": "needs verl 0.7.1 or later"}, ray_init_prefix="ray_init")
TREE = VerlTree("v0.9.1", "/shared/code/verl-0.9.1", "/shared/envs/verl-0.9.1/bin/python", LAYOUT)
GPUS = "resources: {gpus_per_node: 1}\n"
VERL = "kind: verl\nname: x\nverl: {{code: v, model: /m, train_files: [/a], val_files: [/b]{extra}}}\n" + GPUS.replace(
    "{", "{{").replace("}", "}}")


def ctx(attempt: int = 1, **kw) -> CompileContext:  # noqa: ANN003
    return CompileContext(task_id=7, attempt=attempt, checkpoint_dir="/ckpt/7-x", verl_tree=TREE,
                          run_dir="/shared/runs/7", **kw)


def test_custom_job_request():
    spec = load_spec("kind: custom\nname: x\ncode: /work/code\ncommand: [python, t.py, '; rm -rf /']\n"
                     "resources: {nodes: 1, cpus: 2, gpus_per_node: 2(A100)}\n")
    req = compile_task(spec, ctx())
    assert req.submission_id == "argus-7-1"
    words = shlex.split(req.entrypoint)
    assert words[:2] == ["sh", "-c"] and words[3:] == ["argus-task", "/work/code", "python", "t.py", "; rm -rf /"]
    assert req.entrypoint_num_cpus == 2 and req.entrypoint_num_gpus == 2
    assert req.entrypoint_resources["argus_worker"] > 0
    assert "accelerator_type:A100" in req.entrypoint_resources
    env = req.runtime_env["env_vars"]
    assert env["ARGUS_CHECKPOINT_DIR"] == "/ckpt/7-x" and env["RAY_JOB_STOP_WAIT_TIME_S"] == "30"


def test_verl_job_request_sets_what_argus_owns_and_is_stable_across_attempts():
    spec = load_spec((REPO / "examples/verl-grpo.yaml").read_text())
    first, second = compile_task(spec, ctx(1)), compile_task(spec, ctx(2))
    assert first.argv == second.argv  # the same command; only the attempt's directory differs
    assert first.argv[:3] == [TREE.python, "-m", "verl.trainer.main_ppo"]
    for item in ("trainer.nnodes=2", "trainer.n_gpus_per_node=8", "trainer.default_local_dir=/ckpt/7-x",
                 "trainer.resume_mode=auto", "trainer.save_freq=50",
                 "reward.custom_reward_function.path=/gpfs/users/alice/reward.py",
                 "algorithm.adv_estimator=grpo"):
        assert item in first.argv
    assert first.entrypoint_num_gpus == 0  # verl places its own GPU groups
    # 0.9.1: the interpreter goes through verl's own key, never the job's runtime_env (Ray
    # refuses to merge two runtime_envs that both name py_executable).
    assert f"ray_kwargs.ray_init.runtime_env.py_executable={TREE.python}" in first.argv
    assert "py_executable" not in first.runtime_env
    assert first.runtime_env["env_vars"]["PYTHONPATH"] == TREE.path
    # each attempt works in its own directory under the task's run directory, never in the tree
    assert (first.workdir, second.workdir) == ("/shared/runs/7/attempt-1", "/shared/runs/7/attempt-2")
    assert shlex.split(first.entrypoint)[4:6] == ["/shared/runs/7/attempt-1", TREE.python]


def test_old_trees_get_the_old_reward_key_and_the_interpreter_in_the_jobs_runtime_env():
    spec = load_spec((REPO / "examples/verl-grpo.yaml").read_text())
    old = VerlTree("v0.6", "/t", "/py", OLD)
    req = compile_task(spec, CompileContext(1, 1, "/c", verl_tree=old, run_dir="/r/1"))
    assert "custom_reward_function.path=/gpfs/users/alice/reward.py" in req.argv
    assert req.runtime_env["py_executable"] == "/py"
    assert not any("py_executable" in a for a in req.argv)


def test_sft_on_a_tree_without_the_ray_sft_trainer_names_what_is_needed():
    spec = load_spec("kind: verl\nname: s\nverl: {code: v, workload: sft, model: /m, train_files: [/a]}\n" + GPUS)
    with pytest.raises(CompileError) as info:
        compile_task(spec, CompileContext(1, 1, "/c", verl_tree=VerlTree("v0.6", "/t", "/py", OLD), run_dir="/r"))
    assert info.value.path == "verl.workload" and "0.7.1 or later" in info.value.message


def test_checkpoint_keep_goes_to_the_trees_own_keys_and_to_custom_tasks_as_env():
    spec = load_spec(VERL.format(extra="") + "checkpoint: {keep: 2}\n")
    argv = compile_task(spec, ctx()).argv
    assert "trainer.max_actor_ckpt_to_keep=2" in argv and "trainer.max_critic_ckpt_to_keep=2" in argv
    sft = load_spec("kind: verl\nname: s\nverl: {code: v, workload: sft, model: /m, train_files: [/a]}\n"
                    + GPUS + "checkpoint: {keep: 3}\n")
    assert "trainer.max_ckpt_to_keep=3" in compile_task(sft, ctx()).argv
    custom = load_spec("kind: custom\nname: x\ncode: /c\ncommand: [a]\ncheckpoint: {keep: 4}\n")
    assert compile_task(custom, ctx()).runtime_env["env_vars"]["ARGUS_CHECKPOINT_KEEP"] == "4"


def test_project_and_experiment_come_from_the_task_unless_overridden():
    spec = load_spec(VERL.format(extra="") + "team: risk\n")
    argv = compile_task(spec, ctx()).argv
    assert "trainer.project_name=risk" in argv and "trainer.experiment_name=x" in argv
    mine = load_spec(VERL.format(extra=", overrides: [trainer.experiment_name=mine]"))
    argv = compile_task(mine, ctx()).argv
    assert [a for a in argv if a.startswith("trainer.experiment_name")] == ["trainer.experiment_name=mine"]


def test_paths_hydra_cannot_carry_are_refused():
    text = "kind: verl\nname: x\nverl: {code: v, model: '/m,odel', train_files: [/a], val_files: [/b]}\n" + GPUS
    with pytest.raises(CompileError) as info:
        compile_task(load_spec(text), ctx())
    assert info.value.path == "verl.model"


@pytest.mark.parametrize("path,field", [("/data/a]b", "verl.train_files.0"), ("/x y", "verl.train_files.0")])
def test_file_lists_hydra_cannot_carry_are_refused(path, field):
    with pytest.raises(CompileError) as info:
        compile_task(load_spec(f"kind: verl\nname: x\nverl: {{code: v, model: /m, train_files: ['{path}'], "
                               "val_files: [/b]}\n" + GPUS), ctx())
    assert info.value.path == field


def test_file_lists_use_hydra_list_syntax():
    text = "kind: verl\nname: x\nverl: {code: v, model: /m, train_files: [/a, /b], val_files: [/b]}\n" + GPUS
    argv = compile_task(load_spec(text), ctx()).argv
    assert "data.train_files=[/a,/b]" in argv and "data.val_files=[/b]" in argv


def test_argus_overrides_come_first_in_a_fixed_order_then_the_users():
    spec = load_spec(VERL.format(extra=", reward: {path: /r.py, name: f}, overrides: [x.y=1, z=2]"))
    argv = compile_task(spec, ctx()).argv
    assert argv[3:] == [
        "trainer.nnodes=1", "trainer.n_gpus_per_node=1", "trainer.default_local_dir=/ckpt/7-x",
        "trainer.resume_mode=auto", "trainer.save_freq=100", "actor_rollout_ref.model.path=/m",
        "data.train_files=[/a]", "data.val_files=[/b]", "trainer.project_name=argus",
        "trainer.experiment_name=x", f"ray_kwargs.ray_init.runtime_env.py_executable={TREE.python}",
        "reward.custom_reward_function.path=/r.py",
        "reward.custom_reward_function.name=f", "x.y=1", "z=2"]


def test_sft_uses_its_trainer_and_model_key_and_takes_no_reward():
    text = "kind: verl\nname: s\nverl: {code: v, workload: sft, model: /m, train_files: [/a]EXTRA}\n" + GPUS
    argv = compile_task(load_spec(text.replace("EXTRA", "")), ctx()).argv
    assert argv[2] == "verl.trainer.sft_trainer_ray" and "model.path=/m" in argv
    assert not any(a.startswith("data.val_files") for a in argv)
    with pytest.raises(CompileError) as info:
        compile_task(load_spec(text.replace("EXTRA", ", reward: {path: /r.py}")), ctx())
    assert info.value.path == "verl.reward"


def test_ppo_needs_validation_files():
    text = "kind: verl\nname: x\nverl: {code: v, model: /m, train_files: [/a]}\n" + GPUS
    with pytest.raises(CompileError) as info:
        compile_task(load_spec(text), ctx())
    assert info.value.path == "verl.val_files"


@pytest.mark.parametrize("gpus", ["0", "0.5", "-1"])
def test_verl_needs_whole_gpus(gpus):
    with pytest.raises(CompileError) as info:
        compile_task(load_spec(VERL.format(extra="").replace(GPUS, f"resources: {{gpus_per_node: '{gpus}'}}\n")),
                     ctx())
    assert info.value.path == "resources.gpus_per_node"


def test_verl_needs_a_resolved_tree():
    with pytest.raises(CompileError) as info:
        compile_task(load_spec(VERL.format(extra="")), CompileContext(7, 1, "/c"))
    with pytest.raises(CompileError):
        compile_task(load_spec(VERL.format(extra="")), CompileContext(7, 1, "/c", verl_tree=TREE))  # no run dir
    assert info.value.path == "verl.code"


def test_every_job_carries_argus_env_and_a_worker_reservation():
    spec = load_spec("kind: custom\nname: x\ncode: /c\ncommand: [a]\ncheckpoint: {save_freq: 5}\n"
                     "env: {WANDB_PROJECT: p}\n")
    req = compile_task(spec, ctx(3, stop_wait_s=90, worker_resource="pool_a", worker_resource_amount=0.01))
    assert req.runtime_env["env_vars"] == {
        "ARGUS_TASK_ID": "7", "ARGUS_ATTEMPT": "3", "ARGUS_CHECKPOINT_DIR": "/ckpt/7-x",
        "ARGUS_SAVE_FREQ": "5", "RAY_JOB_STOP_WAIT_TIME_S": "90", "WANDB_PROJECT": "p"}
    assert req.entrypoint_resources == {"pool_a": 0.01}
    assert req.metadata == {"argus_task": "7", "argus_attempt": "3"}
    assert req.submission_id == "argus-7-3"


def test_a_multi_node_custom_driver_reserves_cpus_only():
    spec = load_spec("kind: custom\nname: x\ncode: /c\ncommand: [a]\n"
                     "resources: {nodes: 4, cpus: 8, gpus_per_node: 8(H100)}\n")
    req = compile_task(spec, ctx())
    assert (req.entrypoint_num_cpus, req.entrypoint_num_gpus) == (8, 0)
    assert req.entrypoint_resources == {"argus_worker": 0.001}


@pytest.mark.parametrize("gpus,num_gpus,extra", [
    ("0.5(vgpu)", 0.5, {}),
    ("1(npu,910B)", 0, {"NPU": 1, "accelerator_type:910B": 0.001}),
    ("-1", 0, {}),
])
def test_a_one_node_custom_driver_reserves_the_nodes_devices(gpus, num_gpus, extra):
    spec = load_spec(f"kind: custom\nname: x\ncode: /c\ncommand: [a]\nresources: {{gpus_per_node: '{gpus}'}}\n")
    req = compile_task(spec, ctx())
    assert req.entrypoint_num_gpus == num_gpus
    assert req.entrypoint_resources == {"argus_worker": 0.001, **extra}


def test_custom_argv_is_stable_across_attempts_and_kept_verbatim():
    spec = load_spec((REPO / "examples/custom-train.yaml").read_text())
    first, second = compile_task(spec, ctx(1)), compile_task(spec, ctx(2))
    assert first.argv == second.argv == ["python", "train.py", "--steps", "200"]
    assert first.entrypoint == second.entrypoint


def test_a_stored_argv_wins_over_a_recompiled_one():
    spec = load_spec((REPO / "examples/verl-grpo.yaml").read_text())
    stored = ["/py", "-m", "verl.trainer.main_ppo", "trainer.nnodes=2"]
    req = compile_task(spec, ctx(2), stored)
    assert req.argv == stored and shlex.split(req.entrypoint)[4:] == ["/shared/runs/7/attempt-2", *stored]


def test_the_users_pythonpath_comes_after_the_verl_tree():
    spec = load_spec(VERL.format(extra="") + "env: {PYTHONPATH: /mine}\n")
    assert compile_task(spec, ctx()).runtime_env["env_vars"]["PYTHONPATH"] == f"{TREE.path}:/mine"


@pytest.mark.parametrize("argv", [["--chdir=/", "pwd"], ["ARGUS_TASK_ID=0", "printenv", "ARGUS_TASK_ID"],
                                  ["-i", "printenv"], ["--", "pwd"]])
def test_a_users_argv_is_never_read_as_launcher_options(tmp_path, argv):
    """The launcher runs the first word as the program, whatever it looks like: no chdir
    elsewhere, no variable set, no option taken (env -C DIR argv… took all three)."""
    proc = subprocess.run(entrypoint_for(str(tmp_path), argv), shell=True, capture_output=True,
                          text=True, env={"PATH": os.environ["PATH"], "ARGUS_TASK_ID": "7"})
    assert proc.returncode == 127 and proc.stdout == ""
    assert "not found" in proc.stderr and argv[0] in proc.stderr


def test_the_launcher_runs_the_argv_in_the_workdir(tmp_path):
    proc = subprocess.run(entrypoint_for(str(tmp_path), ["sh", "-c", 'pwd; echo "$1"', "x", "; rm -rf /"]),
                          shell=True, capture_output=True, text=True)
    assert proc.stdout.splitlines() == [str(tmp_path), "; rm -rf /"]
