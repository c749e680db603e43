"""A serial I/O shell for out-of-context place-and-route."""

from amaranth.hdl import Cat, Elaboratable, Module, Signal, Value
from amaranth.lib.wiring import In

__all__ = ["SerialShell"]


class SerialShell(Elaboratable):
    """Wrap a component so it fits a package's pins for timing analysis.

    Every input port of ``core`` is driven from a flip-flop of a shift register
    fed by pin ``si``; every output port is captured in a flip-flop and shifted
    out of pin ``so`` (parallel load while ``load`` is high). Nothing of the
    core can be optimized away and every core path starts and ends at a
    flip-flop, so nextpnr's Fmax is the core's own. Used only by synthesis
    reports; its cells are not counted as the core's.
    """

    def __init__(self, core):
        self.core = core
        self.si = Signal()
        self.load = Signal()
        self.so = Signal()

    @property
    def ports(self):
        return [self.si, self.load, self.so]

    def elaborate(self, platform):
        m = Module()
        m.submodules.core = core = self.core
        inputs, outputs = [], []
        for _, member, value in core.signature.flatten(core):
            # Views (stream payloads) flatten to their bits.
            (inputs if member.flow == In else outputs).append(Value.cast(value))
        shift_in = Signal(sum(len(v) for v in inputs))
        m.d.sync += shift_in.eq(Cat(self.si, shift_in[:-1]))
        m.d.comb += Cat(*inputs).eq(shift_in)
        capture = Signal(sum(len(v) for v in outputs))
        with m.If(self.load):
            m.d.sync += capture.eq(Cat(*outputs))
        with m.Else():
            m.d.sync += capture.eq(capture >> 1)
        m.d.comb += self.so.eq(capture[0])
        return m
