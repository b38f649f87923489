from argus.scheduling.planner import Admit, Demand, Node, Pending, Running, Snapshot, Wait, plan


def nodes(n, gpus=8, cpus=16, model="H100"):
    return [Node(f"n{i}", cpus, gpus, model) for i in range(n)]


def pending(task_id, rank=2, t=0.0, **demand):
    return Pending(task_id, rank, t, Demand(**demand))


def by_id(decisions):
    return {d.task_id: d for d in decisions}


def test_gang_admission_needs_distinct_nodes_with_room_on_each():
    snap = Snapshot(nodes(2), [Running(9, ("n0",), Demand(1, 1, 6, "H100"))],
                    [pending(1, nodes=2, gpus=4, gpu_model="H100")])
    decision = plan(snap)[0]
    assert isinstance(decision, Wait)
    assert decision.reason.startswith("needs 2 nodes with 4 free H100 each")
    assert "the most free on any node is 8" in decision.reason
    snap = Snapshot(nodes(3), snap.running, snap.pending)
    decision = plan(snap)[0]
    assert isinstance(decision, Admit) and len(set(decision.placement)) == 2
    assert "n0" not in decision.placement


def test_priority_then_age_and_no_double_booking():
    snap = Snapshot(nodes(1), [], [
        pending(1, rank=2, t=1.0, nodes=1, gpus=8),
        pending(2, rank=0, t=5.0, nodes=1, gpus=8),
        pending(3, rank=2, t=0.5, nodes=1, gpus=8),
    ])
    result = by_id(plan(snap))
    assert isinstance(result[2], Admit)
    assert isinstance(result[1], Wait) and isinstance(result[3], Wait)


def test_larger_than_the_cluster_says_so():
    snap = Snapshot(nodes(2), [], [pending(1, nodes=4, gpus=8, gpu_model="H100")])
    reason = plan(snap)[0].reason
    assert "larger than the cluster" in reason and "2 node(s) that big" in reason


def test_gpu_model_must_match():
    snap = Snapshot(nodes(2, model="A100"), [], [pending(1, nodes=1, gpus=1, gpu_model="H100")])
    assert isinstance(plan(snap)[0], Wait)
    snap = Snapshot(nodes(2, model="A100"), [], [pending(1, nodes=1, gpus=1, gpu_model="A100")])
    assert isinstance(plan(snap)[0], Admit)


def test_best_fit_keeps_whole_nodes_open_for_gangs():
    snap = Snapshot(nodes(2), [Running(9, ("n1",), Demand(1, 1, 4))],
                    [pending(1, nodes=1, gpus=4), pending(2, t=1, nodes=1, gpus=8)])
    result = by_id(plan(snap))
    assert result[1].placement == ("n1",)
    assert result[2].placement == ("n0",)


def test_no_nodes_and_unreachable_cluster_reasons():
    assert "none has joined" in plan(Snapshot([], [], [pending(1)]))[0].reason
    snap = Snapshot(nodes(1), [], [pending(1)], cluster_reachable=False)
    assert "unreachable" in plan(snap)[0].reason


def test_dead_nodes_do_not_count():
    snap = Snapshot([Node("n0", 4, 0, alive=False)], [], [pending(1, cpus=1)])
    assert isinstance(plan(snap)[0], Wait)
