"""A bank's day on a simulated cluster: Argus's planner beside FIFO and static per-team pools.

The trace (bench/bank_trace.py): realtime risk work peaking by day, research teams' online
training all day, batch analysis submitted in the evening. The same arrivals go through

* **argus** — the real planner (``plan``): classes, quotas with borrowing, fair share,
  preemption;
* **fifo** — one queue in arrival order, admit whatever fits;
* **static pools** — the status quo: each team confined to a fixed pool of nodes sized by its
  nominal share, priority then arrival order inside it.

Passes are event-driven, as the scheduler loop is: one on every arrival, completion and stop of
a preempted task (events in the same simulated second share a pass), plus a heartbeat pass.
A preempted task frees its GPUs ``--victim-exit`` seconds after the decision (a task that saves
and exits on SIGTERM), loses the work since its last checkpoint (every 10 minutes) and goes
back to the queue keeping its place. Also printed: the planner's CPU time for one pass with
10,000 pending and 2,000 running on 1,000 nodes.

    python bench/sched_sim.py [--nodes 64] [--days 1] [--seed 7] [--victim-exit 3]

Simulation, not a measurement of Ray. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bank_trace import SHARES, bank_day, static_pools  # noqa: E402

from argus.scheduling.placement import Demand, FreeMap, Node  # noqa: E402
from argus.scheduling.planner import Admit, Pending, Preempt, Running, Snapshot, plan  # noqa: E402
from argus.scheduling.policy import FlavorQuota, Policy, Team  # noqa: E402

CLASSES = ("realtime", "online", "batch")
BEFORE_MS = 524  # the same pass before the planner's shortcuts (issue 11, this host)
PREVIOUS_MS = 130  # the same pass before the deep search by node and the leaner pass (this host, side by side)
GOAL_MS = 100
REPEATS = 5
SAVE_INTERVAL = 600.0
ARRIVE, FINISH, STOPPED, BEAT = range(4)


@dataclass
class Job:
    task_id: int
    team: str
    rank: int
    demand: Demand
    submit: float
    duration: float
    done: float = 0.0
    first_start: float | None = None
    started: float = 0.0
    placement: tuple[str, ...] = ()
    attempt: int = 0
    preempting: bool = False
    last_preempted: float | None = None
    lost: float = 0.0  # GPU-seconds of work lost to preemption


def fifo(snapshot: Snapshot, _policy: Policy | None = None) -> list:
    """Plain FIFO: arrival order, admit whatever fits, no classes, no quotas, no preemption."""
    free = FreeMap.build(snapshot.nodes, [(r.placement, r.demand) for r in snapshot.running])
    out = []
    for p in sorted(snapshot.pending, key=lambda p: (p.queued_at, p.task_id)):
        placement = free.place(p.demand)
        if placement is not None:
            free.take(placement, p.demand)
            out.append(Admit(p.task_id, placement))
    return out


class Sim:
    """Event-driven replay of ``jobs`` through ``planner``."""

    def __init__(self, jobs: list[Job], nodes: list[Node], planner, policy: Policy,  # noqa: ANN001
                 victim_exit: float, heartbeat: float):
        self.jobs, self.nodes, self.planner, self.policy = jobs, nodes, planner, policy
        self.victim_exit = victim_exit
        self.pending: dict[int, Job] = {}
        self.running: dict[int, Job] = {}
        self.usage: dict[str, float] = defaultdict(float)
        self.events: list[tuple[float, int, int, int, int]] = []
        self.seq = itertools.count()
        self.cpu: list[float] = []
        self.busy_gpu_seconds = 0.0  # within the day (the drain after it is not counted)
        self.day_end = float("inf")
        self.preemptions = 0
        self.total = sum(n.gpus for n in nodes)
        for job in jobs:
            self.push(job.submit, ARRIVE, job.task_id)
        self.heartbeat = heartbeat

    def push(self, at: float, kind: int, task_id: int = 0, attempt: int = 0) -> None:
        heapq.heappush(self.events, (at, next(self.seq), kind, task_id, attempt))

    def run(self, end: float) -> None:
        by_id = {j.task_id: j for j in self.jobs}
        self.push(0.0, BEAT)
        now = 0.0
        while self.events and self.events[0][0] <= end:
            at = self.events[0][0]
            self.account(now, at)
            for team in self.usage:
                self.usage[team] *= 0.5 ** ((at - now) / self.policy.half_life_seconds)
            now = at
            while self.events and self.events[0][0] < at + 1.0:  # one pass per simulated second
                _, _, kind, task_id, attempt = heapq.heappop(self.events)
                self.handle(kind, by_id.get(task_id), attempt, now)
            self.plan_pass(now, by_id)
        self.account(now, end)

    def account(self, start: float, stop: float) -> None:
        busy = sum(j.demand.total_gpus for j in self.running.values())
        self.busy_gpu_seconds += busy * max(0.0, min(stop, self.day_end) - start)

    def handle(self, kind: int, job: Job | None, attempt: int, now: float) -> None:
        if kind == BEAT:
            self.push(now + self.heartbeat, BEAT)
        elif kind == ARRIVE:
            self.pending[job.task_id] = job
        elif kind == FINISH and job.attempt == attempt and job.task_id in self.running:
            del self.running[job.task_id]
        elif kind == STOPPED:
            del self.running[job.task_id]
            progress = job.done + (now - job.started)
            job.done = progress - progress % SAVE_INTERVAL
            job.lost += (progress - job.done) * job.demand.total_gpus
            job.preempting = False
            self.pending[job.task_id] = job

    def plan_pass(self, now: float, by_id: dict[int, Job]) -> None:
        snap = Snapshot(
            self.nodes,
            [Running(j.task_id, j.placement, j.demand, j.rank, j.team, j.started, j.preempting,
                     j.last_preempted) for j in self.running.values()],
            [Pending(j.task_id, j.rank, j.submit, j.demand, j.team) for j in self.pending.values()],
            now=now, usage=dict(self.usage))
        c0 = time.process_time()
        decisions = self.planner(snap, self.policy)
        self.cpu.append(time.process_time() - c0)
        for d in decisions:
            if isinstance(d, Admit):
                job = self.pending.pop(d.task_id)
                job.placement, job.started, job.attempt = d.placement, now, job.attempt + 1
                job.first_start = now if job.first_start is None else job.first_start
                self.running[job.task_id] = job
                self.usage[job.team] += job.demand.total_gpus
                self.push(now + job.duration - job.done, FINISH, job.task_id, job.attempt)
            elif isinstance(d, Preempt):
                job = by_id[d.victim_task_id]
                job.preempting, job.last_preempted = True, now
                job.attempt += 1  # its FINISH no longer counts
                self.preemptions += 1
                self.push(now + self.victim_exit, STOPPED, job.task_id)


def quantile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[int(q * (len(values) - 1))] if values else 0.0


def report(sim: Sim, horizon: float, end: float) -> dict[str, float]:
    """Utilisation within ``horizon``; waits of the jobs submitted within it (one still waiting
    at ``end`` counts as waiting until then). Work lost to preemption within the day is subtracted
    for the useful utilisation."""
    jobs = [j for j in sim.jobs if j.submit < horizon]
    waits = {rank: [(j.first_start if j.first_start is not None else end) - j.submit
                    for j in jobs if j.rank == rank] for rank in range(3)}
    capacity = sim.total * horizon
    return {
        "util": sim.busy_gpu_seconds / capacity,
        "useful": (sim.busy_gpu_seconds - sum(j.lost for j in sim.jobs)) / capacity,
        "rt_p50": quantile(waits[0], 0.5), "rt_p95": quantile(waits[0], 0.95), "rt_max": max(waits[0], default=0),
        "on_p95": quantile(waits[1], 0.95) / 60, "on_max": max(waits[1], default=0) / 60,
        "ba_p95": quantile(waits[2], 0.95) / 3600, "ba_max": max(waits[2], default=0) / 3600,
        "never": sum(1 for j in jobs if j.first_start is None),
        "preemptions": sim.preemptions,
        "cpu_mean": statistics.mean(sim.cpu) * 1e3, "cpu_max": max(sim.cpu) * 1e3, "passes": len(sim.cpu),
    }


def big_pass(n_nodes: int, policy: Policy, n_pending: int, seed: int) -> list[float]:
    """CPU time of single passes with ``n_pending`` pending and 2 running per node, on a full cluster."""
    rng = random.Random(seed)
    nodes = [Node(f"n{i:04d}", 96, 8, "H100") for i in range(n_nodes)]
    teams = list(policy.teams)
    running, i = [], 0
    for node in nodes:
        for k in range(2):
            i += 1
            running.append(Running(i, (node.node_id,), Demand(1, 4, 4 if k == 0 else 3, "H100"),
                                   rng.choice([1, 2]), rng.choice(teams), rng.uniform(0, 5000)))
    pending = [Pending(100_000 + k, rng.choices([0, 1, 2], [3, 22, 75])[0], rng.uniform(0, 9000),
                       Demand(rng.choice([1, 1, 1, 2, 4]), 4, rng.choice([1, 2, 4, 8]), "H100"),
                       rng.choice(teams)) for k in range(n_pending)]
    times = []
    for _ in range(REPEATS):
        c0 = time.process_time()
        plan(Snapshot(nodes, running, pending, now=10_000.0), policy)
        times.append(time.process_time() - c0)
    return times


def bank_policy(total_gpus: int) -> Policy:
    teams = {name: Team(name, 1.0, {"H100": FlavorQuota(total_gpus * share)}) for name, share in SHARES.items()}
    return Policy(teams=teams, max_wait_seconds=6 * 3600)


ROWS = (
    ("GPU utilisation (allocated)", "util", "{:.1%}", "≥ 1.30 vs static"),
    ("GPU utilisation (useful)", "useful", "{:.1%}", ""),
    ("realtime wait p50 (s)", "rt_p50", "{:.1f}", ""),
    ("realtime wait p95 (s)", "rt_p95", "{:.1f}", "< 5 s"),
    ("realtime wait max (s)", "rt_max", "{:.0f}", ""),
    ("online wait p95 (min)", "on_p95", "{:.0f}", ""),
    ("online wait max (min)", "on_max", "{:.0f}", ""),
    ("batch wait p95 (h)", "ba_p95", "{:.1f}", ""),
    ("batch wait max (h)", "ba_max", "{:.1f}", "bounded"),
    ("tasks never started", "never", "{:d}", ""),
    ("preemptions", "preemptions", "{:d}", ""),
    ("planner passes", "passes", "{:d}", ""),
    ("planner CPU/pass mean (ms)", "cpu_mean", "{:.1f}", ""),
    ("planner CPU/pass max (ms)", "cpu_max", "{:.1f}", ""),
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=64)
    ap.add_argument("--days", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--victim-exit", type=float, default=3.0, help="Seconds a preempted task takes to exit.")
    ap.add_argument("--heartbeat", type=float, default=60.0, help="Seconds between passes with no event.")
    ap.add_argument("--drain-hours", type=float, default=6.0, help="Keep running after the last arrival.")
    ap.add_argument("--pending", type=int, default=10_000)
    ap.add_argument("--big-nodes", type=int, default=1000)
    args = ap.parse_args()
    nodes = [Node(f"n{i:04d}", 96, 8, "H100") for i in range(args.nodes)]
    total = args.nodes * 8
    policy = bank_policy(total)
    arrivals = bank_day(args.seed, total, args.days)
    horizon = args.days * 24 * 3600
    end = horizon + args.drain_hours * 3600
    print(f"bank trace: {len(arrivals)} tasks over {args.days:g} day(s) on {args.nodes} nodes × 8 GPUs "
          f"({', '.join(f'{t} {s:.1%}' for t, s in SHARES.items())} nominal); event-driven passes, "
          f"victims exit {args.victim_exit:g} s after preemption; utilisation over the day, waits "
          f"of its tasks followed {args.drain_hours:g} h past it")
    planners = {"argus": plan, "fifo": fifo, "static": static_pools(nodes, SHARES)}
    results = {}
    for label, planner in planners.items():
        jobs = [Job(i, a.team, a.rank, a.demand, a.submit, a.duration) for i, a in enumerate(arrivals, 1)]
        sim = Sim(jobs, nodes, planner, policy, args.victim_exit, args.heartbeat)
        sim.day_end = horizon
        sim.run(end)
        results[label] = report(sim, horizon, end)
    print(f"\n{'':30}{'argus':>10}{'fifo':>10}{'static':>10}{'argus/fifo':>12}{'argus/static':>14}  goal")
    for name, key, fmt, goal in ROWS:
        a, f, s = (results[k][key] for k in ("argus", "fifo", "static"))
        rf = f"{a / f:.2f}" if f else "-"
        rs = f"{a / s:.2f}" if s else "-"
        print(f"{name:30}{fmt.format(a):>10}{fmt.format(f):>10}{fmt.format(s):>10}{rf:>12}{rs:>14}  {goal}")
    times = big_pass(args.big_nodes, bank_policy(args.big_nodes * 8), args.pending, args.seed)
    print(f"\none pass, {args.pending} pending, {args.big_nodes * 2} running on {args.big_nodes} nodes: "
          f"CPU {min(times) * 1e3:.0f} ms (best of {REPEATS}), {max(times) * 1e3:.0f} ms (worst); "
          f"previous {PREVIOUS_MS} ms (ratio {min(times) * 1e3 / PREVIOUS_MS:.2f}), "
          f"before {BEFORE_MS} ms (ratio {min(times) * 1e3 / BEFORE_MS:.2f}); goal < {GOAL_MS} ms "
          f"(ratio {min(times) * 1e3 / GOAL_MS:.2f}: {'met' if min(times) * 1e3 < GOAL_MS else 'not met'})")


if __name__ == "__main__":
    main()
