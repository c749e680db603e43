"""Proofs of the two stages every datapath is built from (hw.pipeline):
nothing dropped, nothing duplicated, payload stable while valid and not
ready, by k-induction (they hold at every depth)."""

from amaranth.hdl import Assert, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.pipeline import Path, accumulate_stage, register_stage
from sw.flows.formal import prove

#: Beats counted modulo 2**COUNT_BITS; the stages hold at most one.
COUNT_BITS = 4


def held_still(m, port):
    """Assert the stream ``port`` keeps its beat while it is offered and not taken."""
    stalled = Signal()
    payload = Signal.like(port.payload)
    m.d.sync += [stalled.eq(port.valid & ~port.ready), payload.eq(port.payload)]
    with m.If(stalled):
        m.d.comb += Assert(port.valid, "a beat offered was withdrawn")
        m.d.comb += Assert(port.payload == payload, "a beat offered changed")


def count(m, name, event):
    """A counter of ``event`` (modulo ``2**COUNT_BITS``)."""
    counter = Signal(COUNT_BITS, name=name)
    with m.If(event):
        m.d.sync += counter.eq(counter + 1)
    return counter


class RegisterStageSpec(wiring.Component):
    """One ``register_stage`` between free stream ends, and what it must do."""

    i: In(stream.Signature(8))
    o: Out(stream.Signature(8))

    def elaborate(self, platform):
        m = Module()
        held = Signal(8)
        valid, ready = register_stage(m, self.i.valid, self.i.ready, [(held, self.i.payload)],
                                      name="stage", path=Path())
        m.d.comb += [self.o.valid.eq(valid), self.o.payload.eq(held), ready.eq(self.o.ready)]

        into = count(m, "into", self.i.valid & self.i.ready)
        out = count(m, "out", self.o.valid & self.o.ready)
        last_in = Signal(8)  # the last beat taken
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += last_in.eq(self.i.payload)
        # Every beat taken leaves once, in order, unchanged: the stage holds
        # one beat, the last taken, exactly while it offers one.
        m.d.comb += Assert((into - out)[:COUNT_BITS] == self.o.valid, "a beat dropped or doubled")
        with m.If(self.o.valid):
            m.d.comb += Assert(self.o.payload == last_in, "the beat offered is not the one taken")
        # Full throughput: it takes a beat whenever it is empty or emptying.
        m.d.comb += Assert(self.i.ready == (~self.o.valid | self.o.ready), "a needless stall")
        held_still(m, self.o)
        return m


def accumulated(x_bits):
    return data.StructLayout({"x": signed(x_bits), "last": 1})


class AccumulateStageSpec(wiring.Component):
    """An ``accumulate_stage`` summing ``x`` over the beats up to each
    ``last``, and what it must do: one sum a ``last`` beat, of exactly the
    beats taken since the one before, held until taken."""

    i: In(stream.Signature(accumulated(4)))
    o: Out(stream.Signature(signed(8)))

    def elaborate(self, platform):
        m = Module()
        beat = self.i.payload
        first = Signal(init=1)  # the next beat starts a sum
        acc = Signal(signed(8))
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += first.eq(beat.last)
        done, done_ready = accumulate_stage(m, self.i.valid, self.i.ready, beat.last,
                                            [(acc, Mux(first, beat.x, acc + beat.x))],
                                            name="acc", path=Path())
        m.d.comb += [self.o.valid.eq(done), self.o.payload.eq(acc), done_ready.eq(self.o.ready)]

        # The reference: the beats taken since the last `last`, summed.
        running = Signal(signed(8))
        expected = Signal(signed(8))
        with m.If(self.i.valid & self.i.ready):
            with m.If(beat.last):
                m.d.sync += [expected.eq(running + beat.x), running.eq(0)]
            with m.Else():
                m.d.sync += running.eq(running + beat.x)
        sums = count(m, "sums", self.i.valid & self.i.ready & beat.last)
        out = count(m, "out", self.o.valid & self.o.ready)
        m.d.comb += Assert((sums - out)[:COUNT_BITS] == self.o.valid, "a sum dropped or doubled")
        with m.If(self.o.valid):
            m.d.comb += Assert(self.o.payload == expected, "a wrong sum")
            # A sum waiting to be taken takes no beat (it would be lost).
            m.d.comb += Assert(~self.i.ready | self.o.ready, "a beat taken over a held sum")
        # The invariant the induction needs: between sums, the register
        # holds the running sum.
        with m.If(~self.o.valid & ~first):
            m.d.comb += Assert(acc == running)
        with m.If(first):
            m.d.comb += Assert(running == 0)
        with m.If(self.o.valid):
            m.d.comb += Assert(first)
        held_still(m, self.o)
        return m


def test_register_stage_drops_and_doubles_nothing(tmp_path):
    prove(RegisterStageSpec(), tmp_path, depth=3)


def test_accumulate_stage_sums_each_dot_product_once(tmp_path):
    prove(AccumulateStageSpec(), tmp_path, depth=3)
