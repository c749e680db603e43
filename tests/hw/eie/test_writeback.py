"""The PE's write-back unit alone, in Amaranth's simulator: accumulator plus
the model's bias, requantized and (for ReLU layers) clamped, as
``sw.spec.numerics`` defines it, one row a cycle."""

import random

import numpy as np
import pytest

from hw.eie.config import MEMORIES, layer_fields
from hw.eie.writeback import WriteBack
from hw.layer_table import layer_layout
from sw.flows.eie_image import build_image, config_for
from sw.flows.testbench.amaranth import run_testbench
from sw.formats.synthetic import random_model
from sw.spec.numerics import relu, requantize
from sw.spec.packing import unpack

PES = 4


def setup(seed, shifts):
    model = random_model(seed, [21, 30, 9], PES, density=0.3, shifts=shifts)
    c = config_for(model)
    return model, c, build_image(model, c)


def layer_config(c, image, l, model):
    """What the PE is told of layer ``l``: the table's fields, the shift decoded."""
    entry = unpack(layer_layout(layer_fields(c)), image.layers[l])
    s = model.layers[l].shift
    assert entry["shift"] == s
    return {"index": l, "ptr_base": entry["ptr_base"], "bias_base": entry["bias_base"],
            "coarse_shift": max(s - 1, 0), "round": int(s > 0), "relu": entry["relu"]}


def accumulators(c, biases, seed, shift):
    """Accumulators putting ``acc + bias`` where it rounds on a tie,
    saturates either way, or sits near zero."""
    rng = random.Random(seed)
    hi = 1 << (c.act_bits - 1 + shift)
    lim = (1 << (c.accumulator_bits - 2)) - 1
    picks = [lambda: rng.randint(-3 * hi, 3 * hi), lambda: rng.randint(-hi // 2, hi // 2),
             lambda: (2 * rng.randint(-50, 50) + 1) << max(shift - 1, 0),
             lambda: rng.randint(-(1 << shift) * 3, (1 << shift) * 3),
             lambda: rng.choice([lim, -lim])]
    return [max(-lim, min(lim, rng.choice(picks)() - int(b))) for b in biases]


def simulate(c, pe, image, config, requests, *, seed, gap=0.3):
    """``requests``: (row, keep, acc); returns [(cycle started, cycle done, result, nonzero)]."""
    dut = WriteBack(c, pe, image)
    rng = random.Random(seed)
    started, results = [], []

    async def bench(ctx):
        ctx.set(dut.layer, config)
        pending, cycle, k = None, 0, 0
        while len(results) < len(requests):
            start = k < len(requests) and rng.random() >= gap
            ctx.set(dut.start, start)
            if start:
                row, keep, _ = requests[k]
                ctx.set(dut.row, row)
                ctx.set(dut.keep, keep)
                started.append(cycle)
            # The accumulator arrives the cycle after the start.
            ctx.set(dut.acc, pending if pending is not None else 0)
            pending = requests[k][2] if start else None
            k += start
            if ctx.get(dut.done):
                results.append((cycle, ctx.get(dut.result), ctx.get(dut.nonzero)))
            await ctx.tick()
            cycle += 1
            assert cycle < 50 * len(requests) + 50

    run_testbench(dut, bench)
    return [(s, *r) for s, r in zip(started, results)]


@pytest.mark.parametrize("shifts", [[14, 14], [0, 1], [5, 9]])
@pytest.mark.parametrize("pe", [0, 3])
def test_results_are_requantized_with_the_models_bias(shifts, pe):
    model, c, image = setup(sum(shifts) + pe, shifts)
    for l, layer in enumerate(model.layers):
        rows_pe = -(-layer.rows // PES)
        rows = [r % rows_pe for r in range(max(48, 4 * rows_pe))]
        keeps = [int(r * PES + pe < layer.rows) for r in rows]
        accs = accumulators(c, [layer.bias[r * PES + pe] if k else 0
                                for r, k in zip(rows, keeps)], seed=l + pe, shift=layer.shift)
        requests = list(zip(rows, keeps, accs))
        out = simulate(c, pe, image, layer_config(c, image, l, model), requests, seed=l)
        bias = np.array([layer.bias[row * PES + pe] if keep else 0
                         for row, keep, _ in requests])
        expect = requantize(np.array(accs) + bias, layer.shift, c.act_bits)
        if layer.relu:
            expect = relu(expect)
        expect = np.where([keep for _, keep, _ in requests], expect, 0)
        assert [r for _, _, r, _ in out] == expect.tolist()
        assert [nz for _, _, _, nz in out] == (expect != 0).astype(int).tolist()
        # Both saturation bounds and values in between were reached.
        top = (1 << (c.act_bits - 1)) - 1
        assert top in expect and (layer.relu or -top - 1 in expect)
        assert len(set(expect.tolist())) > 5
        # PE 3 has rows past the layer's last in both layers (they give 0).
        assert pe == 0 or 0 in keeps


def test_six_cycles_a_row_each_cycle():
    model, c, image = setup(1, [14, 14])
    requests = [(r, 1, 1000 * r) for r in range(6)]
    out = simulate(c, 0, image, layer_config(c, image, 0, model), requests, seed=0, gap=0)
    assert [done - start for start, done, _, _ in out] == [6] * 6
    assert [start for start, _, _, _ in out] == list(range(6))


def test_loaded_biases():
    model, c, image = setup(2, [3, 3])
    layer = model.layers[0]
    beats = [b for b in image.load_beats() if b[0] == MEMORIES["bias"]]
    config = layer_config(c, image, 0, model)
    requests = [(r, 1, 0) for r in range(-(-layer.rows // PES))]
    dut = WriteBack(c, 1, None)
    results = []

    async def bench(ctx):
        ctx.set(dut.layer, config)
        for mem, pe, addr, value in beats:
            ctx.set(dut.load.payload, {"mem": mem, "pe": pe, "addr": addr, "data": value})
            ctx.set(dut.load.valid, 1)
            await ctx.tick()
        ctx.set(dut.load.valid, 0)
        for row, keep, acc in requests + [(0, 0, 0)] * 8:
            ctx.set(dut.row, row)
            ctx.set(dut.keep, keep)
            ctx.set(dut.start, row != 0 or keep)
            if ctx.get(dut.done):
                results.append(ctx.get(dut.result))
            await ctx.tick()

    run_testbench(dut, bench)
    # Accumulators of 0: the result is PE 1's biases, requantized.
    bias = np.array([layer.bias[r * PES + 1] for r, _, _ in requests])
    expect = requantize(bias, layer.shift, c.act_bits)
    assert results[:len(requests)] == (relu(expect) if layer.relu else expect).tolist()
