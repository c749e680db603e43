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
    # its idle register the cycle after that.
    first_broadcast = 3 + fetch["latency"] + 1
    first_issue = first_broadcast + pe["queue"] + pe["pointer_stages"] + 1
    last_issue = first_issue + cols - 1
    drain_ends = last_issue + pe["in_flight"] + 2
    r = layer_cycles(layer, np.arange(1, cols + 1), queue_depth)
    assert r["compute_cycles"] == drain_ends + 1
    assert r["window_cycles"] == cols and r["working_cycles"] == pes * cols
    assert r["load_balance_efficiency"] == 1.0


def test_phases_of_a_hand_worked_layer():
    # The layer of tests/sw/compress/test_pipeline.py's hand-worked example
    # (2 PEs; PE 0 has 3 entries in column 0 and 1 in column 1, PE 1 has 1
    # and 0; both activations non-zero, depth 1), with PE 0's second entry
    # of column 0 a padding entry (v = 0): the timing is the same. That
    # example's cycles: t0-t10 nothing issues (START, FIRST, PICK, the fetch,
    # the broadcasts, the pointer stages), t11-t14 the window (PE 0 issues
    # in all four; PE 1 its entry at t11 and its empty column 1 at t12, and
    # waits at t13-t14), t15-t21 the drain, then 2 rows + 7 of write-back.
    from sw.formats.csc import EieLayer
    eie = EieLayer(rows=4, cols=2, pes=2, z_bits=4,
                   v=[np.array([1, 0, 1, 1]), np.array([2])],
                   z=[np.array([0, 0, 0, 0]), np.array([0])],
                   ptr=np.array([[0, 3, 4], [0, 1, 1]]))
    r = layer_cycles(eie, np.array([5, 7]), queue_depth=1)
    assert (r["start_cycles"], r["window_cycles"], r["drain_cycles"],
            r["writeback_cycles"], r["cycles"]) == (11, 4, 7, 9, 31)
    # The window's 8 PE-cycles: PE 0 issues 4 entries, one of them padding,
    # PE 1 one: 4 useful MACs, 1 padding entry; PE 1's empty column at t12,
    # and 2 bubbles (PE 1 at t13-t14).
    assert (r["useful_macs"], r["padding_issues"], r["empty_column_cycles"],
            r["starvation_cycles"]) == (4, 1, 1, 2)


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
            assert (r["useful_macs"] + r["padding_issues"] + r["empty_column_cycles"]
                    + r["starvation_cycles"]) == layer.eie.pes * r["window_cycles"]
