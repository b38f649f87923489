"""verl's own failure lines, as rows for the generic classifier (:mod:`argus.failures`).

Taken from verl's source: ``ResourcePoolManager._check_resource_available`` raises
``ValueError(f"Total available GPUs {total_available_gpus} is less than total desired GPUs
{total_required_gpus}")`` (0.4 in ``trainer/ppo/ray_trainer.py``, 0.9 in
``single_controller/ray/base.py``) and, per pool, ``ValueError(f"Resource pool {name}:
{num_gpus}*{num_nodes}" + "cannot be satisfied in this ray cluster")``. Both mean that Ray had
fewer free GPUs when verl checked than the run needs — another job holds them for now —
so the attempt is retried.
"""

from __future__ import annotations

from argus.termination import Pattern, Termination, row

PATTERNS: tuple[Pattern, ...] = (
    row(Termination.GPUS_UNAVAILABLE, "verl",
        r"Total available GPUs \S+ is less than total desired GPUs \S+",
        r"Resource pool \S+: \S+\s*cannot be satisfied in this ray cluster"),
)
