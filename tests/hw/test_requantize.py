"""Requantize (fixed and run-time shifts) against docs/numerics.md in code (Amaranth simulator)."""

import numpy as np
import pytest

from amaranth.hdl import Mux

from hw.requantize import Requantize
from sw.spec.numerics import relu, requantize

from sw.flows.testbench.amaranth import run_stream


@pytest.mark.parametrize("shift,out_bits,do_relu", [(0, 8, False), (3, 6, False), (5, 4, True),
                                                   (12, 3, False), (1, 13, True)])
def test_requantize_matches_numerics(shift, out_bits, do_relu):
    in_bits = 12
    rng = np.random.default_rng(shift)
    x = np.concatenate([rng.integers(-2048, 2048, 200), [-2048, 2047, 0, -1, 1]])
    dut = Requantize(1, in_bits, shift=shift, out_bits=out_bits, relu=do_relu)
    out = run_stream(dut, [[int(v)] for v in x], len(x), seed=shift)
    expect = requantize(x, shift, out_bits)
    if do_relu:
        expect = relu(expect)
    assert [o[0] for o in out] == expect.tolist()


@pytest.mark.parametrize("kwargs,message", [
    (dict(shift=13, out_bits=8), "shift must be an integer from 0 to the input width 12"),
    (dict(shift=2, out_bits=0), "output width must be an integer from 1 to 13"),
])
def test_requantize_rejects(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Requantize(1, 12, **kwargs)


@pytest.mark.parametrize("registered", [False, True])
@pytest.mark.parametrize("do_relu", [False, True])
def test_run_time_requantize_matches_numerics(registered, do_relu):
    # The requantizer of the EIE write-back and the dense engine, every shift
    # a layer may bring, against sw.spec.numerics; with a path, its two
    # registers delay the result by exactly the stages it counts.
    from amaranth.hdl import Module, Signal, signed
    from amaranth.sim import Simulator
    from hw.pipeline import Path
    from hw.requantize import requantize_at_run_time
    in_bits, out_bits = 12, 6
    m = Module()
    x, shift = Signal(signed(in_bits)), Signal(range(in_bits + 1))
    coarse = Signal(range(in_bits))  # decoded as the layer table's users do
    m.d.comb += coarse.eq(Mux(shift == 0, 0, shift - 1))
    path = Path("q") if registered else None
    value, nonzero, _ = requantize_at_run_time(
        m, x, coarse_shift=coarse, rounding=shift != 0, relu=do_relu, out_bits=out_bits,
        path=path)
    out, flag = Signal(signed(out_bits)), Signal()
    m.d.comb += [out.eq(value), flag.eq(nonzero)]
    stages = path.cycles if registered else 0
    rng = np.random.default_rng(7)
    xs = np.concatenate([rng.integers(-2048, 2048, 60), [-2048, 2047, 0, -1, 1]])
    seen = {}

    async def bench(ctx):
        for s in range(in_bits + 1):
            ctx.set(shift, s)
            got = []
            for v in xs:
                ctx.set(x, int(v))
                for _ in range(stages):
                    await ctx.tick()
                got.append((ctx.get(out), ctx.get(flag)))
            seen[s] = got

    sim = Simulator(m)
    if registered:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert stages == (2 if registered else 0)
    for s, got in seen.items():
        expect = requantize(xs, s, out_bits)
        if do_relu:
            expect = relu(expect)
        assert [v for v, _ in got] == expect.tolist()
        assert [f for _, f in got] == (expect != 0).astype(int).tolist()
