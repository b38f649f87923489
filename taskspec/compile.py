"""Compiling a spec into a Ray job request. Pure: the server resolves the verl tree and the
checkpoint directory and passes them in a CompileContext.

The program's argv depends only on the spec and task-stable values (never on the attempt), so
every attempt of a task runs the exact same command: verl's resume depends on it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from taskspec.errors import CompileError
from taskspec.model import CustomTask, VerlTask

VERL_MODULES = {"ppo": "verl.trainer.main_ppo", "sft": "verl.trainer.sft_trainer_ray"}
VERL_CONFIGS = {"ppo": "ppo_trainer", "sft": "sft_trainer_engine"}
MODEL_KEYS = {"ppo": "actor_rollout_ref.model.path", "sft": "model.path"}
REWARD_KEYS = ("reward.custom_reward_function", "custom_reward_function")


@dataclass(frozen=True)
class VerlTree:
    """A verl source tree and its interpreter, as the server resolved it."""

    name: str
    path: str
    python: str
    reward_key: str = "reward.custom_reward_function"


@dataclass(frozen=True)
class CompileContext:
    task_id: int
    attempt: int
    checkpoint_dir: str
    stop_wait_s: int = 30
    worker_resource: str = "argus_worker"
    worker_resource_amount: float = 0.001
    verl_tree: VerlTree | None = None
    job_prefix: str = "argus"  # the server adds its installation id: argus-<installation>


@dataclass(frozen=True)
class JobRequest:
    submission_id: str
    argv: list[str]
    workdir: str
    entrypoint: str
    runtime_env: dict
    entrypoint_num_cpus: float = 0.0
    entrypoint_num_gpus: float = 0.0
    entrypoint_resources: dict[str, float] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


LAUNCHER = 'cd -- "$1" && shift && "$@"'
LAUNCHER_NAME = "argus-task"


def entrypoint_for(workdir: str, argv: list[str]) -> str:
    """The shell command Ray runs: ``sh -c 'cd -- "$1" && shift && "$@"' argus-task DIR argv…``.

    The user's argv reaches the inner shell only as positional parameters, and ``"$@"`` is an
    expansion: its first word is always the program, never a shell option, a launcher option
    (``env`` read ``--chdir=…``) or a ``NAME=VALUE`` assignment. Joined with shlex, because Ray
    runs the entrypoint with a shell that must see only quoted words. Every launcher (custom
    tasks, verl) builds its command here.
    """
    return shlex.join(["sh", "-c", LAUNCHER, LAUNCHER_NAME, workdir, *argv])


def compile_task(spec: VerlTask | CustomTask, ctx: CompileContext, argv: list[str] | None = None) -> JobRequest:
    """Build the Ray job request; ``argv`` (the command stored at the first attempt) wins if given."""
    env = {
        "ARGUS_TASK_ID": str(ctx.task_id),
        "ARGUS_ATTEMPT": str(ctx.attempt),
        "ARGUS_CHECKPOINT_DIR": ctx.checkpoint_dir,
        "ARGUS_SAVE_FREQ": str(spec.checkpoint.save_freq),
        "RAY_JOB_STOP_WAIT_TIME_S": str(ctx.stop_wait_s),
        **spec.env,
    }
    resources = {ctx.worker_resource: ctx.worker_resource_amount}
    if isinstance(spec, CustomTask):
        workdir, program, runtime_env, cpus, gpus = _custom(spec, resources)
    else:
        workdir, program, runtime_env, cpus, gpus = _verl(spec, ctx, env)
    runtime_env["env_vars"] = env
    argv = list(argv) if argv else program
    return JobRequest(
        submission_id=f"{ctx.job_prefix}-{ctx.task_id}-{ctx.attempt}",
        argv=argv,
        workdir=workdir,
        entrypoint=entrypoint_for(workdir, argv),
        runtime_env=runtime_env,
        entrypoint_num_cpus=cpus,
        entrypoint_num_gpus=gpus,
        entrypoint_resources=resources,
        metadata={"argus_task": str(ctx.task_id), "argus_attempt": str(ctx.attempt)},
    )


def _custom(spec: CustomTask, resources: dict[str, float]):  # noqa: ANN202
    """A one-node custom task's driver holds the node's resources; a multi-node one holds only
    its CPUs and places its own workers (as verl does)."""
    gpus = 0.0
    if spec.resources.nodes == 1:
        gpus, extra = spec.resources.gpus_per_node.to_ray()
        resources.update(extra)
    return spec.code, list(spec.command), {}, spec.resources.cpus, gpus


def _verl(spec: VerlTask, ctx: CompileContext, env: dict[str, str]):  # noqa: ANN202
    tree = ctx.verl_tree
    if tree is None:
        raise CompileError("verl.code", "no verl code path was resolved for this task")
    block = spec.verl
    if block.workload == "sft" and block.reward is not None:
        raise CompileError("verl.reward", "an sft workload has no reward function; remove verl.reward")
    if block.workload == "ppo" and not block.val_files:
        raise CompileError("verl.val_files", "verl's ppo trainer always loads a validation set "
                           "(its default is a gsm8k path that is not there); list at least one file")
    gpus = spec.resources.gpus_per_node
    if gpus.shared or gpus.count < 1:
        raise CompileError("resources.gpus_per_node", f"verl needs whole GPUs on every node, not "
                           f"'{gpus}'; write a count such as 8 or 8(H100)")
    ours = _argus_overrides(spec, ctx.checkpoint_dir, tree)
    owned = {o.split("=", 1)[0] for o in ours} | {"data.train_files", "data.val_files"}
    _refuse_owned_overrides(block.overrides, owned)
    env["PYTHONPATH"] = ":".join(p for p in (tree.path, env.get("PYTHONPATH")) if p)
    argv = [tree.python, "-m", VERL_MODULES[block.workload], *ours, *block.overrides]
    # verl places one group of n_gpus_per_node GPUs per node itself: its driver holds none.
    return tree.path, argv, {"py_executable": tree.python}, 1.0, 0.0


def _argus_overrides(spec: VerlTask, checkpoint_dir: str, tree: VerlTree) -> list[str]:
    block = spec.verl
    gpus = spec.resources.gpus_per_node
    out = [
        f"trainer.nnodes={spec.resources.nodes}",
        f"trainer.n_gpus_per_node={int(gpus.count)}",
        f"trainer.default_local_dir={_value(checkpoint_dir, 'checkpoint dir')}",
        "trainer.resume_mode=auto",
        f"trainer.save_freq={spec.checkpoint.save_freq}",
        f"{MODEL_KEYS[block.workload]}={_value(block.model, 'verl.model')}",
        f"data.train_files={_list(block.train_files, 'verl.train_files')}",
    ]
    if block.val_files:
        out.append(f"data.val_files={_list(block.val_files, 'verl.val_files')}")
    if block.reward is not None:
        out.append(f"{tree.reward_key}.path={_value(block.reward.path, 'verl.reward.path')}")
        out.append(f"{tree.reward_key}.name={_value(block.reward.name, 'verl.reward.name')}")
    return out


_HYDRA_SPECIAL = set(",[]{}()<>'\"=:$\\ ")


def _value(text: str, path: str) -> str:
    if any(ch in _HYDRA_SPECIAL for ch in text):
        raise CompileError(path, f"'{text}' has characters hydra overrides cannot carry "
                           "unquoted (, [ ] { } ( ) < > quotes = : $ \\ space); rename the path")
    return text


def _list(items: list[str], path: str) -> str:
    return "[" + ",".join(_value(item, f"{path}.{i}") for i, item in enumerate(items)) + "]"


def _refuse_owned_overrides(overrides: list[str], owned: set[str]) -> None:
    """A user override may not touch a key Argus sets, nor either spelling of the reward key
    (the reward comes from ``verl.reward``, so its file is checked and the key matches the tree)."""
    for i, item in enumerate(overrides):
        key = item.lstrip("+~").split("=", 1)[0]
        reward = any(key == k or key.startswith(k + ".") for k in REWARD_KEYS)
        if key in owned or reward:
            raise CompileError(f"verl.overrides.{i}", f"'{key}' is set by Argus {_owner(key)}; "
                               "remove this override")


_OWNERS = {
    "trainer.nnodes": "from resources.nodes",
    "trainer.n_gpus_per_node": "from resources.gpus_per_node",
    "trainer.default_local_dir": "to the task's checkpoint directory",
    "trainer.resume_mode": "(always auto, so a new attempt resumes)",
    "trainer.save_freq": "from checkpoint.save_freq",
    "data.train_files": "from verl.train_files",
    "data.val_files": "from verl.val_files",
}


def _owner(key: str) -> str:
    if key in MODEL_KEYS.values():
        return "from verl.model"
    if key.startswith(REWARD_KEYS):
        return "from verl.reward"
    return _OWNERS.get(key, "from the task spec")
