"""The host link's receive FIFO: bytes in a block RAM ring, the least logic that
holds them."""

from amaranth.hdl import Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["ByteFifo"]


class ByteFifo(wiring.Component):
    """A ring of ``depth`` bytes (a power of two) holding ``depth - 1`` of them.

    A write pointer, a read pointer and the memory's registered read port,
    whose data register is the output stage: on a small FPGA the link's
    whole FIFO is two counters, a comparison and the block RAM
    (``amaranth.lib.fifo.SyncFIFOBuffered`` costs about twice the logic).

    Ports
    -----
    i : In(stream) of 8 bits
        Ready while there is room.
    o : Out(stream) of 8 bits
        The oldest byte.

    Latency: a byte written is offered two cycles later; throughput one
    byte a cycle each way.
    """

    def __init__(self, depth):
        if depth < 4 or depth & (depth - 1):
            raise ValueError(f"the FIFO's depth must be a power of two >= 4, not {depth}")
        self._depth = depth
        super().__init__({"i": In(stream.Signature(8)), "o": Out(stream.Signature(8))})

    def elaborate(self, platform):
        m = Module()
        bits = self._depth.bit_length() - 1
        m.submodules.memory = memory = Memory(shape=8, depth=self._depth, init=[])
        wr, rd = memory.write_port(), memory.read_port()
        w, r = Signal(bits), Signal(bits)
        m.d.comb += [self.i.ready.eq((w + 1)[:bits] != r),
                     wr.addr.eq(w), wr.data.eq(self.i.payload),
                     wr.en.eq(self.i.valid & self.i.ready)]
        with m.If(wr.en):
            m.d.sync += w.eq(w + 1)
        # The read port's data register is the output: it holds while not read.
        fetch = (w != r) & (~self.o.valid | self.o.ready)
        m.d.comb += [rd.addr.eq(r), rd.en.eq(fetch), self.o.payload.eq(rd.data)]
        with m.If(fetch):
            m.d.sync += [r.eq(r + 1), self.o.valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m
