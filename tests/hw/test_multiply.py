"""Exact signed products, in DSPs or in LUTs (Amaranth simulator)."""

import pytest


@pytest.mark.parametrize("in_luts", [False, True])
def test_multiply_is_exact_for_every_pair(in_luts):
    # Exhaustive over 5-bit x 4-bit signed operands, through Amaranth's simulator.
    from amaranth.hdl import Module, Signal, signed
    from amaranth.sim import Simulator
    from hw.multiply import multiply
    a, b, p = Signal(signed(5)), Signal(signed(4)), Signal(signed(9))
    m = Module()
    m.d.comb += p.eq(multiply(a, b, in_luts=in_luts))
    seen = []

    async def bench(ctx):
        for x in range(-16, 16):
            for y in range(-8, 8):
                ctx.set(a, x)
                ctx.set(b, y)
                seen.append((x * y, ctx.get(p)))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    assert len(seen) == 512 and all(want == got for want, got in seen)
