"""The failure classifier on the lines PyTorch/NCCL, Ray, CUDA, the kernel, bash and verl really print.

Each sample keeps the program's own format (from the source that prints it, or a report of it);
only ids, addresses, pids and times are ours.
"""

from __future__ import annotations

import pytest

from argus.failures import PATTERNS, classify
from argus.termination import SUMMARY, TRANSIENT, Termination

T = Termination

# Ray's job message for a driver that exited non-zero (job_supervisor.py) wraps the log tail.
RAY_EXIT = "Job entrypoint command failed with exit code {code}, last available logs (truncated to 20,000 chars):\n"

NCCL_WATCHDOG = (
    "(WorkerDict pid=80746) [rank0]:[E321 02:07:08.408271257 ProcessGroupNCCL.cpp:607] [Rank 0] Watchdog "
    "caught collective operation timeout: WorkNCCL(SeqNum=1580, OpType=ALLREDUCE, NumelIn=466119168, "
    "NumelOut=466119168, Timeout(ms)=600000) ran for 600060 milliseconds before timing out.\n"
    "(WorkerDict pid=80746) [rank0]:[E321 02:07:08.465150152 ProcessGroupNCCL.cpp:1664] [PG 1 Rank 0] "
    "Exception (either an error or timeout) detected by watchdog at work: 1580, last enqueued NCCL work: "
    "1582, last completed NCCL work: 1579.\n"
    "RuntimeError: [Rank 0] Watchdog caught collective operation timeout\n"
)
NCCL_WATCHDOG_OLD = (
    "[E ProcessGroupNCCL.cpp:737] [Rank 1] Watchdog caught collective operation timeout: "
    "WorkNCCL(SeqNum=469508, OpType=ALLREDUCE, Timeout(ms)=1800000) ran for 1802212 milliseconds before "
    "timing out.\n"
)
NCCL_REMOTE = (
    "torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:275, "
    "remote process exited or there was a network error, NCCL version 2.21.5\n"
    "ncclRemoteError: A call failed possibly due to a network error or a remote process exiting prematurely.\n"
)
VERL_GPUS = (
    "Traceback (most recent call last):\n"
    '  File "/opt/verl/verl/trainer/main_ppo.py", line 72, in run_ppo\n'
    "    ray.get(runner.run.remote(config))\n"
    "ray.exceptions.RayTaskError(ValueError): ray::TaskRunner.run() (pid=8051, ip=10.0.3.7, "
    "actor_id=ec8f76f75a5f17928c4bd33a02000000, repr=<main_ppo.TaskRunner object at 0x7f5fe7f51f00>)\n"
    "ValueError: Total available GPUs 8.0 is less than total desired GPUs 16\n"
)
VERL_POOL = "ValueError: Resource pool global_pool: 8*2cannot be satisfied in this ray cluster\n"
ACTOR_DIED = (
    "ray.exceptions.ActorDiedError: The actor died unexpectedly before finishing this task.\n"
    "        class_name: create_colocated_worker_cls.<locals>.WorkerDict\n"
    "        actor_id: 5066c201b724a3936948a11201000000\n"
    "        pid: 87687\n"
    "The actor is dead because its worker process has died. Worker exit type: SYSTEM_ERROR Worker exit "
    "detail: Worker unexpectedly exits with a connection error code 2. End of file. There are some "
    "potential root causes. (1) The process is killed by SIGKILL by OOM killer due to high memory usage. "
    "(2) ray stop --force is called. (3) The worker is crashed unexpectedly due to SIGSEGV or other "
    "unexpected errors.\n"
)
RAYLET_WORKER_DIED = (
    "(raylet) A worker died or was killed while executing a task by an unexpected system error. To "
    "troubleshoot the problem, check the logs for the dead worker. RayTask ID: "
    "ffffffffffffffff70c54e8c236802a1524e4f8001000000 Worker ID: a02f583f Node ID: df10b267 Worker IP "
    "address: 10.20.1.18 Worker port: 34093 Worker PID: 288692 Worker exit type: SYSTEM_ERROR\n"
)
OWNER_DIED = (
    "ray.exceptions.OwnerDiedError: Failed to retrieve object 00ffffffffffffffffffffffffffffffffffffff1300000001e1f505.\n"
    "The object's owner has exited. This is the Python worker that first created the ObjectRef via "
    "`.remote()` or `ray.put()`.\n"
)
RAY_MEMORY_MONITOR = (
    "ray.exceptions.OutOfMemoryError: Task was killed due to the node running low on memory.\n"
    "Memory on the node (IP: 172.17.0.2, ID: 8c5a1410) where the task (task ID: 41617bc7, "
    "name=allocate_memory, pid=548, memory used=12.18GB) was running was 21.91GB / 33.28GB (0.658192), "
    "which exceeds the memory usage threshold of 0.65.\n"
)
ACTOR_NODE_OOM = (
    "Failed to execute python: RayActorError: The actor died unexpectedly before finishing this task.\n"
    "The actor is dead because its worker process has died. Worker exit type: NODE_OUT_OF_MEMORY Worker "
    "exit detail: Task was killed due to the node running low on memory.\n"
)
RAYLET_OOM = (
    "(raylet) [2025-12-07 09:57:19,206 E 393463 393463] (raylet) node_manager.cc:3277: 2 Workers (tasks / "
    "actors) killed due to memory pressure (OOM), 0 Workers crashed due to other reasons at node (ID: "
    "8289f87b, IP: 172.24.0.226) over the last time period.\n"
)
SHELL_KILLED = "step 40 loss 0.31\n/bin/sh: line 1:  4242 Killed                  python3 train.py --steps 200\n"
ECC = (
    "RuntimeError: CUDA error: uncorrectable ECC error encountered\n"
    "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below "
    "might be incorrect.\n" + NCCL_WATCHDOG_OLD
)
XID = "NVRM: Xid (PCI:0000:9b:00): 79, pid=1234, name=python3, GPU has fallen off the bus.\n"
SUPERVISOR_NODE_DIED = (
    "Job supervisor actor died: The actor died because its node has died. Node Id: "
    "4f0c2a7d9e1b3c5a\n\tthe actor's node was terminated unexpectedly: health check failed\n"
)
HEARTBEATS = (
    "The node with node id: ada3a3771fac751b and address: 10.0.0.154 and node name: 10.0.0.154 has been "
    "marked dead because the detector has missed too many heartbeats from it. This can happen when a "
    "(1) raylet crashes unexpectedly (OOM, etc.) (2) raylet has lagging heartbeats.\n"
)
USER_TRACEBACK = (
    "step 10 loss 0.42\n"
    "Traceback (most recent call last):\n"
    '  File "/gpfs/users/alice/code/train.py", line 33, in <module>\n'
    "    raise ValueError('learning rate must be positive, got -0.1')\n"
    "ValueError: learning rate must be positive, got -0.1\n"
)
VERL_USER = (
    "ray.exceptions.RayTaskError(ZeroDivisionError): ray::TaskRunner.run() (pid=8051, ip=10.0.3.7)\n"
    '  File "/gpfs/users/alice/reward.py", line 12, in compute_score\n'
    "ZeroDivisionError: division by zero\n"
)
CUDA_OOM = (
    "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of "
    "79.19 GiB of which 1.05 GiB is free.\n" + ACTOR_DIED
)
CREATION_TASK = (
    "ray.exceptions.ActorDiedError: The actor died because of an error raised in its creation task, "
    "ray::WorkerDict.__init__() (pid=3312, ip=10.0.3.7)\n"
    "FileNotFoundError: [Errno 2] No such file or directory: '/gpfs/models/qwen-7b/config.json'\n"
)
RUNTIME_ENV = "runtime_env setup failed: Failed to set up runtime environment.\nNo such file: /opt/envs/verl/bin/python"


@pytest.mark.parametrize(("log", "message", "code", "reason", "evidence"), [
    (NCCL_WATCHDOG, RAY_EXIT.format(code=1), 1, T.NCCL_TIMEOUT, "Watchdog caught collective operation timeout"),
    (NCCL_WATCHDOG_OLD, "", 1, T.NCCL_TIMEOUT, "ProcessGroupNCCL.cpp:737"),
    (NCCL_REMOTE, "", 1, T.NCCL_ERROR, "remote process exited"),
    ("", RAY_EXIT.format(code=1) + VERL_GPUS, 1, T.GPUS_UNAVAILABLE, "Total available GPUs 8.0"),
    (VERL_POOL, "", 1, T.GPUS_UNAVAILABLE, "global_pool: 8*2cannot"),
    (ACTOR_DIED, "", 1, T.ACTOR_DIED, "ActorDiedError"),
    (RAYLET_WORKER_DIED, "", 1, T.ACTOR_DIED, "A worker died or was killed"),
    (OWNER_DIED, "", 1, T.ACTOR_DIED, "OwnerDiedError"),
    (RAY_MEMORY_MONITOR, "", 1, T.OOM_KILLED, "OutOfMemoryError"),
    (ACTOR_NODE_OOM, "", 1, T.OOM_KILLED, "NODE_OUT_OF_MEMORY"),
    (RAYLET_OOM, "", 1, T.OOM_KILLED, "memory pressure (OOM)"),
    (SHELL_KILLED, "", 137, T.OOM_KILLED, "4242 Killed"),
    ("Killed\n", "", 137, T.OOM_KILLED, "Killed"),
    ("step 3\n", "", 137, T.OOM_KILLED, "exit code 137"),
    (ECC, "", 1, T.CUDA_ECC_XID, "uncorrectable ECC error"),
    (XID, "", 1, T.CUDA_ECC_XID, "Xid (PCI:0000:9b:00): 79"),
    ("", SUPERVISOR_NODE_DIED, None, T.NODE_DIED, "its node has died"),
    (HEARTBEATS + ACTOR_DIED, "", 1, T.NODE_DIED, "missed too many heartbeats"),
    ("", "", None, T.LOST, ""),
    (USER_TRACEBACK, RAY_EXIT.format(code=1), 1, T.USER_ERROR, "ValueError: learning rate must be positive"),
    (VERL_USER, "", 1, T.USER_ERROR, "ZeroDivisionError: division by zero"),
    (CUDA_OOM, "", 1, T.GPU_OOM, "CUDA out of memory"),
    (CREATION_TASK, "", 1, T.USER_ERROR, "error raised in its creation task"),
    ("", RUNTIME_ENV, None, T.RUNTIME_ENV_FAILED, "runtime_env setup failed"),
    ("boom\n", "Job entrypoint command failed with exit code 3. No logs available.", 3, T.USER_ERROR,
     "exit code 3"),
], ids=["nccl-watchdog", "nccl-watchdog-old", "nccl-remote", "verl-gpus", "verl-pool", "actor-died",
        "raylet-worker-died", "owner-died", "ray-memory-monitor", "actor-node-oom", "raylet-oom",
        "shell-killed", "killed-alone", "sigkill-exit", "ecc-before-nccl", "xid", "supervisor-node-died",
        "heartbeats-before-actor", "no-exit-code", "user-traceback", "verl-user", "cuda-oom",
        "creation-task", "runtime-env", "no-logs"])
def test_classify_real_lines(log, message, code, reason, evidence):
    verdict = classify(log, message, code)
    assert verdict.reason is reason, verdict
    assert verdict.transient is (reason in TRANSIENT)
    assert evidence in verdict.evidence
    assert verdict.describe().startswith(reason.value)


def test_infra_failures_are_transient_and_user_ones_are_not():
    assert classify(NCCL_WATCHDOG, "", 1).transient
    assert classify("", SUPERVISOR_NODE_DIED, None).transient
    assert classify(RAY_MEMORY_MONITOR, "", 1).transient
    assert not classify(USER_TRACEBACK, "", 1).transient
    assert not classify(CUDA_OOM, "", 1).transient
    assert not classify("", RUNTIME_ENV, None).transient


def test_ordinary_words_are_not_failures():
    # Log lines that look a little like the patterns but are the program talking.
    log = "Killed 3 stale workers\nsaved checkpoint; no OOM killer involved\nValueError: bad reward key\n"
    assert classify(log, "", 1).reason is T.USER_ERROR
    assert classify(log, "", 1).evidence == "ValueError: bad reward key"


def test_the_newest_lines_are_searched_when_the_log_is_long():
    log = "x" * 500_000 + "\n" + NCCL_WATCHDOG
    assert classify(log, "", 1).reason is T.NCCL_TIMEOUT
    old = NCCL_WATCHDOG + "y" * 500_000 + "\nValueError: late\n"  # the timeout scrolled out of the tail
    assert classify(old, "", 1).reason is T.USER_ERROR


def test_every_row_has_a_sample_and_every_reason_a_summary():
    samples = [ECC, XID, RAY_MEMORY_MONITOR, SHELL_KILLED, HEARTBEATS, CUDA_OOM, CREATION_TASK, VERL_GPUS,
               NCCL_WATCHDOG, NCCL_REMOTE, ACTOR_DIED, RUNTIME_ENV, "Could not find any running Ray instance",
               "Job supervisor actor could not be scheduled: no node"]
    matched = {p.reason for p in PATTERNS if any(p.regex.search(s) for s in samples)}
    assert matched == {p.reason for p in PATTERNS}
    assert set(SUMMARY) == set(Termination)


def test_evidence_is_one_bounded_line():
    verdict = classify("ValueError: " + "z" * 5000 + "\n", "", 1)
    assert len(verdict.evidence) <= 300 and "\n" not in verdict.evidence
