"""Leading non-zero detection trees against their definitions (Amaranth simulator)."""

import random

import pytest


@pytest.mark.parametrize("width", [1, 5, 8, 128])
def test_leading_nonzero_tree(width):
    from amaranth.sim import Simulator
    from hw.eie.lnzd import LeadingNonzero
    dut = LeadingNonzero(width)
    rng = random.Random(width)
    values = [0, 1 << (width - 1)] + [rng.getrandbits(width) & rng.getrandbits(width)
                                      for _ in range(200)]
    seen = []

    async def bench(ctx):
        for v in values:
            ctx.set(dut.i, v)
            seen.append((ctx.get(dut.any), ctx.get(dut.index) if v else None))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    # The definition: the position of the lowest set bit.
    assert seen == [(bool(v), (v & -v).bit_length() - 1 if v else None) for v in values]


@pytest.mark.parametrize("width", [1, 2, 3, 8])
def test_at_most_one_tree(width):
    from amaranth.hdl import Module, Signal
    from amaranth.sim import Simulator
    from hw.eie.lnzd import at_most_one
    m = Module()
    bits, out = Signal(width), Signal()
    m.d.comb += out.eq(at_most_one(bits))
    seen = []

    async def bench(ctx):
        for v in range(1 << width):
            ctx.set(bits, v)
            seen.append(ctx.get(out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    # The definition: a population count of at most one, over every value.
    assert seen == [int(bin(v).count("1") <= 1) for v in range(1 << width)]
