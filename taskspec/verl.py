"""What compiling a verl task needs to know about one verl tree, as plain data.

The core (``argus.verl``) reads a :class:`VerlLayout` from the tree's own composed hydra config
and passes it in; taskspec never names a verl key itself. A workload's ``keys`` map the roles
Argus fills (below) to that tree's config keys; a role missing from ``keys`` is not set.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Roles a workload layout may map to config keys; the value Argus puts there comes from the spec.
ROLES = (
    "nnodes",          # resources.nodes
    "gpus_per_node",   # resources.gpus_per_node
    "checkpoint_dir",  # the task's checkpoint directory
    "resume_mode",     # always auto
    "save_freq",       # checkpoint.save_freq
    "model",           # verl.model
    "train_files",     # verl.train_files
    "val_files",       # verl.val_files
    "reward",          # verl.reward (a key prefix: .path and .name)
    "project",         # the experiment-tracking project: the task's team (user may override)
    "experiment",      # the task's name (user may override)
    "py_executable",   # the tree's interpreter for Ray workers (instead of the job's runtime_env)
)
OVERRIDABLE_ROLES = frozenset({"project", "experiment"})


@dataclass(frozen=True)
class WorkloadLayout:
    """One workload (``ppo`` or ``sft``) of one tree: its entry module, config and keys."""

    module: str
    config: str
    keys: dict[str, str] = field(default_factory=dict)
    keep_keys: tuple[str, ...] = ()  # checkpoint.keep goes to each of these


@dataclass(frozen=True)
class VerlLayout:
    """A verl tree's layout, read from its own config (never from a version string)."""

    workloads: dict[str, WorkloadLayout] = field(default_factory=dict)
    unsupported: dict[str, str] = field(default_factory=dict)  # workload -> why, and what is needed
    ray_init_prefix: str = ""  # the config node verl reads its ray.init arguments from
    cpus_per_gpu: int = 1   # CPUs verl's resource pools reserve beside each GPU
    driver_cpus: int = 1    # verl's TaskRunner actor
    ray_init_env: tuple[str, ...] = ()  # env vars verl's ray.init always sets: the job may not
    description: str = ""   # one line for people (argus verl trees)

    def cpus_per_node(self, gpus_per_node: int, job_driver_cpus: float = 1.0) -> float:
        """CPUs a run really holds on each node: verl's GPU bundles (``cpus_per_gpu`` each), its
        TaskRunner and the Ray Job's own driver (counted on every node: the planner's demand is
        per node, and over-counting two CPUs beats a placement group that never fits)."""
        return gpus_per_node * self.cpus_per_gpu + self.driver_cpus + job_driver_cpus


@dataclass(frozen=True)
class VerlTree:
    """A verl source tree, its checked interpreter and its layout, as the server resolved them."""

    name: str
    path: str
    python: str
    layout: VerlLayout = field(default_factory=VerlLayout)
