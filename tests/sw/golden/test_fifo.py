"""The plain-FIFO model on cases worked out by hand, and the balance bound."""

import numpy as np
import pytest

from sw.formats.csc import EieLayer
from sw.golden.fifo import balance_bound, column_work, fifo_cycles


def test_one_pe_runs_one_column_a_cycle_at_depth_1():
    # t0 broadcast c0; t1 pop c0, broadcast c1, work; t2 pop c1, broadcast c2,
    # work; t3 pop c2, work: 3 working cycles in the window t1..t3.
    r = fifo_cycles([[1, 1, 1]], 1)
    assert r == {"cycles": 4, "working_cycles": 3, "window_cycles": 3,
                 "load_balance_efficiency": 1.0}


def test_depth_1_blocks_a_broadcast_while_a_busy_pe_holds_one():
    # PE0 [3, 1, 1], PE1 [1, 1, 3]. t0 broadcast c0. t1 both pop c0, broadcast
    # c1; work (PE0 2 left). t2 PE1 pops c1, PE0 still holds c1: no broadcast;
    # work (PE0 1 left). t3 PE0 works its last; PE1 idle. t4 PE0 pops c1,
    # broadcast c2; PE0 works. t5 both pop c2 (PE1 3 cycles); both work.
    # t6, t7 PE1 works. Working 2 + 2 + 1 + 1 + 2 + 1 + 1 = 10 in t1..t7.
    r = fifo_cycles([[3, 1, 1], [1, 1, 3]], 1)
    assert r == {"cycles": 8, "working_cycles": 10, "window_cycles": 7,
                 "load_balance_efficiency": 10 / 14}


def test_depth_2_absorbs_the_same_imbalance():
    # t0 broadcast c0. t1 both pop c0, broadcast c1; work. t2 PE1 pops c1;
    # PE0 holds c1 (1 < 2): broadcast c2; work. t3 PE1 pops c2 (3 cycles),
    # PE0 works its last of c0. t4 PE0 pops c1; both work. t5 PE0 pops c2;
    # both work their last: 10 working cycles in t1..t5, no bubble.
    r = fifo_cycles([[3, 1, 1], [1, 1, 3]], 2)
    assert r == {"cycles": 6, "working_cycles": 10, "window_cycles": 5,
                 "load_balance_efficiency": 1.0}


def test_an_empty_column_costs_nothing():
    # One PE, entries [2, 0, 2]: all three broadcast. Depth 2: t0 broadcast
    # c0. t1 pop c0, work 1/2; broadcast c1. t2 work 2/2; broadcast c2 (the
    # FIFO holds c1). t3 pop c1, empty: dropped, pop c2, work 1/2. t4 work
    # 2/2. 4 working cycles in t1..t4.
    eie = EieLayer(rows=4, cols=3, pes=1, z_bits=4, v=[np.array([5, 6, 7, 8])],
                   z=[np.zeros(4)], ptr=np.array([[0, 2, 2, 4]]))
    work = column_work(eie, [3, 1, 7])
    assert work.tolist() == [[2, 0, 2]]
    assert fifo_cycles(work, 2) == {"cycles": 5, "working_cycles": 4, "window_cycles": 4,
                                    "load_balance_efficiency": 1.0}


def test_queue_depth_below_1_is_refused():
    with pytest.raises(ValueError, match="queue depth must be >= 1"):
        fifo_cycles([[1]], 0)


def test_balance_bound_by_hand():
    # PE work 4 and 2: perfect balance 3 cycles, the busiest PE 4.
    assert balance_bound([[3, 1], [1, 1]]) == 0.75
    assert balance_bound([[3, 1, 1], [1, 1, 3]]) == 1.0


@pytest.mark.parametrize("seed", range(5))
def test_balance_bound_against_its_definition(seed):
    rng = np.random.default_rng(seed)
    work = rng.integers(1, 9, size=(int(rng.integers(1, 9)), int(rng.integers(1, 30))))
    totals = [sum(int(w) for w in row) for row in work]
    perfect = sum(totals) / len(totals)
    assert balance_bound(work) == pytest.approx(perfect / max(totals))


@pytest.mark.parametrize("seed", range(5))
def test_a_queue_deep_enough_reaches_the_bound(seed):
    # With every column queued up front no PE waits: the window is the
    # busiest PE's work, and efficiency is the bound.
    rng = np.random.default_rng(seed)
    work = rng.integers(1, 9, size=(4, 20))
    assert fifo_cycles(work, 20)["load_balance_efficiency"] == pytest.approx(
        balance_bound(work))
