"""Compiling a spec into a Ray job request (pure: no Ray, no server)."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from taskspec import CompileContext, CompileError, VerlTree, compile_task, entrypoint_for, load_spec

REPO = Path(__file__).resolve().parents[2]
TREE = VerlTree("v0.9.1", "/shared/code/verl-0.9.1", "/shared/envs/verl-0.9.1/bin/python")
GPUS = "resources: {gpus_per_node: 1}\n"
VERL = "kind: verl\nname: x\nverl: {{code: v, model: /m, train_files: [/a], val_files: [/b]{extra}}}\n" + GPUS.replace(
    "{", "{{").replace("}", "}}")


def ctx(attempt: int = 1, **kw) -> CompileContext:  # noqa: ANN003
    return CompileContext(task_id=7, attempt=attempt, checkpoint_dir="/ckpt/7-x", verl_tree=TREE, **kw)


def test_custom_job_request():
    spec = load_spec("kind: custom\nname: x\ncode: /work/code\ncommand: [python, t.py, '; rm -rf /']\n"
                     "resources: {nodes: 1, cpus: 2, gpus_per_node: 2(A100)}\n")
    req = compile_task(spec, ctx())
    assert req.submission_id == "argus-7-1"
    assert shlex.split(req.entrypoint)[4:] == ["/work/code", "python", "t.py", "; rm -rf /"]
    assert req.entrypoint_num_cpus == 2 and req.entrypoint_num_gpus == 2
    assert req.entrypoint_resources["argus_worker"] > 0
    assert "accelerator_type:A100" in req.entrypoint_resources
    env = req.runtime_env["env_vars"]
    assert env["ARGUS_CHECKPOINT_DIR"] == "/ckpt/7-x" and env["RAY_JOB_STOP_WAIT_TIME_S"] == "30"


def test_verl_job_request_sets_what_argus_owns_and_is_stable_across_attempts():
    spec = load_spec((REPO / "examples/verl-grpo.yaml").read_text())
    first, second = compile_task(spec, ctx(1)), compile_task(spec, ctx(2))
    assert first.argv == second.argv and first.entrypoint == second.entrypoint
    assert first.argv[:3] == [TREE.python, "-m", "verl.trainer.main_ppo"]
    for item in ("trainer.nnodes=2", "trainer.n_gpus_per_node=8", "trainer.default_local_dir=/ckpt/7-x",
                 "trainer.resume_mode=auto", "trainer.save_freq=50",
                 "reward.custom_reward_function.path=/gpfs/users/alice/reward.py",
                 "algorithm.adv_estimator=grpo"):
        assert item in first.argv
    assert first.entrypoint_num_gpus == 0  # verl places its own GPU groups
    assert first.runtime_env["py_executable"] == TREE.python
    assert first.runtime_env["env_vars"]["PYTHONPATH"] == TREE.path
    assert first.workdir == TREE.path


def test_old_trees_get_the_old_reward_key():
    spec = load_spec((REPO / "examples/verl-grpo.yaml").read_text())
    old = VerlTree("v0.6", "/t", "/py", reward_key="custom_reward_function")
    argv = compile_task(spec, CompileContext(1, 1, "/c", verl_tree=old)).argv
    assert "custom_reward_function.path=/gpfs/users/alice/reward.py" in argv


@pytest.mark.parametrize("override,path", [
    ("trainer.nnodes=4", "verl.overrides.1"),
    ("+trainer.default_local_dir=/tmp", "verl.overrides.1"),
    ("custom_reward_function.path=/x.py", "verl.overrides.1"),
    ("reward.custom_reward_function.name=f", "verl.overrides.1"),
    ("~trainer.resume_mode", "verl.overrides.1"),
    ("data.val_files=[/c]", "verl.overrides.1"),
    ("actor_rollout_ref.model.path=/other", "verl.overrides.1"),
])
def test_overrides_that_fight_argus_are_refused(override, path):
    text = VERL.format(extra=f", reward: {{path: /r.py}}, overrides: [a.b=1, '{override}']")
    with pytest.raises(CompileError) as info:
        compile_task(load_spec(text), ctx())
    assert info.value.path == path and "set by Argus" in info.value.message


def test_the_refusal_names_the_key_and_its_owner():
    text = VERL.format(extra=", overrides: ['++trainer.nnodes=4']")
    with pytest.raises(CompileError) as info:
        compile_task(load_spec(text), ctx())
    assert (info.value.path, info.value.message) == (
        "verl.overrides.0", "'trainer.nnodes' is set by Argus from resources.nodes; remove this override")


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
        "data.train_files=[/a]", "data.val_files=[/b]", "reward.custom_reward_function.path=/r.py",
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
    assert req.argv == stored and req.entrypoint == entrypoint_for(TREE.path, stored)


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
