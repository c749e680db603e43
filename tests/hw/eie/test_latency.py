"""Each EIE unit's ``latency`` is what it does, in Amaranth's simulator.

One input is driven into an idle unit and the cycles to its output are
counted; they must equal the ``latency`` the unit derives from the stages it
builds, which the cycle model (``sw.golden.cycles``) uses in turn.
"""

import pytest
from amaranth.sim import Simulator

from hw.eie.arithmetic import ArithmeticUnit
from hw.eie.config import EieConfig
from hw.eie.pe import ProcessingElement
from hw.eie.pointers import PointerRead
from hw.eie.spmat import SparseMatrixRead
from hw.eie.writeback import WriteBack

SMALL = dict(pes=2, nnz_depth=64, ptr_depth=16, rows_per_pe=8, bias_depth=8, max_cols=16,
             max_layers=1, entries_per_word=2)


def cycles_to(dut, drive, release, output, limit=20):
    """Drive one input in cycle 0 (``drive(ctx)``, which returns whether it was
    taken), withdraw it (``release``), and count the cycles until ``output(ctx)``."""
    counted = []

    async def bench(ctx):
        assert drive(ctx), "the idle unit did not take the input"
        for n in range(1, limit):
            await ctx.tick()
            if n == 1:
                release(ctx)
            if output(ctx):
                counted.append(n)
                return

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert counted, f"no output within {limit} cycles"
    return counted[0]


@pytest.mark.parametrize("spram", [False, True])
def test_pointer_read_latency(spram):
    dut = PointerRead(EieConfig(**SMALL, spram=spram), 0)

    def drive(ctx):
        ctx.set(dut.span.ready, 1)
        ctx.set(dut.column.valid, 1)
        ctx.set(dut.column.payload.ptr, 3)
        return ctx.get(dut.column.ready)

    measured = cycles_to(dut, drive, lambda ctx: ctx.set(dut.column.valid, 0),
                         lambda ctx: ctx.get(dut.span.valid))
    assert measured == dut.latency


def test_sparse_matrix_read_latency():
    dut = SparseMatrixRead(EieConfig(**SMALL), 0)

    def drive(ctx):
        ctx.set(dut.span.valid, 1)
        ctx.set(dut.span.payload.start, 0)
        ctx.set(dut.span.payload.length, 1)
        ctx.set(dut.span.payload.some, 1)
        ctx.set(dut.span.payload.at_most_one, 1)
        return ctx.get(dut.span.ready)

    measured = cycles_to(dut, drive, lambda ctx: ctx.set(dut.span.valid, 0),
                         lambda ctx: ctx.get(dut.entry.valid))
    assert measured == dut.latency
    # The first entry issues the cycle after its column is taken.
    assert measured == 1 + dut.entry_latency


def test_arithmetic_unit_latency():
    # An entry is written to its accumulator in the last cycle `busy` shows
    # it: the cycle after that is the first it is not busy.
    dut = ArithmeticUnit(EieConfig(**SMALL), 0)

    def drive(ctx):
        ctx.set(dut.entry.valid, 1)
        ctx.set(dut.entry.payload.first, 1)
        ctx.set(dut.entry.payload.act, 3)
        return True  # always ready

    measured = cycles_to(dut, drive, lambda ctx: ctx.set(dut.entry.valid, 0),
                         lambda ctx: not ctx.get(dut.busy))
    assert measured - 1 == dut.latency


def test_write_back_latency():
    dut = WriteBack(EieConfig(**SMALL), 0)

    def drive(ctx):
        ctx.set(dut.start, 1)
        ctx.set(dut.keep, 1)
        return True

    measured = cycles_to(dut, drive, lambda ctx: ctx.set(dut.start, 0),
                         lambda ctx: ctx.get(dut.done))
    assert measured == dut.latency


def test_processing_element_write_back_latency():
    dut = ProcessingElement(EieConfig(**SMALL), 0)

    def drive(ctx):
        ctx.set(dut.wb_valid, 1)
        ctx.set(dut.wb_keep, 1)
        return True

    measured = cycles_to(dut, drive, lambda ctx: ctx.set(dut.wb_valid, 0),
                         lambda ctx: ctx.get(dut.wb_done))
    assert measured == dut.latency == dut.timing["writeback"]
