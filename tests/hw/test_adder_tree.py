"""The pipelined adder tree against exact sums (Amaranth simulator)."""

import random

import pytest


from hw.adder_tree import AdderTree

from sw.flows.testbench.amaranth import run_stream


@pytest.mark.parametrize("terms,regs_every", [(1, 1), (2, 1), (5, 1), (8, 2), (7, 0)])
@pytest.mark.parametrize("seed", [1, 2])
def test_adder_tree_sums_exactly(terms, regs_every, seed):
    rng = random.Random(seed)
    width, lanes = 6, 3
    dut = AdderTree(lanes, terms, width, regs_every=regs_every, tag_shape=4)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    values = [[[rng.choice([lo, hi, rng.randint(lo, hi)]) for _ in range(terms)]
               for _ in range(lanes)] for _ in range(20)]
    beats = [{"terms": v, "tag": n % 16} for n, v in enumerate(values)]
    out = run_stream(dut, beats, len(beats), seed=seed)
    # The reference is the definition: the exact integer sum of each lane.
    assert [[o.sums[l] for l in range(lanes)] for o in out] == \
        [[sum(row) for row in v] for v in values]
    assert [o.tag for o in out] == [b["tag"] for b in beats]


def test_adder_tree_latency_and_width():
    assert AdderTree(2, 8, 8, regs_every=1).stages == 3
    assert AdderTree(2, 8, 8, regs_every=2).stages == 2
    assert AdderTree(2, 8, 8, regs_every=0).stages == 0
    assert AdderTree(2, 9, 8).sum_width == 12


def test_adder_tree_rejects():
    with pytest.raises(ValueError, match="term count must be an integer >= 1, not 0"):
        AdderTree(1, 0, 8)
