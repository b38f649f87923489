"""verl's Ray start-up on real Ray, for the layouts of verl 0.4.1, 0.6.1, 0.7.1 and 0.9.1.

Each tree gets its own environment (``<shared>/envs/verl-X``: a venv of its own that sees the
test venv's packages through a .pth file) and a read-only copy of its source under
``<shared>/code/verl-X``, found by convention. Argus checks and compiles the example GRPO task for
it; the job Argus would submit runs ``tests/integration/verl_ppo_driver.py`` in place of
``-m verl.trainer.main_ppo`` (the tree's own hydra config and run_ppo; see that file). The job
must succeed, its TaskRunner and the task it starts must run with the tree's interpreter, hydra's
output must land in the attempt's directory, and nothing may be written into the tree.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import stat
import subprocess
import sys
import sysconfig
import time
import uuid
from pathlib import Path

import pytest

from argus.ray_adapter import RayCluster
from argus.services.prepare import Preparer
from argus.settings import Settings
from taskspec import entrypoint_for, load_spec
from tests.verl_fixture import LAYOUT_VERSIONS, tree_or_skip

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("verl_ppo_driver.py")
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


def make_env(env_dir: Path) -> Path:
    """A venv of the tree's own whose site-packages reach the test venv's (ray, hydra) by a .pth."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    site = next(env_dir.glob("lib/python*/site-packages"))
    (site / "test-venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir / "bin" / "python"


def read_only(root: Path, writable: bool = False) -> None:
    for p in [root, *root.rglob("*")]:
        mode = p.stat().st_mode
        p.chmod(mode | stat.S_IWUSR if writable else mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))


@pytest.fixture
def shared(tmp_path):
    yield tmp_path
    for tree in (tmp_path / "code").glob("*"):
        read_only(tree, writable=True)


def prepared(shared: Path, local_ray, version: str):  # noqa: ANN001, ANN201
    tree = shared / "code" / f"verl-{version}"
    shutil.copytree(tree_or_skip(version) / "verl", tree / "verl")
    read_only(tree)
    python = make_env(shared / "envs" / f"verl-{version}")
    settings = Settings(state_dir=shared / "state", shared_root=shared, ray_address=local_ray.dashboard_url)
    text = (REPO / "examples/verl-grpo.yaml").read_text().replace("code: v0.9.1", f"code: v{version}")
    probe = shared / f"probe-{version}.json"
    spec = load_spec(text.replace("env: {WANDB_PROJECT: argus}", f"env: {{VERL_PROBE_OUT: '{probe}'}}"))
    preparer = Preparer(settings)
    preparer.check(spec)  # sealing and composition against the tree's config, as at submit
    request = preparer.compile(spec, task_id=1, attempt=1, checkpoint_dir=str(shared / "checkpoints" / "1-x"),
                               job_prefix=f"argus-layout-{uuid.uuid4().hex[:8]}")
    argv = [request.argv[0], str(DRIVER), *request.argv[3:]]
    job = dataclasses.replace(request, argv=argv, entrypoint=entrypoint_for(request.workdir, argv))
    return job, python, tree, probe


def run_job(local_ray, job, timeout: float = 240):  # noqa: ANN001, ANN201
    ray = RayCluster(local_ray.dashboard_url, timeout_s=30)
    ray.submit(job)
    deadline = time.monotonic() + timeout
    state = ray.status(job.submission_id)
    while state.status not in TERMINAL and time.monotonic() < deadline:
        time.sleep(1)
        state = ray.status(job.submission_id)
    if state.status not in TERMINAL:
        ray.stop(job.submission_id)
    return state, ray.logs(job.submission_id)


@pytest.mark.parametrize("version", LAYOUT_VERSIONS)
def test_verls_ray_start_up_succeeds_with_the_trees_interpreter(local_ray, shared, version):
    job, python, tree, probe = prepared(shared, local_ray, version)
    before = sorted(str(p) for p in tree.rglob("*"))
    state, logs = run_job(local_ray, job)
    assert state.status == "SUCCEEDED", f"{state.message}\n{logs[-4000:]}"
    report = json.loads(probe.read_text())
    assert report["runner_python"] == str(python) and report["task_python"] == str(python), report
    assert report["nnodes"] == 2 and report["driver_cwd"] == job.workdir
    assert Path(job.workdir).is_relative_to(shared / "runs" / "1")
    assert list(Path(job.workdir).glob("outputs/*/*/.hydra/overrides.yaml")), "hydra wrote elsewhere"
    assert sorted(str(p) for p in tree.rglob("*")) == before


def test_the_old_runtime_env_kills_a_091_driver(local_ray, shared):
    """The control: 0.9.1 with the interpreter in the job's runtime_env, as Argus did before."""
    job, python, _tree, _probe = prepared(shared, local_ray, "0.9.1")
    argv = [a for a in job.argv if not a.startswith("ray_kwargs.ray_init.runtime_env.py_executable=")]
    old = dataclasses.replace(job, argv=argv, entrypoint=entrypoint_for(job.workdir, argv),
                              runtime_env={**job.runtime_env, "py_executable": str(python)},
                              submission_id=job.submission_id + "-old")
    state, logs = run_job(local_ray, old)
    assert state.status == "FAILED" and "Failed to merge the Job's runtime env" in logs
