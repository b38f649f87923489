"""The planner's shortcuts give the same answers as the plain way (seeded random cases).

* ``FreeMap.place`` takes the best-fit nodes per bucket with a partial sort: it must equal the
  first ``nodes`` of ``candidates`` (the fully sorted order).
* ``choose`` with ``largest_gpus`` stops streaming victims once enough nodes fit with the fewest
  victims any node can need: it must choose exactly what the full stream chooses.
"""

import random
from dataclasses import dataclass

import pytest

from argus.scheduling.placement import Demand, FreeMap, Node
from argus.scheduling.preempt import choose, fewest_victims


@dataclass(frozen=True)
class V:
    task_id: int
    placement: tuple[str, ...]
    demand: Demand
    rank: int = 2
    team: str | None = None
    started_at: float = 0.0
    last_preempted_at: float | None = None


def cluster(rng: random.Random, n_nodes: int):
    nodes = [Node(f"n{i:03d}", 32, 8, rng.choice(["H100", "H100", "A100"])) for i in range(n_nodes)]
    victims, used, tid = [], [], 0
    for node in nodes:
        left = 8
        while left > 0 and rng.random() < 0.8:
            gpus = rng.choice([g for g in (1, 2, 3, 4, 8) if g <= left])
            tid += 1
            victims.append(V(tid, (node.node_id,), Demand(1, rng.choice([1, 2, 4]), gpus, node.gpu_model)))
            left -= gpus
    for _ in range(n_nodes // 8):  # a few gangs across two nodes
        a, b = rng.sample(nodes, 2)
        tid += 1
        victims.append(V(tid, (a.node_id, b.node_id), Demand(2, 1, 1, None)))
    used = [(v.placement, v.demand) for v in victims]
    return nodes, victims, FreeMap.build(nodes, used)


@pytest.mark.parametrize("seed", range(40))
def test_place_is_the_head_of_the_sorted_candidates(seed):
    rng = random.Random(seed)
    nodes, victims, free = cluster(rng, rng.randint(5, 60))
    for _ in range(30):
        demand = Demand(rng.choice([1, 1, 2, 3]), rng.choice([1, 4]), rng.choice([0, 1, 2, 4, 8]),
                        rng.choice(["H100", "A100", None]))
        head = list(free.candidates(demand))[:demand.nodes]
        expected = tuple(head) if len(head) == demand.nodes else None
        assert free.place(demand) == expected


@pytest.mark.parametrize("seed", range(60))
def test_choose_with_a_size_bound_chooses_what_the_full_stream_chooses(seed):
    rng = random.Random(seed)
    nodes, victims, free = cluster(rng, rng.randint(4, 40))
    rng.shuffle(victims)  # any preference order
    largest = max(v.demand.gpus for v in victims)
    for _ in range(20):
        demand = Demand(rng.choice([1, 1, 2]), rng.choice([1, 2]), rng.choice([1, 2, 4, 6, 8]), "H100")
        plain, bounded = free.copy(), free.copy()
        expected = [v.task_id for v in choose(demand, plain, iter(victims))]
        got = [v.task_id for v in choose(demand, bounded, iter(victims), largest)]
        assert got == expected
        assert plain.gpus == bounded.gpus


def test_fewest_victims_is_a_lower_bound():
    free = FreeMap.build([Node("a", 8, 8, "H100")], [(("a",), Demand(1, 1, 7, "H100"))])
    assert fewest_victims(Demand(1, 1, 8, "H100"), free, largest_gpus=4) == 2  # 1 free + 4 + 4
    assert fewest_victims(Demand(1, 1, 8, "H100"), free, largest_gpus=None) == 1
    assert fewest_victims(Demand(1, 1, 0, None), free, largest_gpus=4) == 1
