"""Proofs of the UART (hw.uart), bounded: a byte sent is the byte received,
and a frame whose stop bit is low is flagged and not delivered.

Both are checked from reset for ``BOUND`` cycles at the fastest divisor
(4 cycles a bit): a frame takes 40, so every start time of a first frame
within the first few cycles, with every byte, is covered, and the
receiver's outcome falls inside the bound. They do not close by induction
without an invariant tying the transmitter's and the receiver's bit
counters and timers together, which these bounds make unnecessary for
one frame. They start from power-on and assume no reset after it: a reset
in the middle of a frame leaves the receiver's synchronizer (reset-less, as
a synchronizer is) holding the line's last bits, so it may then see part
of a frame, as the real line would show it.
"""

from amaranth.hdl import Assert, Assume, Cat, Const, Module, ResetSignal, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In

from hw.uart import UartRx, UartTx
from sw.flows.formal import prove

DIVISOR = 4
BOUND = 50


class LoopbackSpec(wiring.Component):
    """``UartTx`` into ``UartRx``: each byte received is the byte sent, and
    a line from a transmitter is never a framing error."""

    i: In(stream.Signature(8))
    ready: In(1)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += Assume(~ResetSignal())  # from power-on (see below)
        m.submodules.tx = tx = UartTx(DIVISOR)
        m.submodules.rx = rx = UartRx(DIVISOR)
        wiring.connect(m, wiring.flipped(self.i), tx.i)
        m.d.comb += [rx.rx.eq(tx.tx), rx.o.ready.eq(self.ready)]
        # The bytes sent and not yet received, oldest first: a byte's stop
        # bit is received after the transmitter has taken the next byte.
        sent = [Signal(8, name=f"sent{k}") for k in range(2)]
        pending = Signal(range(3))
        offered = Signal()
        m.d.sync += offered.eq(rx.o.valid)
        received = rx.o.valid & ~offered  # a new byte received
        taken = self.i.valid & self.i.ready
        with m.If(received):
            m.d.comb += [Assert(pending != 0, "a byte received that was not sent"),
                         Assert(rx.o.payload == sent[0], "the byte received is not the byte sent")]
            m.d.sync += sent[0].eq(sent[1])
        with m.If(taken):
            with m.If(pending - received == 0):
                m.d.sync += sent[0].eq(self.i.payload)
            with m.Else():
                m.d.sync += sent[1].eq(self.i.payload)
        m.d.sync += pending.eq(pending + taken - received)
        m.d.comb += Assert(pending + taken - received <= 2, "a byte sent over one in flight")
        m.d.comb += Assert(~rx.framing_error, "a transmitted frame flagged")
        return m


class FramingSpec(wiring.Component):
    """``UartRx`` on a line driven by a reference transmitter whose stop bit
    is free: a low stop bit is a framing error and delivers nothing; a high
    one delivers the byte; one or the other by the end of the stop bit plus
    the receiver's synchronizer."""

    go: In(1)
    byte: In(8)
    stop: In(1)
    ready: In(1)

    def elaborate(self, platform):
        m = Module()
        m.d.comb += Assume(~ResetSignal())
        m.submodules.rx = rx = UartRx(DIVISOR)
        m.d.comb += rx.o.ready.eq(self.ready)
        frame = Signal(10, init=0x3FF)  # the bits still to send, LSB first
        left = Signal(range(11))  # bit times still to send
        timer = Signal(range(DIVISOR))
        sent, stop = Signal(8), Signal()
        m.d.comb += rx.rx.eq(frame[0])
        # One frame: the transmitter idles once its frame is out (a second
        # frame would not fit in the bound).
        started = Signal()
        with m.If(left == 0):
            with m.If(self.go & ~started):
                m.d.sync += started.eq(1)
                m.d.sync += [frame.eq(Cat(Const(0, 1), self.byte, self.stop)), left.eq(10),
                             timer.eq(DIVISOR - 1), sent.eq(self.byte), stop.eq(self.stop)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            m.d.sync += [frame.eq(Cat(frame[1:], Const(1, 1))), left.eq(left - 1),
                         timer.eq(DIVISOR - 1)]
        done = Signal()  # the frame is out (its stop bit sent)
        since = Signal(range(8))  # cycles since
        with m.If(started & (left == 0)):
            m.d.sync += done.eq(1)
        with m.If(done & (since != 7)):
            m.d.sync += since.eq(since + 1)
        offered = Signal()
        m.d.sync += offered.eq(rx.o.valid)
        delivered, flagged = Signal(), Signal()
        with m.If(rx.o.valid & ~offered):
            m.d.comb += [Assert(stop, "a frame with a low stop bit delivered"),
                         Assert(rx.o.payload == sent, "the byte received is not the byte sent")]
            m.d.sync += delivered.eq(1)
        with m.If(rx.framing_error):
            m.d.comb += Assert(~stop, "a frame with a high stop bit flagged")
            m.d.sync += flagged.eq(1)
        with m.If(since == 3):
            m.d.comb += Assert(delivered | flagged, "a frame neither delivered nor flagged")
        return m


def test_a_byte_sent_is_the_byte_received(tmp_path):
    prove(LoopbackSpec(), tmp_path, depth=BOUND, mode="bmc", engine="sat")


def test_a_low_stop_bit_is_a_framing_error(tmp_path):
    prove(FramingSpec(), tmp_path, depth=BOUND, mode="bmc", engine="sat")
