"""``argus doctor``: why a task failed, and what is half dead in the cluster.

For a task: the newest attempt's driver log tail (the owner's secret values redacted), Ray's
message and the exit code go through the failure classifier (argus/failures.py: one table of
known causes — NCCL timeout, CUDA OOM, Xid/ECC, OOM kill, a missing file, a GPU count Ray
cannot give…), and the verdict comes with what to do. Where an operator configured an
OpenAI-compatible endpoint (``ARGUS_DOCTOR_LLM_URL``), the same material is sent to it for a
second opinion (bounded: the tail, the verdict, one request with a timeout).

For the cluster: the zombies of ``argus nodes``, and RUNNING tasks whose Ray job is gone.
"""

from __future__ import annotations

import logging
from typing import Any

import httpx
from sqlalchemy import select

from argus.cluster import ClusterProvider
from argus.db.engine import Database
from argus.db.models import Attempt, Task
from argus.db.store import get_task
from argus.errors import RayError
from argus.failures import classify
from argus.services import logs as log_service
from argus.services.nodes import node_rows
from argus.settings import Settings
from argus.states import TaskStatus
from argus.termination import Termination

log = logging.getLogger(__name__)
TAIL_CHARS = 8 * 1024  # what is shown and sent to the model
T = Termination

WHAT_TO_DO: dict[Termination, str] = {
    T.USER_ERROR: "Read the traceback in the log tail; fix the code or its inputs, then `argus resubmit`.",
    T.GPU_OOM: "Lower the micro-batch size or sequence length (verl: *.ppo_micro_batch_size_per_gpu, "
               "data.max_*_length), or enable gradient checkpointing / offload.",
    T.RUNTIME_ENV_FAILED: "Check the python environment and packages the job asks Ray for.",
    T.TIMED_OUT: "Raise timeout_minutes or make the run shorter.",
    T.REJECTED: "Ray refused the job description; see the message for the field it rejects.",
    T.COMPILE_ERROR: "The task could not be turned into a Ray job; `argus submit --dry-run` shows why.",
    T.NCCL_TIMEOUT: "A rank hung or died: look for the first error on any rank; check the network "
                    "(NCCL_DEBUG=INFO) and the GPUs of its nodes (`argus nodes`). Retried automatically.",
    T.NCCL_ERROR: "Check the interconnect (IB/RoCE, NCCL_SOCKET_IFNAME) and the nodes; retried automatically.",
    T.ACTOR_DIED: "A worker process died: look for its OOM kill or segfault on its node; retried automatically.",
    T.NODE_DIED: "A node left the cluster; `argus nodes` shows which. The task resumes elsewhere.",
    T.GPUS_UNAVAILABLE: "The run asked for more GPUs (per node) than Ray had free: check resources."
                        "gpus_per_node and nodes against what the workers declare (`argus nodes`).",
    T.CUDA_ECC_XID: "GPU hardware: the node should be quarantined by its agent (`argus nodes`); the task "
                    "resumes on another node. Operators: see docs/operations.md (fatal Xids).",
    T.OOM_KILLED: "The host ran out of memory: lower dataloader workers / rollout batch, or ask for more CPUs "
                  "per node (memory scales with them).",
    T.PLACEMENT_TIMEOUT: "Ray could not place the run's GPU groups: fewer free GPUs per node than asked.",
    T.RAY_UNREACHABLE: "The Ray head did not answer; see ArgusHeadLost in docs/operations.md.",
    T.DRIVER_NOT_STARTED: "Ray could not start the driver: check the worker nodes' runtime env and disk.",
    T.LOST: "The attempt vanished with its node or the head; it was requeued if attempts were left.",
    T.PREEMPTED: "Preempted for a higher priority; it resumes from its checkpoint.",
    T.CANCELLED: "Cancelled by a person.",
}


def explain(db: Database, settings: Settings, provider: ClusterProvider, task_id: int,
            llm: httpx.Client | None = None) -> dict[str, Any]:
    with db.read() as session:
        task = get_task(session, task_id)
        attempt = session.scalar(select(Attempt).where(Attempt.task_id == task_id,
                                                       Attempt.number == task.attempts))
        status, name = task.status, task.name
    try:
        text = log_service.read(db, settings, provider, task_id)
    except RayError as exc:
        text = f"(the log is not available: {exc.message})"
    tail = text[-TAIL_CHARS:]
    message = attempt.message if attempt else ""
    exit_code = attempt.exit_code if attempt else None
    verdict = classify(tail, message, exit_code)
    answer = {"task": task_id, "name": name, "status": status, "attempt": attempt.number if attempt else None,
              "exit_code": exit_code, "reason": verdict.reason.value, "summary": verdict.summary,
              "transient": verdict.transient, "evidence": verdict.evidence,
              "what_to_do": WHAT_TO_DO.get(verdict.reason, ""), "log_tail": tail[-2000:]}
    if status not in (TaskStatus.FAILED.value, TaskStatus.LOST.value):
        answer["note"] = f"the task is {status}, not FAILED: this is what its log says so far"
    if settings.doctor_llm_url:
        answer["llm"] = ask_model(settings, answer, tail, message, llm)
    return answer


def ask_model(settings: Settings, answer: dict[str, Any], tail: str, message: str,
              client: httpx.Client | None = None) -> dict[str, Any]:
    """One chat-completions request to the operator's endpoint; errors are reported, not raised."""
    prompt = (f"A training task run as a Ray job ended with status {answer['status']} "
              f"(exit code {answer['exit_code']}). Argus's classifier says: {answer['reason']} — "
              f"{answer['summary']}. Ray's message: {message[:1000]!r}.\n"
              f"The last lines of the driver log:\n{tail}\n\n"
              "In at most 6 sentences: what most likely went wrong, and what should the user change?")
    body = {"model": settings.doctor_llm_model, "temperature": 0,
            "messages": [{"role": "system", "content": "You diagnose failed LLM training runs (verl, PyTorch, "
                                                      "NCCL, Ray). Be specific and brief."},
                         {"role": "user", "content": prompt}]}
    headers = {"Authorization": f"Bearer {settings.doctor_llm_key}"} if settings.doctor_llm_key else {}
    url = settings.doctor_llm_url.rstrip("/") + "/chat/completions"
    own = client is None
    client = client or httpx.Client(timeout=settings.doctor_llm_timeout_seconds)
    try:
        resp = client.post(url, json=body, headers=headers)
        if resp.status_code != 200:
            return {"model": settings.doctor_llm_model, "error": f"{url} answered HTTP {resp.status_code}"}
        content = resp.json()["choices"][0]["message"]["content"]
        return {"model": settings.doctor_llm_model, "diagnosis": str(content)[:4000]}
    except (httpx.HTTPError, ValueError, KeyError, IndexError, TypeError) as exc:
        return {"model": settings.doctor_llm_model, "error": f"{url}: {type(exc).__name__}: {exc}"[:500]}
    finally:
        if own:
            client.close()


def cluster(db: Database, settings: Settings, provider: ClusterProvider) -> dict[str, Any]:
    """Zombie nodes, RUNNING tasks whose Ray job is gone, and whether Ray answers."""
    ref = provider.current()
    nodes = jobs = None
    problems: list[str] = []
    if ref.cluster is None:
        problems.append(f"no Ray cluster: {ref.why_not}")
    else:
        try:
            nodes, jobs = ref.cluster.nodes(), ref.cluster.list_jobs()
        except RayError as exc:
            problems.append(f"Ray does not answer: {exc.message}")
    rows = node_rows(db, settings, nodes)
    zombies = [{"node": r["name"], "why": r["zombie"]} for r in rows if r["zombie"]]
    ghosts = []
    if jobs is not None:
        with db.read() as session:
            running = session.execute(
                select(Task.id, Attempt.submission_id)
                .join(Attempt, (Attempt.task_id == Task.id) & (Attempt.number == Task.attempts))
                .where(Task.status == TaskStatus.RUNNING.value)).all()
        for task_id, sid in running:
            state = jobs.get(sid)
            if state is None or state.status in ("SUCCEEDED", "FAILED", "STOPPED"):
                ghosts.append({"task": task_id, "submission_id": sid,
                               "why": "Ray has no such job" if state is None else f"Ray says {state.status}"})
    quarantined = [{"node": r["name"], "reason": r["quarantine_reason"]} for r in rows
                   if r["state"] in ("quarantined", "draining")]
    return {"ray_reachable": nodes is not None, "problems": problems, "zombie_nodes": zombies,
            "running_without_job": ghosts, "quarantined": quarantined,
            "healthy": not (problems or zombies or ghosts)}
