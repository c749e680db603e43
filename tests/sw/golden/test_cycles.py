"""The cycle model on layers whose timing follows from its description alone."""

import numpy as np
import pytest

from sw.formats.synthetic import one_entry_per_column_model
from sw.golden.cycles import fetch_figures, layer_cycles, pe_figures


@pytest.mark.parametrize("queue_depth", [1, 2, 8])
@pytest.mark.parametrize("pes", [1, 4, 8])
def test_one_column_a_cycle_at_every_depth(queue_depth, pes):
    # Every PE has one entry in every column and every activation is
    # non-zero, so once the pipeline is full each PE takes a column a cycle,
    # and a queue of any depth must not slow the broadcasts below that.
    cols = 48
    layer = one_entry_per_column_model(1, pes, cols).layers[0]
    assert (layer.eie.entries() == 1).all()
    pe, fetch = pe_figures(), fetch_figures()
    # From the pipeline the cycle model describes: START, FIRST, PICK, then
    # SCAN reads the first word in cycle 3, the broadcaster takes it when it
    # can be taken and sends its first non-zero the cycle after; then one
    # broadcast a cycle. A broadcast is popped `queue` cycles later, spends
    # `pointer_stages` cycles in the pointer stages, and its entry issues the
    # cycle after the entry stage takes it; the last entry is in flight for
    # `in_flight` cycles, the PE is empty the cycle after, and DRAIN sees
    # its idle register then (raised as the last entry accumulates).
    first_broadcast = 3 + fetch["latency"] + 1
    first_issue = first_broadcast + pe["queue"] + pe["pointer_stages"] + 1
    last_issue = first_issue + cols - 1
    drain_ends = last_issue + pe["in_flight"] + 1
    r = layer_cycles(layer, np.arange(1, cols + 1), queue_depth)
    assert r["compute_cycles"] == drain_ends + 1
    assert r["window_cycles"] == cols and r["working_cycles"] == pes * cols
    assert r["load_balance_efficiency"] == 1.0


@pytest.mark.parametrize("queue_depth", [1, 8])
def test_phases_sum_to_the_cycles(queue_depth):
    # Random layers with empty columns and padding entries (100 rows on 4
    # PEs: a long zero run), and an all-zero input vector.
    from sw.formats.synthetic import random_inputs, random_model
    from sw.golden.eie import infer
    model = random_model(3, [40, 100, 10], 4, density=0.2)
    x = random_inputs(4, 3, 40)
    _, acts = infer(model, x, trace=True)
    for layer, a in zip(model.layers, acts):
        for vector in a:
            r = layer_cycles(layer, vector, queue_depth)
            assert (r["start_cycles"] + r["window_cycles"] + r["drain_cycles"]
                    + r["writeback_cycles"]) == r["cycles"]
            assert (r["useful_macs"] + r["padding_issues"]
                    + r["starvation_cycles"]) == layer.eie.pes * r["window_cycles"]


def test_an_empty_column_costs_the_entry_stage_no_cycle():
    # 4 PEs, 8 rows (2 a PE), 4 columns in one activation word, all
    # non-zero, depth 8. PE 0 has 2 entries in column 0, none in column 1,
    # 1 in columns 2 and 3; the other PEs none. t0-t2 START, FIRST, PICK; t3
    # the word is read, t5 taken; columns 0-3 broadcast at t6-t9, each in the
    # span register 4 cycles later (popped from the broadcast register the
    # next cycle, pointers read, registered, span registered): t10-t13, but
    # a span waits there while the entry stage is busy, and those behind it.
    # PE 0: t10 takes column 0; t11 issues 1/2 (column 1 in the span
    # register: empty, dropped at once, so column 2 is there at t12); t12
    # issues 2/2 and takes column 2; t13 issues it and takes column 3 (in
    # the span register at t13); t14 issues it. t15-t19 in flight (the idle
    # registers raised as it accumulates, t19), t20 empty and DRAIN sees the
    # idle registers: 21 cycles. (Were the empty column to take a cycle, at
    # t13, column 3 would issue at t15: 22.)
    from sw.formats.csc import EieLayer
    empty = np.array([], dtype=np.int64)
    eie = EieLayer(rows=8, cols=4, pes=4, z_bits=4,
                   v=[np.array([1, 2, 3, 4]), empty, empty, empty],
                   z=[np.array([0, 0, 0, 0]), empty, empty, empty],
                   ptr=np.array([[0, 2, 2, 3, 4], [0] * 5, [0] * 5, [0] * 5]))
    r = layer_cycles(eie, np.array([1, 2, 3, 4]), queue_depth=8)
    assert r["compute_cycles"] == 21 and r["start_cycles"] == 11
    assert r["window_cycles"] == 4 and r["working_cycles"] == 4
