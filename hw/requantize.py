"""Requantize and ReLU: the output stage of every fixed-point datapath."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .pipeline import Pipelined, register_stage

__all__ = ["Requantize"]


class Requantize(Pipelined, wiring.Component):
    """``y = relu?(clamp(floor((x + 2**(shift-1)) / 2**shift)))``, per lane.

    Round half up, then saturate to a signed ``out_bits`` number, then
    (optionally) clamp negatives to zero, exactly as ``docs/numerics.md``
    and ``sw.spec.numerics.requantize`` say.

    Parameters
    ----------
    lanes : int
    in_bits : int
        Width of the signed input (an accumulator).
    shift : int
        Right shift, 0 to ``in_bits``.
    out_bits : int
        Width of the signed output, 1 to ``in_bits + 1``.
    relu : bool

    Ports
    -----
    i : In(stream) of ``lanes x signed(in_bits)``
    o : Out(stream) of ``lanes x signed(out_bits)``

    Latency ``latency`` cycles (its one register stage); throughput one beat
    per cycle.
    """

    def __init__(self, lanes, in_bits, *, shift, out_bits, relu=False):
        if not isinstance(lanes, int) or lanes < 1:
            raise ValueError(f"lane count must be an integer >= 1, not {lanes!r}")
        if not isinstance(in_bits, int) or in_bits < 1:
            raise ValueError(f"input width must be an integer >= 1, not {in_bits!r}")
        if not isinstance(shift, int) or not 0 <= shift <= in_bits:
            raise ValueError(f"shift must be an integer from 0 to the input width {in_bits}, "
                             f"not {shift!r}")
        if not isinstance(out_bits, int) or not 1 <= out_bits <= in_bits + 1:
            raise ValueError(f"output width must be an integer from 1 to {in_bits + 1}, "
                             f"not {out_bits!r}")
        self._lanes, self._in_bits = lanes, in_bits
        self._shift, self._out_bits, self._relu = shift, out_bits, bool(relu)
        super().__init__({
            "i": In(stream.Signature(data.ArrayLayout(signed(in_bits), lanes))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(out_bits), lanes))),
        })

    def build(self, platform, path):
        m = Module()
        lo, hi = -(1 << (self._out_bits - 1)), (1 << (self._out_bits - 1)) - 1
        moves = []
        for lane in range(self._lanes):
            x = self.i.payload[lane]
            half = (1 << self._shift) >> 1
            # One extra bit so the rounding increment cannot wrap.
            rounded = Signal(signed(self._in_bits + 1), name=f"rounded{lane}")
            m.d.comb += rounded.eq((x + half) >> self._shift)
            low = 0 if self._relu else lo
            clamped = Mux(rounded > hi, hi, Mux(rounded < low, low, rounded))
            moves.append((self.o.payload[lane], clamped))
        valid, ready = register_stage(m, self.i.valid, self.i.ready, moves, name="requantize",
                                      path=path)
        m.d.comb += [self.o.valid.eq(valid), ready.eq(self.o.ready)]
        return m
