"""Each EIE unit's ``latency`` is what it does, in Amaranth's simulator.

One input is driven into an idle unit and the cycles to its output are
counted; they must equal the ``latency`` the unit derives from the stages it
builds, which the cycle model (``sw.golden.cycles``) uses in turn.
"""

import pytest

from hw.eie.arithmetic import ArithmeticUnit
from hw.eie.config import EieConfig
from hw.eie.pe import ProcessingElement
from hw.eie.pointers import PointerRead
from hw.eie.spmat import SparseMatrixRead
from hw.eie.writeback import WriteBack
from sw.flows.eie_image import build_image, config_for
from sw.flows.testbench.amaranth import run_testbench
from sw.formats.synthetic import random_model

SMALL = dict(pes=2, nnz_depth=64, ptr_depth=16, rows_per_pe=8, bias_depth=8, max_cols=16,
             max_layers=1, entries_per_word=2)


def cycles_to(dut, held, taken, output, limit=20):
    """Set the inputs ``held`` ((signal, value) pairs, the first the input's valid)
    in cycle 0, where ``taken`` (``None``: always ready) must be high,
    withdraw the valid in cycle 1, and count the cycles until ``output`` is high."""
    valid = held[0][0]

    async def bench(ctx):
        for signal, value in held:
            ctx.set(signal, value)
        assert taken is None or ctx.get(taken), "the idle unit did not take the input"
        for n in range(1, limit):
            await ctx.tick()
            if n == 1:
                ctx.set(valid, 0)
            if ctx.get(output):
                return n
        raise AssertionError(f"no output within {limit} cycles")

    return run_testbench(dut, bench)


@pytest.mark.parametrize("spram", [False, True])
def test_pointer_read_latency(spram):
    # A column with entries for the PE (an empty one gives no span).
    model = random_model(0, [12, 9, 5], 2)
    c = config_for(model, **(dict(spram=True, entries_per_word=2, sequential_scan=True)
                             if spram else {}))
    image = build_image(model, c)
    eie = model.layers[0].eie
    q = next(j for j in range(eie.cols) if eie.ptr[0][j + 1] > eie.ptr[0][j])
    dut = PointerRead(c, 0, image)
    measured = cycles_to(dut, [(dut.column.valid, 1), (dut.span.ready, 1),
                               (dut.column.payload.ptr, q)],
                         dut.column.ready, dut.span.valid)
    assert measured == dut.latency


def test_sparse_matrix_read_latency():
    dut = SparseMatrixRead(EieConfig(**SMALL), 0)
    span = dut.span.payload
    measured = cycles_to(dut, [(dut.span.valid, 1), (span.start, 0), (span.length, 1),
                               (span.at_most_one, 1)],
                         dut.span.ready, dut.entry.valid)
    assert measured == dut.latency
    # The first entry issues the cycle after its column is taken.
    assert measured == 1 + dut.entry_latency


def test_arithmetic_unit_latency():
    # An entry is written to its accumulator in the last cycle `busy` shows
    # it: the cycle after that is the first it is not busy.
    dut = ArithmeticUnit(EieConfig(**SMALL), 0)
    entry = dut.entry.payload
    measured = cycles_to(dut, [(dut.entry.valid, 1), (entry.first, 1), (entry.act, 3)],
                         None, ~dut.busy)  # None: always ready
    assert measured - 1 == dut.latency


@pytest.mark.parametrize("unit,start,keep,done", [
    (WriteBack, "start", "keep", "done"),
    (ProcessingElement, "wb_valid", "wb_keep", "wb_done"),
], ids=["write_back", "processing_element"])
def test_write_back_latency(unit, start, keep, done):
    dut = unit(EieConfig(**SMALL), 0)
    measured = cycles_to(dut, [(getattr(dut, start), 1), (getattr(dut, keep), 1)], None,
                         getattr(dut, done))
    assert measured == dut.latency
    if unit is ProcessingElement:
        assert dut.latency == dut.timing["writeback"]
