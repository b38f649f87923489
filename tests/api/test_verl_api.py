"""verl through the API: the trees listing, dry runs with composed values, sealed overrides and
the owner's path policy on override values (real SQLite, real HTTP, real verl 0.9.1/0.4.1 trees)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.verl_fixture import tree_or_skip


@pytest.fixture
def verl_world(world):  # noqa: ANN001
    code = world.settings.shared_root / "code"
    code.mkdir(parents=True, exist_ok=True)
    (code / "verl-0.9.1").symlink_to(tree_or_skip("0.9.1"))
    (code / "verl-0.4.1").symlink_to(tree_or_skip("0.4.1"))
    broken = world.settings.shared_root / "envs" / "verl-0.4.1" / "bin" / "python"
    broken.parent.mkdir(parents=True)
    broken.write_text("#!/bin/sh\necho 'no such module: verl deps' >&2\nexit 3\n")
    broken.chmod(0o755)
    return world


def verl_spec(world, owner: str = "alice", **verl) -> dict:  # noqa: ANN001
    home = world.settings.shared_root / "users" / owner
    block = {"code": "v0.9.1", "model": f"{home}/model", "train_files": [f"{home}/train.parquet"],
             "val_files": [f"{home}/test.parquet"], **verl}
    return {"kind": "verl", "name": "grpo", "verl": block, "resources": {"gpus_per_node": 4}}


def test_trees_are_listed_with_interpreter_layout_and_status(verl_world):
    result = verl_world.client("vera").get("/v1/verl/trees").json()
    rows = {t["name"]: t for t in result["items"]}
    good, bad = rows["v0.9.1"], rows["v0.4.1"]
    assert good["python"] == sys.executable and good["python_source"] == "server"
    assert good["status"].startswith("ok (server's interpreter") and good["workloads"] == ["ppo", "sft"]
    assert "ray_kwargs.ray_init" in good["layout"] and good["cpus_per_gpu"] == 3
    assert bad["status"] == "broken" and "failed: no such module" in bad["problem"]
    assert bad["python_source"] == "convention" and bad["workloads"] == ["ppo"]


def test_a_tree_whose_interpreter_fails_refuses_the_task_naming_it(verl_world):
    response = verl_world.client("alice").post("/v1/tasks", json=verl_spec(verl_world, code="v0.4.1"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"][0]["path"] == "verl.code" and "failed: no such module" in error["message"]


def test_a_dry_run_shows_the_composed_values_argus_set(verl_world):
    spec = verl_spec(verl_world, overrides=["algorithm.adv_estimator=grpo"])
    result = verl_world.client("alice").post("/v1/tasks", params={"dry_run": "true"}, json=spec).json()
    config = result["verl_config"]
    assert config["trainer.n_gpus_per_node"] == 4 and config["trainer.resume_mode"] == "auto"
    assert config["ray_kwargs.ray_init.runtime_env.py_executable"] == sys.executable
    assert "py_executable" not in result["runtime_env"]


@pytest.mark.parametrize("override,words", [
    ("trainer={nnodes:4}", "would replace"),
    ("ray_kwargs.ray_init.num_cpus=8", "Ray refuses"),
    ("hydra.run.dir=/tmp", "hydra's own setting"),
    ("trainer.resume_from_path=/etc/ckpt", "outside the paths this task may use"),
])
def test_sealed_and_outside_overrides_are_refused_and_nothing_is_queued(verl_world, override, words):
    client = verl_world.client("alice")
    spec = verl_spec(verl_world, overrides=["algorithm.adv_estimator=grpo", override])
    response = client.post("/v1/tasks", json=spec)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert [d["path"] for d in error["details"]] == ["verl.overrides.1"] and words in error["message"]
    assert client.get("/v1/tasks").json()["total"] == 0


def test_the_cli_lists_trees(verl_world):
    env = {"ARGUS_SERVER": verl_world.url, "ARGUS_TOKEN": verl_world.tokens["alice"], "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-m", "argus.cli.main", "verl", "trees"], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "v0.9.1" in done.stdout and "broken" in done.stdout and "3 CPU per GPU" in done.stdout


def test_admission_counts_the_cpus_verl_reserves_per_gpu(verl_world):
    """verl 0.9.1 reserves 3 CPUs beside each GPU, plus its TaskRunner and the job's driver."""
    client = verl_world.client("alice")
    task = client.post("/v1/tasks", json=verl_spec(verl_world)).json()
    assert task["resources"]["cpus_per_node"] == 4 * 3 + 1 + 1
    custom = client.post("/v1/tasks", json=verl_world.spec("alice")).json()
    assert custom["resources"]["cpus_per_node"] == 1
