"""The PE's arithmetic unit alone, in Amaranth's simulator: the entries of a
column (``sw.formats.csc``) times its activation, accumulated on their rows,
equal the golden model's (``sw.golden.eie.infer``) products before bias and
requantization; back-to-back entries on one accumulator take the bypass."""

import dataclasses
import random

import numpy as np
import pytest

from hw.eie.arithmetic import ArithmeticUnit
from sw.flows.eie_image import build_image, config_for
from sw.flows.testbench.amaranth import run_testbench
from sw.formats.synthetic import random_model
from sw.golden.eie import infer

PES = 4


def setup(seed, sizes, density=0.3):
    # Wide activations, narrow weights and shift 0: the golden model's
    # outputs are then its accumulators exactly (no rounding, no clipping).
    model = random_model(seed, sizes, PES, density=density, act_bits=24, codebook_bits=8,
                         shifts=[0] * (len(sizes) - 1))
    c = config_for(model)
    return model, c, build_image(model, c)


def golden_sums(model, l, a):
    """Layer ``l``'s ``W a``: the golden model of that layer alone, no bias, no ReLU."""
    layer = dataclasses.replace(model.layers[l], bias=np.zeros_like(model.layers[l].bias),
                                relu=False)
    alone = dataclasses.replace(model, layers=[layer], input_shift=0, input_shape=(layer.cols,))
    y = infer(alone, np.array([a]))[0]
    assert np.abs(y).max() < (1 << (model.act_bits - 1)) - 1  # nothing clipped
    return y


def entries(model, l, pe, a):
    """The PE's entries of every column with a non-zero activation, in order."""
    eie = model.layers[l].eie
    out = []
    for j in np.flatnonzero(a):
        lo, hi = eie.ptr[pe][j], eie.ptr[pe][j + 1]
        out += [{"index": int(v), "z": int(z), "first": int(k == 0), "act": int(a[j])}
                for k, (v, z) in enumerate(zip(eie.v[pe][lo:hi], eie.z[pe][lo:hi]))]
    return out


def simulate(c, pe, image, page, stream, rows, *, seed, gap=0.3, drains=2):
    """Feed ``stream`` (valid with random gaps), then drain ``rows`` rows
    ``drains`` times; returns each drain's accumulators."""
    dut = ArithmeticUnit(c, pe, image)
    rng = random.Random(seed)
    drained = []

    async def bench(ctx):
        ctx.set(dut.page, page)
        for e in stream:
            while gap and rng.random() < gap:
                ctx.set(dut.entry.valid, 0)
                await ctx.tick()
            ctx.set(dut.entry.payload, e)
            ctx.set(dut.entry.valid, 1)
            await ctx.tick()
        ctx.set(dut.entry.valid, 0)
        await ctx.tick().until(~dut.busy)
        for _ in range(drains):
            values = []
            for r in range(rows + 2):
                ctx.set(dut.drain, r < rows)
                ctx.set(dut.drain_row, r % rows)
                # A request's value is on `acc` two cycles later.
                if r >= 2:
                    values.append(ctx.get(dut.acc))
                await ctx.tick()
            drained.append(values)
        ctx.set(dut.drain, 0)

    run_testbench(dut, bench)
    return drained


def local_rows(y, pe, rows_pe):
    """The PE's rows of a layer output (row ``r x pes + pe``), 0 past the last."""
    return [int(y[r * PES + pe]) if r * PES + pe < len(y) else 0 for r in range(rows_pe)]


@pytest.mark.parametrize("l", [0, 1])
@pytest.mark.parametrize("pe", [0, 2])
@pytest.mark.parametrize("seed", [1, 2])
def test_accumulates_the_golden_products(l, pe, seed):
    model, c, image = setup(seed, [21, 30, 9])
    rng = np.random.default_rng(seed)
    cols = model.layers[l].cols
    a = rng.integers(-300, 300, cols) * (rng.random(cols) < 0.6)
    rows_pe = -(-model.layers[l].rows // PES)
    first, second = simulate(c, pe, image, l, entries(model, l, pe, a), rows_pe, seed=seed)
    expect = local_rows(golden_sums(model, l, a), pe, rows_pe)
    assert first == expect
    assert any(expect)
    # Drained rows are cleared.
    assert second == [0] * rows_pe


@pytest.mark.parametrize("gap", [0, 0.5], ids=["back-to-back", "gaps"])
def test_same_accumulator_back_to_back_takes_the_bypass(gap):
    # One row per PE: every entry lands on local row 0, each the cycle after
    # the one before (without gaps), which reads the row being written.
    model, c, image = setup(5, [30, PES], density=0.7)
    a = np.arange(1, 31) * np.array([1, -1] * 15)
    stream = entries(model, 0, 1, a)
    assert len(stream) > 10
    (got,), = [simulate(c, 1, image, 0, stream, 1, seed=5, gap=gap, drains=1)[0]]
    assert [got] == local_rows(golden_sums(model, 0, a), 1, 1)
