"""The spec model, its errors, its schema and compiling to a Ray job (pure, no server)."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from taskspec import (CompileContext, CompileError, CustomTask, SpecError, VerlTask, VerlTree,
                      compile_task, load_spec, load_spec_data, resolve_relative_paths,
                      spec_json_schema)

REPO = Path(__file__).resolve().parents[2]
TREE = VerlTree("v0.9.1", "/shared/code/verl-0.9.1", "/shared/envs/verl-0.9.1/bin/python")


def messages(text: str) -> str:
    with pytest.raises(SpecError) as info:
        load_spec(text, source="t.yaml")
    return str(info.value)


def test_examples_validate_as_written():
    verl = load_spec((REPO / "examples/verl-grpo.yaml").read_text())
    assert isinstance(verl, VerlTask) and verl.resources.gpus_per_node.model == "H100"
    custom = load_spec((REPO / "examples/custom-train.yaml").read_text())
    assert isinstance(custom, CustomTask) and custom.command == ["python", "train.py", "--steps", "200"]


@pytest.mark.parametrize("text,expected", [
    ("", "the file is empty"),
    ("- a\n- b\n", "a task is a mapping"),
    ("kind: custm\nname: x\n", "did you mean 'custom'"),
    ("kind: custom\nname: [x\n", "not valid YAML at line"),
    ("kind: custom\nname: !!python/object/apply:os.system [id]\n", "unsupported YAML tag"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nresources: {gpu_per_node: 1}\n",
     "t.yaml: resources.gpu_per_node: unknown key; did you mean 'gpus_per_node'?"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [python, train.py, --steps, 200]\n", 'quote it: "200"'),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nresources: {gpus_per_node: 8(H10O)}\n",
     "resources.gpus_per_node: 'H10O' is not a GPU model Argus knows; did you mean 'H100'?"),
    ("kind: custom\nname: Big Name\ncode: /c\ncommand: [a]\n", "name: 'Big Name' is not a task name"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nenv: {RAY_ADDRESS: x}\n", "reserved"),
    ("kind: verl\nname: x\nverl: {code: v, model: m, train_files: [a], overides: []}\n",
     "verl.overides: unknown key; did you mean 'overrides'?"),
    ("kind: verl\nname: x\nverl: {code: v, model: m, train_files: [a], overrides: [nonsense]}\n",
     "is not a hydra override"),
    ("kind: custom\nname: x\n", "code: is required"),
])
def test_bad_specs_get_a_precise_message(text, expected):
    assert expected in messages(text)


def test_every_issue_is_reported_at_once():
    text = "kind: custom\nname: x\ncode: /c\ncommand: [a]\nbogus: 1\nresources: {nodez: 1}\n"
    assert len(messages(text).splitlines()) == 2


def test_schema_file_matches_the_model():
    committed = json.loads((REPO / "taskspec" / "schema.json").read_text())
    assert committed == spec_json_schema(), "regenerate: python -m taskspec.schema > taskspec/schema.json"


def test_spec_round_trips_through_json():
    spec = load_spec((REPO / "examples/verl-grpo.yaml").read_text())
    data = spec.model_dump(mode="json")
    assert data["resources"]["gpus_per_node"] == "8(H100)"
    assert load_spec_data(data) == spec


def test_relative_code_resolves_against_the_first_base_where_it_exists(tmp_path):
    (tmp_path / "code").mkdir()
    spec = load_spec("kind: custom\nname: x\ncode: code\ncommand: [a]\n")
    resolved = resolve_relative_paths(spec, tmp_path / "nowhere", tmp_path)
    assert resolved.code == str(tmp_path / "code")


def ctx(attempt: int = 1, **kw) -> CompileContext:  # noqa: ANN003
    return CompileContext(task_id=7, attempt=attempt, checkpoint_dir="/ckpt/7-x", verl_tree=TREE, **kw)


def test_custom_job_request():
    spec = load_spec("kind: custom\nname: x\ncode: /work/code\ncommand: [python, t.py, '; rm -rf /']\n"
                     "resources: {nodes: 1, cpus: 2, gpus_per_node: 2(A100)}\n")
    req = compile_task(spec, ctx())
    assert req.submission_id == "argus-7-1"
    assert shlex.split(req.entrypoint) == ["env", "-C", "/work/code", "python", "t.py", "; rm -rf /"]
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
    ("trainer.nnodes=4", "verl.overrides.0"),
    ("+trainer.default_local_dir=/tmp", "verl.overrides.0"),
    ("custom_reward_function.path=/x.py", "verl.overrides.0"),
    ("reward.custom_reward_function.name=f", "verl.overrides.0"),
])
def test_overrides_that_fight_argus_are_refused(override, path):
    text = (f"kind: verl\nname: x\nverl: {{code: v, model: /m, train_files: [/a], "
            f"reward: {{path: /r.py}}, overrides: ['{override}']}}\n")
    with pytest.raises(CompileError) as info:
        compile_task(load_spec(text), ctx())
    assert info.value.path == path and "set by Argus" in info.value.message


def test_paths_hydra_cannot_carry_are_refused():
    text = "kind: verl\nname: x\nverl: {code: v, model: '/m,odel', train_files: [/a]}\n"
    with pytest.raises(CompileError) as info:
        compile_task(load_spec(text), ctx())
    assert info.value.path == "verl.model"
