"""The PE's pointer read unit alone, in Amaranth's simulator: each column's
span is its CSC pointers' (``sw.formats.csc``) in the image's pointer banks
(``sw.flows.eie_image``), baked in or loaded, with stalls on both sides; a
column with no entry for the PE gives no span."""

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


def simulate(c, pe, image, queries, spans_due, *, seed, load=(), stall=0.3):
    """Offer ``queries`` ((ptr, act)) until ``spans_due`` spans came; returns
    the cycles each query was taken in and [(cycle seen, span)]."""
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
                spans.append((cycle, {"start": s.start, "length": s.length,
                                      "at_most_one": s.at_most_one, "act": s.act}))
            if len(spans) == spans_due and source.done:
                # A few cycles more: no span may follow the last one due.
                for _ in range(8):
                    await ctx.tick()
                    sink.ready(ctx)
                    if sink.collect(ctx) is not None:
                        raise AssertionError(f"more than the {spans_due} spans due")
                return
            await ctx.tick()
        raise AssertionError(f"{len(spans)} of {spans_due} spans")

    run_testbench(dut, bench)
    return taken, spans


def expected(model, image, pe, queries, cols):
    """[(query number, span)] of the queries whose column has entries for
    ``pe``: start, the image's pointer ``p[q]``; length, the CSC layer's
    entries."""
    p = [0] * (len(image.ptr_even[pe]) + len(image.ptr_odd[pe]))
    p[0::2], p[1::2] = image.ptr_even[pe], image.ptr_odd[pe]
    out = []
    for i, ((q, act), (_, l, j)) in enumerate(zip(queries, cols)):
        n = int(model.layers[l].eie.entries()[pe][j])
        if n:
            out.append((i, {"start": int(p[q]), "length": n, "at_most_one": int(n == 1),
                            "act": act}))
    return out


def spans_of(pairs):
    return [span for _, span in pairs]


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
    want = expected(model, image, pe, queries, cols)
    _, spans = simulate(c, pe, image, queries, len(want), seed=seed)
    assert spans_of(spans) == spans_of(want)
    # Some column is empty (dropped), some of one entry and some longer.
    assert len(want) < len(queries)
    assert {w["at_most_one"] for w in spans_of(want)} == {0, 1}


def test_loaded_pointers_and_other_pes_beats():
    model, c, image = setup(3)
    pe = 2
    beats = [b for b in image.load_beats() if b[0] in (MEMORIES["ptr_even"], MEMORIES["ptr_odd"])]
    assert {b[1] for b in beats} == set(range(PES))
    cols = columns(model, c, image)[:40]
    queries = [(q, 7) for q, _, _ in cols]
    want = expected(model, image, pe, queries, cols)
    _, spans = simulate(c, pe, image, queries, len(want), seed=3, load=beats)
    assert spans_of(spans) == spans_of(want)
    # Another PE's pointers would give other spans.
    assert spans_of(spans) != spans_of(expected(model, image, 1, queries, cols))


@pytest.mark.parametrize("spram,latency", [(False, 3), (True, 2)])
def test_latency_and_throughput(spram, latency):
    model, c, image = setup(4, **(dict(pes=2, spram=True, entries_per_word=2,
                                       sequential_scan=True) if spram else {}))
    cols = columns(model, c, image)[:21]  # layer 0's, one of them empty for every PE
    queries = [(q, 1) for q, _, _ in cols]
    want = expected(model, image, 0, queries, cols)
    assert len(want) < len(queries)  # an empty column among them, dropped
    taken, spans = simulate(c, 0, image, queries, len(want), seed=4, stall=0)
    # One column a cycle, each span `latency` cycles after its column was taken.
    assert taken == list(range(taken[0], taken[0] + len(queries)))
    assert [t for t, _ in spans] == [taken[i] + latency for i, _ in want]
