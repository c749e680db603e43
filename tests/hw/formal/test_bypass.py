"""Proof that the arithmetic unit's accumulator bypass (hw.eie.arithmetic)
gives the sums a memory without the read-after-write hazard would: every
drained accumulator equals the sum of ``codebook[index] * act`` of the
entries on its row, whatever the order and spacing of the entries.

Bounded: the accumulators' words are hidden in a memory, so the sums are
checked from reset for ``BOUND`` cycles: a codebook load, three entries
back to back and the drain of their row, two cycles after the unit is idle.
Three entries cover every hazard distance of the three-stage pipeline: an
entry on the row of the entry just before it (the bypass's case) and on
the row of the one two before (read after the write, from the memory),
each on any of the 4 rows, with 2-bit weights and activations. Longer
bounds grow fast with smtbmc and z3 (11 cycles take about a minute).
"""

from amaranth.hdl import Array, Assert, Assume, Module, Mux, ResetSignal, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In

from hw.eie.arithmetic import ArithmeticUnit
from hw.eie.config import MEMORIES, EieConfig
from hw.eie.spmat import entry_layout
from hw.memory import load_layout
from sw.flows.formal import prove

CONFIG = EieConfig(pes=1, index_bits=1, z_bits=2, act_bits=2, codebook_bits=2, bias_bits=2,
                   max_cols=2, rows_per_pe=4, max_layers=1, nnz_depth=8, ptr_depth=4,
                   bias_depth=1, entries_per_word=1)
BOUND = 10


class BypassSpec(wiring.Component):
    """The unit fed free entries, drains and codebook loads under the PE's
    rules (loads and drains only while it is idle, no entry while a drain
    is read), against accumulators summed at once."""

    entry: In(stream.Signature(entry_layout(CONFIG)))
    drain: In(1)
    drain_row: In(2)
    load: In(stream.Signature(load_layout(CONFIG)))

    def elaborate(self, platform):
        c = CONFIG
        m = Module()
        m.submodules.unit = unit = ArithmeticUnit(c, 0)
        e = self.entry.payload
        m.d.comb += [unit.entry.valid.eq(self.entry.valid), unit.entry.payload.eq(e),
                     unit.page.eq(0), unit.drain.eq(self.drain),
                     unit.drain_row.eq(self.drain_row),
                     unit.load.valid.eq(self.load.valid), unit.load.payload.eq(self.load.payload)]

        # The PE's rules. No reset after power-on: a reset clears no memory.
        m.d.comb += Assume(~ResetSignal())
        draining = Signal(2)  # cycles a drain's read and clear are still in flight
        m.d.sync += draining.eq(Mux(self.drain, 2, Mux(draining != 0, draining - 1, 0)))
        idle = ~unit.busy & ~self.entry.valid
        m.d.comb += [Assume(~self.drain | idle & ~self.load.valid),
                     Assume(~self.load.valid | (idle & ~self.drain & (draining == 0))),
                     Assume(~self.entry.valid | ~self.drain & (draining == 0))]

        # The reference: the codebook as loaded, and accumulators summed at once.
        codebook = Array(Signal(signed(c.codebook_bits), name=f"cb{k}") for k in range(2))
        beat = self.load.payload
        with m.If(self.load.valid & (beat.mem == MEMORIES["codebook"]) & (beat.pe == 0)
                  & ~beat.read):
            m.d.sync += codebook[beat.addr[:1]].eq(beat.data[:c.codebook_bits])
        acc = Array(Signal(signed(c.accumulator_bits), name=f"acc{k}") for k in range(4))
        row = Signal(8)
        prev_row = Signal(8)
        m.d.comb += row.eq(Mux(e.first, e.z, prev_row + e.z + 1))
        with m.If(self.entry.valid):
            # Real entries stay on the PE's rows (padding entries, of weight
            # zero, may run past them: not modelled here).
            m.d.comb += Assume(row < c.rows_per_pe)
            m.d.sync += [prev_row.eq(row), acc[row].eq(acc[row] + codebook[e.index] * e.act)]
        # A drain's value is on `acc` two cycles later: drains may follow
        # each other, of different rows (a write-back walks the rows).
        expected = [Signal(signed(c.accumulator_bits), name=f"expected{k}") for k in range(2)]
        checks = [Signal(name=f"check{k}") for k in range(2)]
        last_row = Signal(2)
        m.d.sync += [checks[0].eq(self.drain), checks[1].eq(checks[0]),
                     expected[1].eq(expected[0]), last_row.eq(self.drain_row)]
        with m.If(self.drain):
            m.d.comb += Assume(~checks[0] | (self.drain_row != last_row))
            m.d.sync += [expected[0].eq(acc[self.drain_row]), acc[self.drain_row].eq(0)]
        with m.If(checks[1]):
            m.d.comb += Assert(unit.acc == expected[1], "a drained sum differs from the reference")
        return m


def test_the_bypass_gives_a_memory_s_sums(tmp_path):
    prove(BypassSpec(), tmp_path, depth=BOUND, mode="bmc")
