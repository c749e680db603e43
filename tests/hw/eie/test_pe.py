"""One EIE processing element alone, in Amaranth's simulator: the golden
model's layer inputs broadcast to it, then its rows written back, give the
golden model's next activations (``sw.golden.eie.infer``) for its rows."""

import random

import pytest

from hw.eie.config import layer_fields
from hw.eie.pe import ProcessingElement
from hw.layer_table import layer_layout
from sw.flows.eie_image import build_image, config_for
from sw.flows.testbench.amaranth import load_beats, run_testbench
from sw.formats.synthetic import random_inputs, random_model
from sw.golden.cycles import pe_figures
from sw.golden.eie import infer
from sw.spec.packing import unpack

PES = 4


def setup(seed, sizes=(21, 30, 9), **overrides):
    model = random_model(seed, list(sizes), PES, density=0.3)
    c = config_for(model, **overrides)
    x = random_inputs(seed, 2, sizes[0], zero_rows=())
    _, acts = infer(model, x, trace=True)
    return model, c, build_image(model, c), [a[1] for a in acts]


def layer_config(c, image, model, l):
    entry = unpack(layer_layout(layer_fields(c)), image.layers[l])
    s = model.layers[l].shift
    return {"index": l, "ptr_base": entry["ptr_base"], "bias_base": entry["bias_base"],
            "coarse_shift": max(s - 1, 0), "round": int(s > 0), "relu": entry["relu"]}


def simulate(c, pe, image, model, acts, *, seed, gap=0.3, load=()):
    """Run every layer through the PE; returns per layer the written-back
    (row, result, nonzero, latency), and whether a push was ever made
    without ``push.ready``."""
    dut = ProcessingElement(c, pe, None if load else image)
    rng = random.Random(seed)
    layers = []

    async def bench(ctx):
        await load_beats(ctx, dut.load, load)
        for l, layer in enumerate(model.layers):
            config = layer_config(c, image, model, l)
            ctx.set(dut.layer, config)
            a = acts[l]
            pushes = [(config["ptr_base"] + j, int(a[j])) for j in range(layer.cols) if a[j]]
            await ctx.tick()
            while pushes:
                # A broadcaster raises valid only when the PE is ready.
                push = ctx.get(dut.push.ready) and rng.random() >= gap
                ctx.set(dut.push.valid, push)
                if push:
                    ptr, act = pushes.pop(0)
                    ctx.set(dut.push.payload, {"ptr": ptr, "act": act})
                await ctx.tick()
            ctx.set(dut.push.valid, 0)
            await ctx.tick().until(dut.idle)
            rows_pe = -(-layer.rows // c.pes)
            issued, results = [], []
            for cycle in range(rows_pe + pe_figures(c.spram)["writeback"] + 3):
                issue = cycle < rows_pe
                ctx.set(dut.wb_valid, issue)
                ctx.set(dut.wb_addr, cycle % rows_pe)
                ctx.set(dut.wb_keep, (cycle % rows_pe) * c.pes + pe < layer.rows)
                if issue:
                    issued.append(cycle)
                if ctx.get(dut.wb_done):
                    results.append((cycle, ctx.get(dut.wb_result), ctx.get(dut.wb_nonzero)))
                await ctx.tick()
            ctx.set(dut.wb_valid, 0)
            layers.append([(r, res, nz, t - issued[r])
                           for r, (t, res, nz) in enumerate(results)])

    run_testbench(dut, bench)
    return layers


def expected(model, acts, pe, c):
    """The golden model's next activations of the PE's rows, 0 past the last,
    each the cycle model's write-back latency after its request."""
    out, n, latency = [], model.pes, pe_figures(c.spram)["writeback"]
    for l, layer in enumerate(model.layers):
        y = acts[l + 1]
        rows_pe = -(-layer.rows // n)
        vals = [int(y[r * n + pe]) if r * n + pe < layer.rows else 0 for r in range(rows_pe)]
        out.append([(r, v, int(v != 0), latency) for r, v in enumerate(vals)])
    return out


@pytest.mark.parametrize("queue_depth", [1, 2, 8])
@pytest.mark.parametrize("pe", [0, 3])
@pytest.mark.parametrize("seed", [1, 2])
def test_pe_computes_its_rows_of_every_layer(queue_depth, pe, seed):
    model, c, image, acts = setup(seed, queue_depth=queue_depth)
    got = simulate(c, pe, image, model, acts, seed=seed, gap=0.3 if seed == 1 else 0)
    want = expected(model, acts, pe, c)
    assert got == want
    # Another PE's rows differ: the check would catch rows from the wrong slice.
    assert got != expected(model, acts, (pe + 1) % PES, c)


def test_pe_loaded_at_run_time_in_the_spram_organization():
    # Two PEs fit a UP5K; SPRAM starts empty, so the image is loaded.
    model = random_model(3, [21, 30, 9], 2, density=0.3)
    c = config_for(model, spram=True, entries_per_word=2, sequential_scan=True)
    image = build_image(model, c)
    _, trace = infer(model, random_inputs(3, 1, 21, zero_rows=()), trace=True)
    acts = [a[0] for a in trace]
    got = simulate(c, 1, image, model, acts, seed=3, load=image.load_beats())
    assert got == expected(model, acts, 1, c)
