"""The spec model, its errors, its schema and compiling to a Ray job (pure, no server)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from taskspec import (CustomTask, SpecError, SpecIssue, VerlTask, load_spec, load_spec_data,
                      resolve_relative_paths, spec_json_schema)

REPO = Path(__file__).resolve().parents[2]


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
    ("kind: job\nname: x\n", "use one of 'verl', 'custom'"),
    ("kind: [verl]\nname: x\n", "is not a task kind"),
    ("kind: custom\nname: x\ncode: /c\ncommand: a b\n", "command: must be a list ([a, b]), not a string"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nresources: 8\n", "resources: must be a mapping"),
    ("name: x\n", "kind: is missing"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\ncheckpont: {save_freq: 5}\n",
     "t.yaml: checkpont: unknown key; did you mean 'checkpoint'?"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nverl: {}\n", "t.yaml: verl: unknown key"),
    ("kind: custom\nname: x\ncode: /c\ncommand: []\n", "t.yaml: command: must not be empty"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\npriority: 'p 0'\n", "not a priority class name"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nenv: {'1X': a}\n",
     "env.1X: '1X' is not an environment variable name"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nenv: {ARGUS_TASK_ID: '9'}\n",
     "env.ARGUS_TASK_ID: 'ARGUS_TASK_ID' is reserved"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nretry: {max_attempts: 101}\n", "retry.max_attempts"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [run, true]\n", 'command.1: must be a string; quote it: "true"'),
    ("kind: custom\nname: " + "a" * 64 + "\ncode: /c\ncommand: [a]\n", "63 at most"),
    ("kind: verl\nname: x\nverl: {code: v, model: m, train_files: [/a], overrides: [a=1, nonsense]}\n",
     "t.yaml: verl.overrides.1: 'nonsense' is not a hydra override; write key=value, +key=value or ~key"),
    ("kind: verl\nname: x\nverl: {code: v, model: m, train_files: [/a], workload: rm}\n", "verl.workload"),
    ("kind: custom\nname: x\ncode: /c\ncommand: [a]\nresources: {gpus_per_node: .nan}\n",
     "resources.gpus_per_node: 'nan' is not a GPU count"),
])
def test_bad_specs_get_a_precise_message(text, expected):
    assert expected in messages(text)


@pytest.mark.parametrize("override", ["a.b=1", "+a.b=1", "++a.b=1", "~a.b", "a.b=", "a@b.c=[1,2]"])
def test_hydra_override_forms_are_accepted(override):
    text = f"kind: verl\nname: x\nverl: {{code: v, model: m, train_files: [/a], overrides: ['{override}']}}\n"
    assert load_spec(text).verl.overrides == [override]


def test_error_renders_as_lines_and_as_a_dict():
    with pytest.raises(SpecError) as info:
        load_spec("kind: custom\nname: x\ncode: /c\ncommand: [a]\nresources: {gpu_per_node: 1}\n")
    assert info.value.to_dict() == {"source": "task.yaml", "issues": [
        {"path": "resources.gpu_per_node", "message": "unknown key; did you mean 'gpus_per_node'?"}]}
    assert info.value.issues[0] == SpecIssue("resources.gpu_per_node",
                                             "unknown key; did you mean 'gpus_per_node'?")


def test_yaml_tags_never_construct_anything(tmp_path):
    marker = tmp_path / "pwned"
    with pytest.raises(SpecError) as info:
        load_spec(f"!!python/object/apply:os.system ['touch {marker}']\n")
    assert "unsupported YAML tag" in str(info.value) and not marker.exists()


def test_json_body_gets_the_same_checks():
    with pytest.raises(SpecError) as info:
        load_spec_data({"kind": "custom", "name": "x", "code": "/c", "command": ["a"], "retri": {}},
                       source="POST /v1/tasks")
    assert str(info.value) == "POST /v1/tasks: retri: unknown key; did you mean 'retry'?"


def test_defaults():
    spec = load_spec("kind: custom\nname: x\ncode: /c\ncommand: [a]\n")
    assert (spec.priority, spec.resources.nodes, spec.resources.cpus) == ("batch", 1, 1.0)
    assert spec.resources.gpus_per_node.count == 0 and spec.checkpoint.save_freq == 100
    assert spec.retry.max_attempts == 3 and spec.env == {}


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


def test_schema_module_prints_the_schema():
    out = subprocess.run([sys.executable, "-m", "taskspec.schema"], capture_output=True, text=True,
                         check=True, cwd=REPO).stdout
    assert json.loads(out) == spec_json_schema()


def test_relative_paths_resolve_against_the_task_file_dir(tmp_path):
    custom = resolve_relative_paths(load_spec("kind: custom\nname: x\ncode: tiny\ncommand: [a]\n"), tmp_path)
    assert custom.code == str(tmp_path / "tiny")
    named = load_spec("kind: verl\nname: x\nverl: {code: v0.9.1, model: /m, train_files: [/a]}\n")
    assert resolve_relative_paths(named, tmp_path) == named
    local = load_spec("kind: verl\nname: x\nverl: {code: ./verl-dev, model: /m, train_files: [/a]}\n")
    assert resolve_relative_paths(local, tmp_path).verl.code == str(tmp_path / "verl-dev")
    absolute = load_spec("kind: custom\nname: x\ncode: /abs/dir\ncommand: [a]\n")
    assert resolve_relative_paths(absolute, tmp_path).code == "/abs/dir"


def test_relative_code_resolves_against_the_first_base_where_it_exists(tmp_path):
    (tmp_path / "code").mkdir()
    spec = load_spec("kind: custom\nname: x\ncode: code\ncommand: [a]\n")
    resolved = resolve_relative_paths(spec, tmp_path / "nowhere", tmp_path)
    assert resolved.code == str(tmp_path / "code")
