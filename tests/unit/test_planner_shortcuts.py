"""The planner pass's indexes give the answers of the plain way (seeded random cases).

* ``FreeMap`` keeps each free-GPU bucket sorted: its candidates, count and most-free figure must
  equal a plain scan of every node, after any sequence of takes and gives.
* ``_Pass.decide`` gives a task the wait the last task of its team, shape and class got while
  the pass's state has not changed since.
* ``_Pass.place_now`` remembers shapes that no longer fit (free room only shrinks in a pass);
  ``place_soon`` retries a failed shape only when nodes that gained room since could make it fit.
* ``VictimIndex`` filters each preemptor kind's victims once (one check per kind of victim,
  equal pools shared), remembers hopeless searches (re-checked only on nodes that gained room)
  and reads deep searches node by node: whole passes — also on full clusters where whole-node
  shapes need two victims or more — must decide exactly what a pass that streams the plain
  filter and searches every time decides.
* ``_Pass.waiting`` keeps the count of waiting tasks of a higher class per class; the plain pass
  counts afresh for every task.
* ``order`` takes the best team head from a heap: the same order as scoring every team afresh at
  every step, charges included.
"""

import math
import random

import pytest

from argus.scheduling import planner as planner_module
from argus.scheduling import victims as victims_module
from argus.scheduling.placement import EPS, Demand, FreeMap, Node
from argus.scheduling.planner import Pending, Running, Snapshot, Wait, plan
from argus.scheduling.policy import FlavorQuota, Policy, Team
from argus.scheduling.preempt import eligible, pierces_shield, search

MODELS = ["H100", "H100", "A100"]


def plain_candidates(free: FreeMap, demand: Demand) -> list[str]:
    fitting = [n for n in free.cpus if free.fits(n, demand)
               and math.floor(free.gpus[n] + EPS) >= (math.floor(demand.gpus + EPS) if demand.gpus else -1)]
    return sorted(fitting, key=lambda n: (max(-1, math.floor(free.gpus[n] + EPS)), free.gpus[n], free.cpus[n], n))


@pytest.mark.parametrize("seed", range(40))
def test_sorted_buckets_answer_as_a_scan_of_every_node(seed):
    rng = random.Random(seed)
    nodes = [Node(f"n{i:03d}", rng.choice([16, 32]), rng.choice([4, 8]), rng.choice(MODELS), rng.random() > 0.05)
             for i in range(rng.randint(3, 50))]
    free = FreeMap.build(nodes)
    held: list[tuple[tuple[str, ...], Demand]] = []
    for _ in range(120):
        demand = Demand(rng.choice([1, 1, 2, 3]), rng.choice([1, 4]), rng.choice([0, 0.5, 1, 2, 4, 8]),
                        rng.choice(["H100", "A100", None]))
        expected = plain_candidates(free, demand)
        assert list(free.candidates(demand)) == expected
        assert free.count_fitting(demand) == len(expected)
        assert free.count_fitting(demand, stop=2) == min(2, len(expected))
        assert free.place(demand) == (tuple(expected[:demand.nodes]) if len(expected) >= demand.nodes else None)
        models = [demand.gpu_model] if demand.gpu_model and demand.gpus else list({*free.model.values()})
        gpus = [free.gpus[n] for n in free.cpus if free.model[n] in models and free.gpus[n] + EPS >= 0]
        assert free.most_free(demand) == pytest.approx(max([g for g in gpus if math.floor(g + EPS) >= 0]
                                                            or [0.0]) if gpus else 0.0)
        if held and rng.random() < 0.4:
            free.give(*held.pop(rng.randrange(len(held))))
        elif (placement := free.place(demand)) is not None:
            free.take(placement, demand)
            held.append((placement, demand))
    copy = free.copy()
    assert copy.cpus == free.cpus and list(copy.candidates(Demand(1, 0, 0))) == list(free.candidates(Demand(1, 0, 0)))


def plain_pool(index, key):
    """The victim stream before the index: every candidate, filtered for each search."""
    rank, team, urgent, reclaim = key
    for r in index.exposed:
        if r.task_id in index.candidates and (r.rank > rank or (reclaim and r.rank == rank)) \
                and eligible(r, rank=rank, team=team, reclaim=reclaim, borrowed=r.task_id in index.borrowed,
                             urgent=urgent):
            yield r
    if not (urgent or reclaim):
        return
    for r in index.shielded:
        lent = r.task_id in index.borrowed
        if r.task_id in index.candidates and (r.rank > rank or (reclaim and r.rank == rank)) \
                and eligible(r, rank=rank, team=team, reclaim=reclaim, borrowed=lent, urgent=urgent) \
                and pierces_shield(r, urgent=urgent, team=team, reclaim=reclaim, borrowed=lent):
            yield r


def random_pass(rng: random.Random):
    n_nodes = rng.randint(4, 40)
    nodes = [Node(f"n{i:03d}", 32, 8, rng.choice(MODELS)) for i in range(n_nodes)]
    teams = ["a", "b", "c"]
    total = {m: 8 * sum(1 for n in nodes if n.gpu_model == m) for m in ("H100", "A100")}
    policy = Policy(teams={t: Team(t, rng.choice([1.0, 2.0]), {m: FlavorQuota(total[m] * rng.choice([0.2, 0.34, 0.5]))
                                                                 for m in total}) for t in teams},
                    min_runtime_seconds=rng.choice([0, 600]), cooldown_seconds=rng.choice([0, 900]),
                    max_wait_seconds=rng.choice([0, 3000]))
    running, tid = [], 0
    for node in nodes:
        left = 8
        while left > 0 and rng.random() < 0.85:
            gpus = rng.choice([g for g in (1, 2, 3, 4, 8) if g <= left])
            tid += 1
            running.append(Running(tid, (node.node_id,), Demand(1, 1, gpus, node.gpu_model),
                                   rng.choice([0, 1, 1, 2, 2, 2]), rng.choice(teams), rng.uniform(0, 5000),
                                   rng.random() < 0.05, rng.choice([None, None, 4500.0])))
            left -= gpus
    pending = [Pending(1000 + k, rng.choices([0, 1, 2], [1, 3, 6])[0], rng.uniform(0, 5000),
                       Demand(rng.choice([1, 1, 1, 2, 3]), 1, rng.choice([1, 2, 3, 4, 5, 6, 8]),
                              rng.choice(MODELS)), rng.choice(teams))
               for k in range(rng.randint(5, 300))]
    usage = {t: rng.uniform(0, 100) for t in teams}
    return Snapshot(nodes, running, pending, now=5000.0, usage=usage), policy


def plain_waiting(self, p, reason):
    """A task's wait, counting the tasks of a higher class left waiting afresh."""
    higher = sum(n for rank, n in self.waiting_by_rank.items() if rank < p.priority_rank)
    self.waiting_by_rank[p.priority_rank] += 1
    if higher and "preempting" not in reason:
        reason = f"{reason}; behind {higher} task(s) of higher priority"
    return Wait(p.task_id, reason)


def plain_plan(snapshot, policy, monkeypatch):
    """The pass with every shortcut off: the plain victim filter streamed for every search, no
    remembered failures or waits, no deep search by node, the waits behind a higher class
    counted afresh for every task."""
    with monkeypatch.context() as m:
        m.setattr(planner_module._Pass, "waiting", plain_waiting)
        m.setattr(victims_module.VictimIndex, "hopeless", lambda self, key, demand, free: False)
        m.setattr(victims_module.VictimIndex, "pool", plain_pool)
        m.setattr(victims_module.VictimIndex, "none_for", lambda self, key: next(plain_pool(self, key), None) is None)
        m.setattr(victims_module.VictimIndex, "search",
                  lambda self, key, demand, free: search(demand, free, self.pool(key), self.largest))
        m.setattr(planner_module._Pass, "repeat", lambda self, memo: None)
        m.setattr(planner_module._Pass, "place_now", lambda self, d: self.free.place(d))
        m.setattr(planner_module._Pass, "place_soon", lambda self, d: self.soon.place(d))
        return plan(snapshot, policy)


@pytest.mark.parametrize("seed", range(60))
def test_a_pass_with_the_victim_index_decides_as_the_plain_search(seed, monkeypatch):
    snapshot, policy = random_pass(random.Random(seed))
    assert plan(snapshot, policy) == plain_plan(snapshot, policy, monkeypatch)


def deep_pass(rng: random.Random):
    """Nodes full of small tasks (and a few two-node gangs), whole-node shapes pending: no node
    fits with fewer than two victims, so searches go deep."""
    nodes = [Node(f"n{i:03d}", 32, 8, rng.choice(MODELS)) for i in range(rng.randint(4, 40))]
    teams = ["a", "b", "c"]
    policy = Policy(teams={t: Team(t, 1.0, {m: FlavorQuota(rng.choice([8, 40, 200])) for m in ("H100", "A100")})
                           for t in teams},
                    min_runtime_seconds=rng.choice([0, 600]), cooldown_seconds=rng.choice([0, 900]),
                    max_wait_seconds=rng.choice([0, 3000]))
    left = {n.node_id: 8 for n in nodes}
    running, tid = [], 0

    def add(placement, gpus, model):
        nonlocal tid
        tid += 1
        running.append(Running(tid, placement, Demand(len(placement), 1, gpus, model), rng.choice([1, 2, 2]),
                               rng.choice(teams), rng.uniform(0, 5000), rng.random() < 0.05,
                               rng.choice([None, None, 4500.0])))
        for node_id in placement:
            left[node_id] -= gpus

    for _ in range(len(nodes) // 4):
        a, b = rng.sample(nodes, 2)
        if a.gpu_model == b.gpu_model:
            add((a.node_id, b.node_id), rng.choice([1, 2]), a.gpu_model)
    for node in nodes:
        while left[node.node_id] > rng.choice([0, 1]):
            add((node.node_id,), rng.choice([g for g in (1, 2, 3, 4) if g <= left[node.node_id]]), node.gpu_model)
    pending = [Pending(1000 + k, rng.choices([0, 1, 2], [2, 3, 5])[0], rng.uniform(0, 5000),
                       Demand(rng.choice([1, 1, 2, 3]), 1, rng.choice([8, 8, 7, 6, 5, 4, 2]), rng.choice(MODELS)),
                       rng.choice(teams))
               for k in range(rng.randint(5, 200))]
    return Snapshot(nodes, running, pending, now=5000.0, usage={t: rng.uniform(0, 100) for t in teams}), policy


@pytest.mark.parametrize("seed", range(60))
def test_a_pass_with_deep_searches_by_node_decides_as_the_plain_search(seed, monkeypatch):
    snapshot, policy = deep_pass(random.Random(seed))
    assert plan(snapshot, policy) == plain_plan(snapshot, policy, monkeypatch)


def test_the_deep_passes_search_by_node(monkeypatch):
    """The comparison above means something only if deep searches choose by node, some of them
    with nodes that need more than the fewest victims, and some find too few nodes."""
    chose = more = too_few = 0
    real = victims_module.VictimIndex._by_node

    def counting(self, key, demand, free, least, wanted):
        nonlocal chose, more, too_few
        out = real(self, key, demand, free, least, wanted)
        assert out is not None
        chose += bool(out[0])
        more += any(len(need) > least for need in out[0])
        too_few += not out[0]
        return out

    monkeypatch.setattr(victims_module.VictimIndex, "_by_node", counting)
    preempts = 0
    for seed in range(60):
        snapshot, policy = deep_pass(random.Random(seed))
        preempts += sum(1 for d in plan(snapshot, policy) if type(d).__name__ == "Preempt")
    assert chose > 150 and more > 100 and too_few > 500 and preempts > 1000


@pytest.mark.parametrize("seed", range(20))
def test_pools_filtered_by_victim_kind_are_the_plain_filter(seed):
    """A pool is built from one check per kind of victim (class, team, borrowed, shielded); keys
    whose pools are equal share one list."""
    snapshot, policy = deep_pass(random.Random(seed))
    state = planner_module._Pass(snapshot, policy)
    index = state.victims
    keys = [(rank, team, urgent, reclaim) for rank in range(3) for team in ("a", "b", "c", None)
            for urgent in (False, True) for reclaim in (False, True)]
    for key in keys:
        assert list(index.pool(key)) == list(plain_pool(index, key))
        assert index.none_for(key) == (not list(plain_pool(index, key)))
    for k1 in keys:
        for k2 in keys:
            assert (index.pools[k1] is index.pools[k2]) == (index.pools[k1] == index.pools[k2])


def reference_order(pending, fs, now, charge):
    """Each step: the team whose head has the best fair-share + age priority (ties: the oldest
    head), scored afresh; ``charge(task)`` may charge fair share after each."""
    queues = {}
    for p in sorted(pending, key=lambda p: (p.queued_at, p.task_id)):
        queues.setdefault(p.team or "", []).append(p)
    out = []
    while queues:
        def score(t):
            head = queues[t][0]
            age = min(max(now - head.queued_at, 0.0) / fs.age_cap, 1.0) if fs.age_cap > 0 else 0.0
            return fs.fs_weight * fs.factor(t or None) + fs.age_weight * age, -head.queued_at, -head.task_id
        team = max(queues, key=score)
        out.append(queues[team].pop(0))
        if not queues[team]:
            del queues[team]
        charge(out[-1])
    return out


@pytest.mark.parametrize("seed", range(20))
def test_fair_share_order_is_the_order_scored_afresh_at_every_step(seed):
    rng = random.Random(seed)
    teams = ["a", "b", "c", None]
    pending = [Pending(k, 1, rng.choice([rng.uniform(0, 9000), 100.0]), Demand(1, 1, rng.choice([1, 8])),
                       rng.choice(teams)) for k in range(rng.randint(1, 300))]
    policy = Policy(teams={t: Team(t, rng.choice([1.0, 2.0])) for t in ("a", "b")},
                    age_cap_seconds=rng.choice([0, 600, 3600]), max_wait_seconds=0)
    snapshot = Snapshot([], [], pending, now=10_000.0, usage={t: rng.uniform(0, 50) for t in ("a", "b", "c")})
    charged = {p.task_id for p in pending if rng.random() < 0.1}

    fs = planner_module.fair_share(snapshot, policy)
    fast = []
    for p in planner_module.order(pending, policy, fs, 10_000.0):
        fast.append(p)
        if p.task_id in charged:
            fs.charge(p.team, p.demand)
    fs = planner_module.fair_share(snapshot, policy)
    plain = reference_order(pending, fs, 10_000.0,
                            lambda p: fs.charge(p.team, p.demand) if p.task_id in charged else None)
    assert [p.task_id for p in fast] == [p.task_id for p in plain]


def test_the_random_passes_exercise_remembered_failures(monkeypatch):
    """The comparison above means something only if hopeless searches are skipped and preemptions
    happen after them in the same pass."""
    skipped = rechecked = 0
    real = victims_module.VictimIndex.hopeless

    def counting(self, key, demand, free):
        nonlocal skipped, rechecked
        rechecked += (demand, key) in self.failed and len(self.grown) > self.failed[(demand, key)][0]
        out = real(self, key, demand, free)
        skipped += out
        return out

    monkeypatch.setattr(victims_module.VictimIndex, "hopeless", counting)
    preempts = 0
    for seed in range(60):
        snapshot, policy = random_pass(random.Random(seed))
        preempts += sum(1 for d in plan(snapshot, policy) if type(d).__name__ == "Preempt")
    assert skipped > 100 and rechecked > 20 and preempts > 50


def test_a_remembered_failure_is_searched_again_once_a_node_gains_room():
    """Team a's online task cannot take team b's batch work, so its search fails; team b's task
    then stops that work for 3 of its 6 GPUs, and team a's next task of the same shape now fits
    by stopping team a's own batch task beside it."""
    nodes = [Node("n0", 32, 8, "H100")]
    running = [Running(1, ("n0",), Demand(1, 1, 2, "H100"), 2, "a", 100.0),
               Running(2, ("n0",), Demand(1, 1, 6, "H100"), 2, "b", 100.0)]
    pending = [Pending(11, 1, 100.0, Demand(1, 1, 4, "H100"), "a"),
               Pending(12, 1, 200.0, Demand(1, 1, 3, "H100"), "b"),
               Pending(13, 1, 300.0, Demand(1, 1, 4, "H100"), "a")]
    decisions = plan(Snapshot(nodes, running, pending, now=5000.0), Policy(min_runtime_seconds=0))
    preempted = [(d.victim_task_id, d.preemptor_task_id) for d in decisions if type(d).__name__ == "Preempt"]
    assert preempted == [(2, 12), (1, 13)]


def test_a_shape_that_did_not_fit_soon_fits_once_a_preemption_leaves_room_over():
    """Team a's task finds no room and may stop nothing; team b's task stops 6 GPUs of its own
    batch work for 4, and team a's next task of the first one's shape takes the 2 left over."""
    nodes = [Node("n0", 32, 8, "H100")]
    running = [Running(1, ("n0",), Demand(1, 1, 6, "H100"), 2, "b", 100.0),
               Running(2, ("n0",), Demand(1, 1, 2, "H100"), 2, "b", 200.0)]
    pending = [Pending(11, 1, 100.0, Demand(1, 1, 2, "H100"), "a"),
               Pending(12, 1, 200.0, Demand(1, 1, 4, "H100"), "b"),
               Pending(13, 1, 300.0, Demand(1, 1, 2, "H100"), "a")]
    decisions = plan(Snapshot(nodes, running, pending, now=5000.0), Policy(min_runtime_seconds=0))
    assert [(d.victim_task_id, d.preemptor_task_id) for d in decisions if type(d).__name__ == "Preempt"] == [(1, 12)]
    last = decisions[-1]
    assert last.task_id == 13 and last.reason.startswith("waiting for 1 preempted task(s) to stop")
