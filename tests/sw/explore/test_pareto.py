"""The Pareto front against its naive definition, on random points with ties,
missing values and points that were not measured whole."""

import numpy as np
import pytest

from sw.explore.pareto import front


def naive(points, cost):
    """On the front: measured whole, and no other such point at least as good
    on both with one strictly better. Checked pair by pair."""
    ok = [p for p in points if p["status"] == "ok" and p[cost] is not None]
    return {p["id"] for p in ok
            if not any(q["accuracy"] >= p["accuracy"] and q[cost] <= p[cost] and
                       (q["accuracy"] > p["accuracy"] or q[cost] < p[cost]) for q in ok)}


@pytest.mark.parametrize("seed", range(200))
def test_front_is_the_naive_front(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 40))
    # Few distinct values, so ties on either axis and on both are common.
    points = [{"id": i, "accuracy": float(rng.integers(0, 6)) / 5,
               "luts": None if rng.random() < 0.1 else int(rng.integers(0, 8)),
               "status": "ok" if rng.random() < 0.8 else
               str(rng.choice(["does not fit", "fails timing", "failed"]))}
              for i in range(n)]
    ids = front(points, "luts")
    assert len(ids) == len(set(ids)) and set(ids) == naive(points, "luts")
    costs = [points[i]["luts"] for i in ids]
    assert costs == sorted(costs)


def test_front_of_a_known_set():
    points = [{"id": i, "accuracy": a, "luts": c, "status": "ok"}
              for i, (a, c) in enumerate([(0.9, 100), (0.95, 200), (0.9, 150), (0.95, 200),
                                          (0.8, 50), (0.99, 400), (0.97, 400)])]
    assert front(points, "luts") == [4, 0, 1, 3, 5]
