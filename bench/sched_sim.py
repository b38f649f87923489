"""Replay a generated workload on a simulated 1,000 nodes × 8 GPUs through the real planner.

Beside it, a plain FIFO planner (arrival order, admit whatever fits) on the same workload in
the same run. Prints GPU utilisation, mean and p95 wait per class, preemptions, and the
planner's CPU time per pass — also for one pass with 10,000 tasks pending.

    python bench/sched_sim.py [--nodes 1000] [--hours 12] [--tick 300] [--seed 7]

Simulation, not measurement of Ray: a task runs for its duration once admitted; a preempted
task stops at the next pass, loses the work since its last checkpoint (every 10 minutes) and
goes back to the queue keeping its place. Not a test: it asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field

from argus.scheduling.placement import Demand, FreeMap, Node
from argus.scheduling.planner import Admit, Pending, Preempt, Running, Snapshot, plan
from argus.scheduling.policy import FlavorQuota, Policy, Team

CLASSES = ("realtime", "online", "batch")
SAVE_INTERVAL = 600.0


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
    preemptions: int = 0
    last_preempted: float | None = None
    finished: float | None = None
    extra: dict = field(default_factory=dict)


def workload(seed: int, hours: float, total_gpus: int, teams: list[str]) -> list[Job]:
    """Poisson arrivals at ~1.2× capacity, mixed sizes and durations, plus bursts."""
    rng = random.Random(seed)
    sizes = [(1, 1), (1, 2), (1, 4), (1, 8), (2, 8), (4, 8), (8, 8), (16, 8)]
    size_w = [20, 15, 15, 25, 10, 8, 5, 2]
    jobs: list[Job] = []
    horizon = hours * 3600

    def make(t: float, team: str, rank: int) -> None:
        nodes, gpus = rng.choices(sizes, size_w)[0]
        minutes = rng.lognormvariate(4.0, 1.0) if rank else rng.uniform(10, 60)
        jobs.append(Job(len(jobs) + 1, team, rank, Demand(nodes, 4, gpus, "H100"), t,
                        min(max(minutes, 2), 24 * 60) * 60))

    mean_gpu_seconds = sum(n * g * w for (n, g), w in zip(sizes, size_w)) / sum(size_w) * 90 * 60
    rate = 1.2 * total_gpus / mean_gpu_seconds
    t = 0.0
    while t < horizon:
        t += rng.expovariate(rate)
        make(t, rng.choice(teams), rng.choices([0, 1, 2], [3, 22, 75])[0])
    for b in range(int(hours // 3)):  # a burst every 3 hours: one team, 400 batch tasks at once
        at, team = (b + 0.5) * 3 * 3600, teams[b % len(teams)]
        for _ in range(400):
            make(at, team, 2)
    jobs.sort(key=lambda j: j.submit)
    for i, job in enumerate(jobs, 1):
        job.task_id = i
    return jobs


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


def simulate(jobs: list[Job], nodes: list[Node], planner, policy: Policy, hours: float, tick: float):  # noqa: ANN001
    by_id = {j.task_id: j for j in jobs}
    arrivals = iter(jobs)
    nxt = next(arrivals, None)
    pending: dict[int, Job] = {}
    running: dict[int, Job] = {}
    stopping: set[int] = set()
    usage: dict[str, float] = defaultdict(float)
    total = sum(n.gpus for n in nodes)
    util, cpu, preemptions, max_pending = [], [], 0, 0
    t = 0.0
    while t < hours * 3600 + tick:
        for tid in list(stopping):  # preempted last pass: stopped now, back in the queue
            job = running.pop(tid)
            job.done = max(0.0, job.done - (job.done % SAVE_INTERVAL))
            pending[tid] = job
        stopping.clear()
        for tid, job in list(running.items()):
            job.done += tick
            if job.done >= job.duration:
                job.finished = t
                del running[tid]
        while nxt is not None and nxt.submit <= t:
            pending[nxt.task_id] = nxt
            nxt = next(arrivals, None)
        max_pending = max(max_pending, len(pending))
        for team in usage:
            usage[team] *= 0.5 ** (tick / policy.half_life_seconds)
        snap = Snapshot(nodes,
                        [Running(j.task_id, j.placement, j.demand, j.rank, j.team, j.started,
                                 last_preempted_at=j.last_preempted) for j in running.values()],
                        [Pending(j.task_id, j.rank, j.submit, j.demand, j.team) for j in pending.values()],
                        now=t, usage=dict(usage))
        c0 = time.process_time()
        decisions = planner(snap, policy)
        cpu.append(time.process_time() - c0)
        for d in decisions:
            if isinstance(d, Admit):
                job = pending.pop(d.task_id)
                job.placement, job.started = d.placement, t
                job.first_start = t if job.first_start is None else job.first_start
                running[job.task_id] = job
                usage[job.team] += job.demand.total_gpus
            elif isinstance(d, Preempt):
                job = by_id[d.victim_task_id]
                job.preemptions += 1
                job.last_preempted = t
                stopping.add(job.task_id)
                preemptions += 1
        util.append(sum(j.demand.total_gpus for j in running.values()) / total)
        t += tick
    return {"util": statistics.mean(util), "cpu": cpu, "preemptions": preemptions,
            "max_pending": max_pending, "jobs": jobs}


def waits(jobs: list[Job], horizon: float) -> dict[str, tuple[float, float, int]]:
    out = {}
    for rank, name in enumerate(CLASSES):
        w = sorted(((j.first_start if j.first_start is not None else horizon) - j.submit) / 60
                   for j in jobs if j.rank == rank)
        out[name] = (statistics.mean(w), w[int(0.95 * (len(w) - 1))], len(w)) if w else (0, 0, 0)
    return out


def big_pass(nodes: list[Node], policy: Policy, n_pending: int, seed: int) -> list[float]:
    """CPU time of single passes with ``n_pending`` tasks pending on a nearly full cluster."""
    rng = random.Random(seed)
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
    for _ in range(3):
        c0 = time.process_time()
        plan(Snapshot(nodes, running, pending, now=10_000.0), policy)
        times.append(time.process_time() - c0)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=1000)
    ap.add_argument("--hours", type=float, default=12)
    ap.add_argument("--tick", type=float, default=300)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--pending", type=int, default=10_000)
    args = ap.parse_args()
    nodes = [Node(f"n{i:04d}", 96, 8, "H100") for i in range(args.nodes)]
    total = args.nodes * 8
    names = ["nlp", "cv", "risk", "speech"]
    share = [0.3, 0.3, 0.2, 0.2]
    policy = Policy(teams={n: Team(n, 1.0, {"H100": FlavorQuota(total * s, borrowing_limit=total * 0.5)})
                           for n, s in zip(names, share)},
                    min_runtime_seconds=600, cooldown_seconds=1800, max_wait_seconds=4 * 3600)
    jobs = workload(args.seed, args.hours, total, names)
    print(f"workload: {len(jobs)} tasks over {args.hours:g} h on {args.nodes} nodes × 8 GPUs; "
          f"pass every {args.tick:g} s (simulated)")
    results = {}
    for label, planner in (("argus", plan), ("fifo", fifo)):
        copy = [Job(j.task_id, j.team, j.rank, j.demand, j.submit, j.duration) for j in jobs]
        c0 = time.process_time()
        results[label] = simulate(copy, nodes, planner, policy, args.hours, args.tick)
        results[label]["total_cpu"] = time.process_time() - c0
    horizon = args.hours * 3600
    print(f"\n{'':28}{'argus':>14}{'fifo':>14}{'argus/fifo':>12}")

    def row(name: str, a: float, b: float, fmt: str) -> None:
        ratio = f"{a / b:.2f}" if b else "-"
        print(f"{name:28}{fmt.format(a):>14}{fmt.format(b):>14}{ratio:>12}")

    def both(value) -> tuple[float, float]:  # noqa: ANN001
        return value("argus"), value("fifo")

    row("GPU utilisation", *both(lambda k: results[k]["util"]), "{:.1%}")
    w = {k: waits(results[k]["jobs"], horizon) for k in results}
    for name in CLASSES:
        row(f"wait {name} mean (min)", *both(lambda k, n=name: w[k][n][0]), "{:.0f}")
        row(f"wait {name} p95 (min)", *both(lambda k, n=name: w[k][n][1]), "{:.0f}")
    row("preemptions", *both(lambda k: results[k]["preemptions"]), "{:d}")
    row("max pending", *both(lambda k: results[k]["max_pending"]), "{:d}")
    row("planner CPU/pass mean (ms)", *both(lambda k: statistics.mean(results[k]["cpu"]) * 1e3), "{:.1f}")
    row("planner CPU/pass max (ms)", *both(lambda k: max(results[k]["cpu"]) * 1e3), "{:.1f}")
    times = big_pass(nodes, policy, args.pending, args.seed)
    print(f"\none pass, {args.pending} pending, {len(nodes) * 2} running on {args.nodes} nodes: "
          f"CPU {min(times) * 1e3:.0f} ms (best of 3), {max(times) * 1e3:.0f} ms (worst)")


if __name__ == "__main__":
    main()
