"""The PE's sparse-matrix read unit alone, in Amaranth's simulator: each
column's entries are the CSC encoding's ``(v, z)`` (``sw.formats.csc``) from
the image's sparse-matrix words (``sw.flows.eie_image``), one a cycle."""

import random

import pytest

from hw.eie.config import MEMORIES
from hw.eie.spmat import SparseMatrixRead
from sw.flows.eie_image import build_image, config_for
from sw.flows.testbench.amaranth import StreamSource, load_beats, run_testbench
from sw.formats.synthetic import random_model


def setup(seed, pes=4, **overrides):
    # 90 rows over 4 PEs: a zero run longer than 15 in a column (padding entries).
    model = random_model(seed, [21, 90, 9], pes, density=0.3)
    c = config_for(model, **overrides)
    return model, c, build_image(model, c)


def spans(model, image, pe):
    """Every column's span as the pointer unit gives it, from the image's
    pointers, and the column (layer, j): the columns with entries for
    ``pe`` (the pointer unit drops the others)."""
    p = [0] * (len(image.ptr_even[pe]) + len(image.ptr_odd[pe]))
    p[0::2], p[1::2] = image.ptr_even[pe], image.ptr_odd[pe]
    out, q = [], 0
    for l, layer in enumerate(model.layers):
        for j in range(layer.cols):
            start, length = int(p[q + j]), int(p[q + j + 1] - p[q + j])
            if length:
                out.append(({"start": start, "length": length, "at_most_one": int(length == 1),
                             "act": (j * 37 + l) % 200 - 100}, l, j))
        q += layer.cols + 1
    return out


def expected(model, pe, columns):
    """The CSC entries of each column, its activation with each."""
    out = []
    for span, l, j in columns:
        eie = model.layers[l].eie
        lo, hi = eie.ptr[pe][j], eie.ptr[pe][j + 1]
        out += [{"index": int(v), "z": int(z), "first": int(k == 0), "act": span["act"]}
                for k, (v, z) in enumerate(zip(eie.v[pe][lo:hi], eie.z[pe][lo:hi]))]
    return out


def simulate(c, pe, image, columns, *, seed, stall=0.3, load=()):
    dut = SparseMatrixRead(c, pe, None if load else image)
    spans = StreamSource(dut.span, [span for span, _, _ in columns], random.Random(seed), stall)
    entries = []

    async def bench(ctx):
        await load_beats(ctx, dut.load, load)
        idle = 0
        for cycle in range(10 * len(columns) + 10 * c.nnz_depth):
            spans.offer(ctx)
            spans.taken(ctx)
            if ctx.get(dut.entry.valid):
                e = ctx.get(dut.entry.payload)
                entries.append((cycle, {"index": e.index, "z": e.z, "first": e.first,
                                        "act": e.act}))
            idle = idle + 1 if spans.done and not ctx.get(dut.busy) else 0
            if idle > 3:
                return
            await ctx.tick()
        raise AssertionError("the columns were not walked")

    run_testbench(dut, bench)
    return entries


@pytest.mark.parametrize("pe", [0, 3])
@pytest.mark.parametrize("seed", [1, 2])
def test_entries_are_the_csc_encoding(pe, seed):
    model, c, image = setup(seed)
    columns = spans(model, image, pe)
    entries = simulate(c, pe, image, columns, seed=seed)
    want = expected(model, pe, columns)
    assert [e for _, e in entries] == want
    assert {s["length"] for s, _, _ in columns} > {1, 2}


@pytest.mark.parametrize("per_word", [1, 2, 16])
def test_every_word_width_reads_every_entry(per_word):
    # One entry a word: the slot is always 0 (it once took the address's low
    # bit and read every odd entry as 0; found by eiegen soak, case
    # eie:wide:17191595:828676468).
    model, c, image = setup(2, entries_per_word=per_word)
    columns = spans(model, image, 1)
    entries = simulate(c, 1, image, columns, seed=2)
    assert [e for _, e in entries] == expected(model, 1, columns)


def test_padding_entries_pass_through():
    model, c, image = setup(1)
    # The PE whose slice of a column has a zero run over 15 (a padding entry, v = 0).
    pe = next(k for k in range(c.pes) if (model.layers[0].eie.v[k] == 0).any())
    columns = spans(model, image, pe)
    entries = simulate(c, pe, image, columns, seed=1)
    want = expected(model, pe, columns)
    assert any(e["index"] == 0 for e in want)
    assert [e for _, e in entries] == want


def test_loaded_words_and_the_spram_organization():
    model, c, image = setup(3, pes=2, spram=True, entries_per_word=2, sequential_scan=True)
    beats = [b for b in image.load_beats() if b[0] == MEMORIES["spmat"]]
    columns = spans(model, image, 1)
    entries = simulate(c, 1, image, columns, seed=3, load=beats)
    assert [e for _, e in entries] == expected(model, 1, columns)
    assert [e for _, e in entries] != expected(model, 0, spans(model, image, 0))


def test_one_entry_a_cycle_across_columns():
    model, c, image = setup(4)
    columns = spans(model, image, 0)
    one = [col for col in columns if col[0]["length"] == 1]
    full = [col for col in columns if col[0]["length"] >= 2]
    picked = [full[0], one[0], one[1], full[1], full[2]]
    entries = simulate(c, 0, image, picked, seed=4, stall=0)
    cycles = [t for t, _ in entries]
    total = sum(col[0]["length"] for col in picked)
    # Entries back to back within and across columns (single entries
    # included): no bubble.
    assert cycles == list(range(cycles[0], cycles[0] + total))
