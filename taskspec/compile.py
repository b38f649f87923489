"""Compiling a spec into a Ray job request. Pure: the server resolves the verl tree and the
checkpoint directory and passes them in a CompileContext.

A verl attempt runs in a directory of its own (``<run dir>/attempt-<N>``, where hydra writes its
outputs), never in the verl tree, which it finds through ``PYTHONPATH``.

The program's argv depends only on the spec and task-stable values (never on the attempt), so
every attempt of a task runs the exact same command: verl's resume depends on it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from taskspec.errors import CompileError
from taskspec.model import CustomTask, VerlTask
from taskspec.verl import VerlTree


VERL_DRIVER_CPUS = 1.0  # the Ray Job's driver process of a verl task (verl's TaskRunner is apart)


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
    run_dir: str = ""  # the task's run directory: each verl attempt works in <run_dir>/attempt-<N>


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
    verl_config: dict[str, object] = field(default_factory=dict)  # composed values Argus set (preview)


LAUNCHER = 'mkdir -p -- "$1" && cd -- "$1" && shift && exec "$@"'
LAUNCHER_NAME = "argus-task"


def entrypoint_for(workdir: str, argv: list[str]) -> str:
    """The shell command Ray runs: ``sh -c 'mkdir -p -- "$1" && cd -- "$1" && shift && exec "$@"'
    argus-task DIR argv…``.

    The user's argv reaches the inner shell only as positional parameters, and ``"$@"`` is an
    expansion: its first word is always the program, never a shell or launcher option. Joined
    with shlex, because Ray runs the entrypoint with a shell that must see only quoted words.
    Every launcher (custom tasks, verl) builds its command here.
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
        **({"ARGUS_CHECKPOINT_KEEP": str(spec.checkpoint.keep)} if spec.checkpoint.keep else {}),
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
    layout = tree.layout.workloads.get(block.workload)
    if layout is None:
        why = tree.layout.unsupported.get(block.workload, "this tree's layout does not have it")
        raise CompileError("verl.workload", f"verl tree '{tree.name}' cannot run {block.workload}: {why}")
    if block.workload == "sft" and block.reward is not None:
        raise CompileError("verl.reward", "an sft workload has no reward function; remove verl.reward")
    if block.workload == "ppo" and not block.val_files:
        raise CompileError("verl.val_files", "verl's ppo trainer always loads a validation set "
                           "(its default is a gsm8k path that is not there); list at least one file")
    if block.reward is not None and "reward" not in layout.keys:
        raise CompileError("verl.reward", f"verl tree '{tree.name}' has no custom reward function key")
    gpus = spec.resources.gpus_per_node
    if gpus.shared or gpus.count < 1:
        raise CompileError("resources.gpus_per_node", f"verl needs whole GPUs on every node, not "
                           f"'{gpus}'; write a count such as 8 or 8(H100)")
    ours = argus_overrides(spec, ctx, tree)
    env["PYTHONPATH"] = ":".join(p for p in (tree.path, env.get("PYTHONPATH")) if p)
    argv = [tree.python, "-m", layout.module, *ours, *block.overrides]
    # The interpreter reaches Ray's workers through verl's own key where the tree has one: Ray
    # refuses to merge a job runtime_env and a ray.init runtime_env that both name py_executable.
    runtime_env = {} if "py_executable" in layout.keys else {"py_executable": tree.python}
    # verl places one group of n_gpus_per_node GPUs per node itself: its driver holds none.
    if not ctx.run_dir:
        raise CompileError("verl.code", "no run directory was resolved for this task")
    return f"{ctx.run_dir.rstrip('/')}/attempt-{ctx.attempt}", argv, runtime_env, VERL_DRIVER_CPUS, 0.0


def argus_overrides(spec: VerlTask, ctx: CompileContext, tree: VerlTree) -> list[str]:
    """The overrides Argus sets, keyed by the tree's own layout (``key=value`` each)."""
    block = spec.verl
    keys = tree.layout.workloads[block.workload].keys
    users = {o.lstrip("+~").split("=", 1)[0] for o in block.overrides}
    values = {
        "nnodes": str(spec.resources.nodes),
        "gpus_per_node": str(int(spec.resources.gpus_per_node.count)),
        "checkpoint_dir": _value(ctx.checkpoint_dir, "checkpoint dir"),
        "resume_mode": "auto",
        "save_freq": str(spec.checkpoint.save_freq),
        "model": _value(block.model, "verl.model"),
        "train_files": _list(block.train_files, "verl.train_files"),
        "val_files": _list(block.val_files, "verl.val_files") if block.val_files else None,
        "project": _value(spec.team or "argus", "team"),
        "experiment": _value(spec.name, "name"),
        "py_executable": _value(tree.python, "the tree's interpreter"),
    }
    out = [f"{keys[role]}={value}" for role, value in values.items()
           if value is not None and role in keys and keys[role] not in users]
    if block.reward is not None:
        reward = keys["reward"]
        out.append(f"{reward}.path={_value(block.reward.path, 'verl.reward.path')}")
        out.append(f"{reward}.name={_value(block.reward.name, 'verl.reward.name')}")
    if spec.checkpoint.keep:
        out += [f"{key}={spec.checkpoint.keep}" for key in tree.layout.workloads[block.workload].keep_keys]
    return out


_HYDRA_SPECIAL = set(",[]{}()<>'\"=:$\\ ")


def _value(text: str, path: str) -> str:
    if any(ch in _HYDRA_SPECIAL for ch in text):
        raise CompileError(path, f"'{text}' has characters hydra overrides cannot carry "
                           "unquoted (, [ ] { } ( ) < > quotes = : $ \\ space); rename the path")
    return text


def _list(items: list[str], path: str) -> str:
    return "[" + ",".join(_value(item, f"{path}.{i}") for i, item in enumerate(items)) + "]"
