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
