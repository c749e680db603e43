"""Requantize and ReLU: the output stage of every fixed-point datapath, with a
shift fixed at generation (``Requantize``) or brought by each layer at run
time (``requantize_at_run_time``)."""

from amaranth.hdl import Module, Mux, Signal, Value, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .pipeline import Pipelined, register_stage

__all__ = ["Requantize", "requantize_at_run_time"]


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


def requantize_at_run_time(m, x, *, coarse_shift, rounding, relu, out_bits, path=None,
                           along=None):
    """Requantize ``x`` by a shift ``s`` known only at run time (a layer's).

    ``floor((x + 2**(s-1)) / 2**s)``, saturated to a signed ``out_bits``
    number and, with ``relu``, clamped at zero: the same function as
    ``Requantize`` (``docs/numerics.md``), for the engines whose layers each
    bring their own shift (the EIE write-back, the dense engine).

    Round half up takes one barrel shifter: ``floor((x + 2**(s-1)) / 2**s)``
    equals ``((x >> (s - 1)) + 1) >> 1`` for ``s >= 1``, so the shift
    arrives decoded, ``coarse_shift = max(s - 1, 0)`` and ``rounding = s > 0``.
    Saturation looks at the bits above the result's sign rather than
    spending two more carry chains on comparisons: over the top when the value
    is non-negative and any of them is set, under the bottom when negative
    and not all are (or, with ReLU, when negative at all).

    Parameters
    ----------
    m : Module
    x : Value
        The signed value.
    coarse_shift, rounding, relu : Value
        The decoded shift and the ReLU flag (stable while a layer runs).
    out_bits : int
    path : hw.pipeline.Path, optional
        With a path, the coarse shift and the rounding are each registered
        (two stages on it, for a fast clock), and so is each of ``along``;
        without one, everything is combinational.
    along : dict of str to Value, optional
        Flags that ride with ``x`` through those registers.

    Returns
    -------
    (value, nonzero, along) : (Value, Value, dict)
        The result and whether it is non-zero, both combinational from the
        last register (the caller registers them), and ``along`` delayed to
        match.
    """
    along = dict(along or {})
    relu = Value.cast(relu)

    def stage(what, shape, value):
        """``value`` as is, or registered in a new stage of ``path`` with ``along``."""
        nonlocal along
        if path is None:
            wire = Signal(shape, name=what)
            m.d.comb += wire.eq(value)
            return wire
        name = path.stage()
        reg = path.signal(name, what, shape)
        moved = {flag: path.signal(name, flag) for flag in along}
        m.d.sync += [reg.eq(value), *(moved[flag].eq(along[flag]) for flag in along)]
        along = moved
        return reg

    # A right shift cannot widen x; the rounding increment can, by one bit.
    coarse = stage("coarse", signed(len(x)), x >> coarse_shift)
    rounded = stage("rounded", signed(len(x) + 1), Mux(rounding, (coarse + 1) >> 1, coarse))
    top = rounded[out_bits - 1:]
    sign = rounded[-1]
    hi, lo = (1 << (out_bits - 1)) - 1, -(1 << (out_bits - 1))
    over = ~sign & top.any()
    under = sign & (relu | ~top.all())
    value = Mux(over, hi, Mux(under, Mux(relu, 0, lo), rounded[:out_bits].as_signed()))
    nonzero = Mux(over, 1, Mux(under, ~relu, rounded[:out_bits] != 0))
    return value, nonzero, along
