"""Planner rules: classes, quotas with borrowing and reclaim, fair share, preemption, starvation."""

from argus.scheduling.placement import Demand, Node
from argus.scheduling.planner import Admit, Pending, Preempt, Running, Snapshot, Wait, plan
from argus.scheduling.policy import FlavorQuota, Policy, Team

NOW = 100_000.0
REALTIME, ONLINE, BATCH = 0, 1, 2


def nodes(n, gpus=8, model="H100"):
    return [Node(f"n{i}", 64, gpus, model) for i in range(n)]


def run(task_id, node, gpus=8, rank=BATCH, team=None, started=NOW - 3600, nodes_=None, **kw):
    placement = tuple(nodes_ or (node,))
    return Running(task_id, placement, Demand(len(placement), 1, gpus, "H100"), rank, team, started, **kw)


def want(task_id, gpus=8, rank=BATCH, team=None, queued=NOW - 10, n=1):
    return Pending(task_id, rank, queued, Demand(n, 1, gpus, "H100"), team)


def teams(**quota):
    return {name: Team(name, 1.0, {"H100": q}) for name, q in quota.items()}


def kinds(decisions):
    out = {}
    for d in decisions:
        out.setdefault(getattr(d, "task_id", None) or d.preemptor_task_id, []).append(d)
    return out


def preempted(decisions):
    return sorted(d.victim_task_id for d in decisions if isinstance(d, Preempt))


def test_realtime_preempts_the_newest_batch_task_and_holds_the_room():
    snap = Snapshot(nodes(2), [run(1, "n0", started=NOW - 900), run(2, "n1", started=NOW - 600)],
                    [want(10, rank=REALTIME), want(11, rank=BATCH)], now=NOW)
    decisions = plan(snap)
    assert preempted(decisions) == [2]
    p = next(d for d in decisions if isinstance(d, Preempt))
    assert p.preemptor_task_id == 10 and "task 10" in p.reason
    waits = {d.task_id: d.reason for d in decisions if isinstance(d, Wait)}
    assert "preempting task(s) 2" in waits[10] and "60 s to save a checkpoint" in waits[10]
    assert not any(isinstance(d, Admit) for d in decisions)  # task 11 does not steal the freed node
    assert "behind 1 task(s) of higher priority" in waits[11]


def test_next_pass_waits_for_the_stopping_victim_instead_of_preempting_more():
    snap = Snapshot(nodes(2), [run(1, "n0"), run(2, "n1", preempting=True)],
                    [want(10, rank=REALTIME)], now=NOW)
    decisions = plan(snap)
    assert preempted(decisions) == []
    assert "waiting for 1 preempted task(s) to stop" in decisions[0].reason


def test_no_preemption_within_the_same_class():
    snap = Snapshot(nodes(1), [run(1, "n0", rank=ONLINE)], [want(10, rank=ONLINE)], now=NOW)
    decisions = plan(snap)
    assert preempted(decisions) == [] and isinstance(decisions[0], Wait)
    assert "needs 1 node with 8 free H100 each; 0 node(s) have that now" in decisions[0].reason


def test_realtime_is_never_preempted_and_batch_may_be_configured_not_to_preempt():
    snap = Snapshot(nodes(1), [run(1, "n0", rank=REALTIME)], [want(10, rank=REALTIME, queued=NOW)], now=NOW)
    assert preempted(plan(snap)) == []
    policy = Policy(classes=(Policy().classes[0], Policy().classes[1],
                             Policy().classes[2].__class__("batch", 2, 60, may_preempt=False)))
    snap = Snapshot(nodes(1), [run(1, "n0", rank=3)], [want(10, rank=BATCH)], now=NOW)
    assert preempted(plan(snap, policy)) == []
    assert preempted(plan(snap)) == [1]


def test_preempts_the_smallest_set_that_frees_a_placement():
    # n0: four newer 2-GPU tasks; n1: one older 8-GPU task -> one victim beats four
    running = [run(i, "n0", gpus=2, started=NOW - 100 - i) for i in range(1, 5)]
    running.append(run(9, "n1", gpus=8, started=NOW - 5000))
    snap = Snapshot(nodes(2), running, [want(10, rank=ONLINE)], now=NOW)
    assert preempted(plan(snap)) == [9]
    # a 2-GPU need takes only one of the small ones: the newest
    snap = Snapshot(nodes(2), running, [want(10, gpus=2, rank=ONLINE)], now=NOW)
    assert preempted(plan(snap)) == [1]


def test_gang_preemption_frees_two_whole_nodes_not_more():
    running = [run(i, f"n{i}", started=NOW - 1000 + i) for i in range(4)]
    snap = Snapshot(nodes(4), running, [want(10, rank=REALTIME, n=2)], now=NOW)
    assert preempted(plan(snap)) == [2, 3]  # the newest two


def test_minimum_runtime_and_cooldown_protect_victims_from_online_work():
    policy = Policy(min_runtime_seconds=120, cooldown_seconds=600)
    young = run(1, "n0", started=NOW - 30)
    snap = Snapshot(nodes(1), [young], [want(10, rank=ONLINE)], now=NOW)
    assert preempted(plan(snap, policy)) == []
    recent = run(1, "n0", started=NOW - 300, last_preempted_at=NOW - 400)
    snap = Snapshot(nodes(1), [recent], [want(10, rank=ONLINE)], now=NOW)
    assert preempted(plan(snap, policy)) == []
    old = run(1, "n0", started=NOW - 300, last_preempted_at=NOW - 4000)
    snap = Snapshot(nodes(1), [old], [want(10, rank=ONLINE)], now=NOW)
    assert preempted(plan(snap, policy)) == [1]


def test_realtime_preempts_a_victim_that_started_a_moment_ago():
    policy = Policy(min_runtime_seconds=120, cooldown_seconds=600)
    young = run(1, "n0", started=NOW - 1)
    snap = Snapshot(nodes(1), [young], [want(10, rank=REALTIME)], now=NOW)
    assert preempted(plan(snap, policy)) == [1]
    just_back = run(1, "n0", started=NOW - 1, last_preempted_at=NOW - 5)
    snap = Snapshot(nodes(1), [just_back], [want(10, rank=REALTIME)], now=NOW)
    assert preempted(plan(snap, policy)) == [1]


def test_realtime_prefers_victims_past_their_minimum_runtime():
    policy = Policy(min_runtime_seconds=120)
    # n0's task is the newest (preferred by age) but shielded; n1's is exposed: n1's goes
    snap = Snapshot(nodes(2), [run(1, "n0", started=NOW - 5), run(2, "n1", started=NOW - 600)],
                    [want(10, rank=REALTIME)], now=NOW)
    assert preempted(plan(snap, policy)) == [2]


def test_a_lender_reclaims_its_quota_from_a_borrower_that_just_started():
    policy = Policy(teams=teams(nlp=FlavorQuota(8), cv=FlavorQuota(8)), min_runtime_seconds=300,
                    cooldown_seconds=600)
    # nlp runs its own 8 on n0 and 8 borrowed from cv on n1, started 2 s ago
    running = [run(1, "n0", team="nlp", started=NOW - 900), run(2, "n1", team="nlp", started=NOW - 2)]
    snap = Snapshot(nodes(2), running, [want(10, team="cv")], now=NOW)
    assert preempted(plan(snap, policy)) == [2]


def test_online_work_takes_another_teams_batch_only_when_it_is_borrowed():
    """A team's work within its nominal quota is not taken by another team's online work (as in
    Kueue); its borrowed work is, at once when the claimant reclaims its own quota."""
    policy = Policy(teams=teams(nlp=FlavorQuota(8), cv=FlavorQuota(8)), min_runtime_seconds=300)
    for started in (NOW - 2, NOW - 900):
        snap = Snapshot(nodes(1), [run(1, "n0", team="nlp", started=started)],
                        [want(10, team="cv", rank=ONLINE)], now=NOW)
        assert preempted(plan(snap, policy)) == []
    # nlp runs 16 on nominal 8: its newest task is borrowed; cv reclaims it even a moment old
    running = [run(1, "n0", team="nlp", started=NOW - 900), run(2, "n1", team="nlp", started=NOW - 2)]
    snap = Snapshot(nodes(2), running, [want(10, team="cv", rank=ONLINE)], now=NOW)
    assert preempted(plan(snap, policy)) == [2]
    # realtime is urgent: it takes another team's within-quota batch task
    snap = Snapshot(nodes(1), [run(1, "n0", team="nlp", started=NOW - 2)],
                    [want(10, team="cv", rank=REALTIME)], now=NOW)
    assert preempted(plan(snap, policy)) == [1]


def test_a_young_task_is_shielded_from_its_own_teams_online_work():
    policy = Policy(teams=teams(cv=FlavorQuota(16)), min_runtime_seconds=300)
    for started, expected in ((NOW - 2, []), (NOW - 900, [2])):
        snap = Snapshot(nodes(1), [run(2, "n0", team="cv", started=started)],
                        [want(10, team="cv", rank=ONLINE)], now=NOW)
        assert preempted(plan(snap, policy)) == expected


def test_quota_without_borrowing_says_so():
    policy = Policy(teams=teams(nlp=FlavorQuota(16, borrowing_limit=0), cv=FlavorQuota(16)))
    snap = Snapshot(nodes(4), [run(1, "n0", team="nlp"), run(2, "n1", team="nlp")],
                    [want(10, team="nlp")], now=NOW)
    decision = plan(snap, policy)[0]
    assert decision.reason == "team nlp uses 16/16 H100 and may not borrow"


def test_borrow_idle_quota_then_owner_reclaims_by_preemption():
    policy = Policy(teams=teams(nlp=FlavorQuota(16, borrowing_limit=16), cv=FlavorQuota(16)))
    # nlp fills its 16 and borrows cv's idle 16
    pending = [want(i, team="nlp", queued=NOW - 100 + i) for i in range(1, 5)]
    decisions = plan(Snapshot(nodes(4), [], pending, now=NOW), policy)
    admits = [d for d in decisions if isinstance(d, Admit)]
    assert len(admits) == 4 and [a.borrowed for a in admits] == [False, False, True, True]
    # later cv (same class) wants its quota back: nlp's borrowed, newest task is preempted
    running = [run(a.task_id, a.placement[0], team="nlp", started=NOW - 1000 + a.task_id) for a in admits]
    snap = Snapshot(nodes(4), running, [want(20, team="cv")], now=NOW)
    assert preempted(plan(snap, policy)) == [4]


def test_no_reclaim_when_the_claimant_is_over_its_own_quota():
    policy = Policy(teams=teams(nlp=FlavorQuota(8), cv=FlavorQuota(8, borrowing_limit=8)))
    running = [run(1, "n0", team="cv"), run(2, "n1", team="nlp")]  # both within nominal
    snap = Snapshot(nodes(2), running, [want(20, team="cv")], now=NOW)
    decisions = plan(snap, policy)
    assert preempted(decisions) == []
    assert "other teams have 0 idle H100 to lend" in decisions[0].reason


def test_lending_limit_caps_what_others_may_borrow():
    policy = Policy(teams=teams(nlp=FlavorQuota(8), cv=FlavorQuota(24, lending_limit=8)))
    pending = [want(i, team="nlp", queued=NOW - 100 + i) for i in range(1, 4)]
    decisions = plan(Snapshot(nodes(4), [], pending, now=NOW), policy)
    assert [type(d).__name__ for d in decisions] == ["Admit", "Admit", "Wait"]
    assert "other teams have 0 idle H100 to lend" in decisions[2].reason


def test_fair_share_orders_a_class_and_charges_at_admission():
    pending = [want(1, team="heavy", queued=NOW - 50), want(2, team="heavy", queued=NOW - 40),
               want(3, team="light", queued=NOW - 10), want(4, team="light", queued=NOW - 5)]
    snap = Snapshot(nodes(2), [], pending, now=NOW, usage={"heavy": 4.0, "light": 0.0})
    admitted = [d.task_id for d in plan(snap, Policy(age_weight=0)) if isinstance(d, Admit)]
    assert admitted == [3, 1]  # light first, then the charge of 8 GPUs lets heavy's turn come
    snap = Snapshot(nodes(2), [], pending, now=NOW, usage={})
    admitted = [d.task_id for d in plan(snap, Policy(age_weight=0)) if isinstance(d, Admit)]
    assert admitted == [1, 3]  # equal usage: the burst of team heavy is charged at once


def test_weight_scales_the_share():
    pending = [want(1, team="a", queued=NOW - 50), want(2, team="b", queued=NOW - 10)]
    policy = Policy(age_weight=0, teams={"a": Team("a", 1.0), "b": Team("b", 4.0)})
    snap = Snapshot(nodes(1), [], pending, now=NOW, usage={"a": 10.0, "b": 30.0})
    assert [d.task_id for d in plan(snap, policy) if isinstance(d, Admit)] == [2]


def test_starvation_bound_holds_nodes_for_a_task_waiting_past_the_maximum():
    policy = Policy(max_wait_seconds=3600)
    old_gang = want(1, gpus=8, rank=BATCH, queued=NOW - 7200)
    small = [want(i, gpus=2, rank=ONLINE, queued=NOW - 5) for i in range(2, 6)]
    snap = Snapshot(nodes(1), [run(9, "n0", gpus=2, rank=ONLINE)], [old_gang, *small], now=NOW)
    decisions = plan(snap, policy)
    assert not any(isinstance(d, Admit) for d in decisions)  # the node drains for task 1
    assert "nodes are held for it" in next(d.reason for d in decisions if d.task_id == 1)
    snap = Snapshot(nodes(1), [run(9, "n0", gpus=2, rank=ONLINE)], [old_gang, *small], now=NOW)
    assert sum(isinstance(d, Admit) for d in plan(snap)) == 3  # without the bound it starves


def test_flavor_aware_placement_and_quota():
    mixed = nodes(1, model="A100") + [Node("h0", 64, 8, "H100")]
    snap = Snapshot(mixed, [], [Pending(1, 2, NOW, Demand(1, 1, 8, "A100")),
                                Pending(2, 2, NOW, Demand(1, 1, 8, "H100"))], now=NOW)
    placements = {d.task_id: d.placement for d in plan(snap)}
    assert placements == {1: ("n0",), 2: ("h0",)}
