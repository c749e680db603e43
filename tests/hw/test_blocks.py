"""Unit tests of the small blocks in Amaranth's simulator."""

import random

import numpy as np
import pytest

from amaranth.hdl import Mux

from hw.adder_tree import AdderTree
from hw.requantize import Requantize
from sw.spec.numerics import relu, requantize

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


def test_adder_tree_rejects():
    with pytest.raises(ValueError, match="term count must be an integer >= 1, not 0"):
        AdderTree(1, 0, 8)


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
