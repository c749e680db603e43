"""The PE's pointer read unit alone, in Amaranth's simulator: each column's
span is its CSC pointers' (``sw.formats.csc``) in the image's pointer banks
(``sw.flows.eie_image``), baked in or loaded, with stalls on both sides."""

import random

import pytest

from hw.eie.config import MEMORIES, layer_fields
from hw.eie.pointers import PointerRead
from hw.layer_table import layer_layout
from sw.flows.eie_image import build_image, config_for
from sw.flows.testbench.amaranth import StreamSink, StreamSource, load_beats, run_testbench
from sw.formats.synthetic import random_model
from sw.spec.packing import unpack

PES = 4


def setup(seed, pes=PES, **overrides):
    model = random_model(seed, [21, 30, 9], pes, density=0.3)
    c = config_for(model, **overrides)
    return model, c, build_image(model, c)


def columns(model, c, image):
    """Every column of every layer: its pointer index (the layer table's
    ``ptr_base`` plus the column) and where it is in the CSC layer."""
    table = [unpack(layer_layout(layer_fields(c)), w) for w in image.layers]
    return [(table[l]["ptr_base"] + j, l, j) for l, layer in enumerate(model.layers)
            for j in range(layer.cols)]


def simulate(c, pe, image, queries, *, seed, load=(), stall=0.3):
    """Offer ``queries`` ((ptr, act)); returns [(cycle taken or seen, span)]."""
    dut = PointerRead(c, pe, None if load else image)
    rng = random.Random(seed)
    source = StreamSource(dut.column, [{"ptr": ptr, "act": act} for ptr, act in queries], rng,
                          stall)
    sink = StreamSink(dut.span, rng, stall)
    spans, taken = [], []

    async def bench(ctx):
        await load_beats(ctx, dut.load, load)
        for cycle in range(20 * len(queries) + 50):
            source.offer(ctx)
            sink.ready(ctx)
            if source.taken(ctx):
                taken.append(cycle)
            if (s := sink.collect(ctx)) is not None:
                spans.append((cycle, {"start": s.start, "length": s.length, "some": s.some,
                                      "at_most_one": s.at_most_one, "act": s.act}))
            if len(spans) == len(queries):
                return
            await ctx.tick()
        raise AssertionError(f"{len(spans)} of {len(queries)} spans")

    run_testbench(dut, bench)
    return taken, spans


def expected(model, image, pe, queries, cols):
    """Start: the image's pointer ``p[q]``; length: the CSC layer's entries."""
    p = [0] * (len(image.ptr_even[pe]) + len(image.ptr_odd[pe]))
    p[0::2], p[1::2] = image.ptr_even[pe], image.ptr_odd[pe]
    out = []
    for (q, act), (_, l, j) in zip(queries, cols):
        n = int(model.layers[l].eie.entries()[pe][j])
        out.append({"start": int(p[q]), "length": n, "some": int(n > 0),
                    "at_most_one": int(n <= 1), "act": act})
    return out


@pytest.mark.parametrize("spram", [False, True])
@pytest.mark.parametrize("pe", [0, 3])
@pytest.mark.parametrize("seed", [1, 2])
def test_spans_are_the_csc_pointers(spram, pe, seed):
    # The iCE40 organization (two PEs fit a UP5K): one stage fewer.
    model, c, image = setup(seed, **(dict(pes=2, spram=True, entries_per_word=2,
                                          sequential_scan=True) if spram else {}))
    pe = min(pe, c.pes - 1)
    cols = columns(model, c, image)
    rng = random.Random(seed)
    cols = rng.sample(cols, len(cols))  # in any order, even and odd indices mixed
    queries = [(q, rng.randint(-100, 100)) for q, _, _ in cols]
    _, spans = simulate(c, pe, image, queries, seed=seed)
    want = expected(model, image, pe, queries, cols)
    assert [s for _, s in spans] == want
    # Some column is empty and some longer than one: the flags are tested both ways.
    assert {w["some"] for w in want} == {0, 1} and {w["at_most_one"] for w in want} == {0, 1}


def test_loaded_pointers_and_other_pes_beats():
    model, c, image = setup(3)
    pe = 2
    beats = [b for b in image.load_beats() if b[0] in (MEMORIES["ptr_even"], MEMORIES["ptr_odd"])]
    assert {b[1] for b in beats} == set(range(PES))
    cols = columns(model, c, image)[:40]
    queries = [(q, 7) for q, _, _ in cols]
    _, spans = simulate(c, pe, image, queries, seed=3, load=beats)
    assert [s for _, s in spans] == expected(model, image, pe, queries, cols)
    # Another PE's pointers would give other spans.
    assert [s for _, s in spans] != expected(model, image, 1, queries, cols)


@pytest.mark.parametrize("spram,latency", [(False, 3), (True, 2)])
def test_latency_and_throughput(spram, latency):
    model, c, image = setup(4, **(dict(pes=2, spram=True, entries_per_word=2,
                                       sequential_scan=True) if spram else {}))
    cols = columns(model, c, image)[:12]
    queries = [(q, 1) for q, _, _ in cols]
    taken, spans = simulate(c, 0, image, queries, seed=4, stall=0)
    # One column a cycle, each span `latency` cycles after its column was taken.
    assert taken == list(range(taken[0], taken[0] + len(queries)))
    assert [t for t, _ in spans] == [t + latency for t in taken]
