"""Pipelined adder trees, several in lock-step, with a side-band tag."""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .pipeline import Pipelined, register_stage

__all__ = ["AdderTree"]

_signed = signed  # the constructor's ``signed`` flag shadows the shape


def tree_levels(terms):
    """Number of pairwise addition levels that reduce ``terms`` values to one."""
    return max(terms - 1, 0).bit_length()


class AdderTree(Pipelined, wiring.Component):
    """``lanes`` binary adder trees summing ``terms`` signed numbers each.

    Parameters
    ----------
    lanes : int
        Independent trees sharing one handshake.
    terms : int
        Numbers summed per tree (1 or more).
    width : int
        Width of each term.
    signed : bool
        Terms and sums are two's complement (default) or unsigned; unsigned
        one-bit terms make the tree a popcount.
    regs_every : int
        A register after every ``regs_every`` adder levels (and after the last
        level); 0 makes the tree combinational.
    tag_shape : shape-castable
        Side-band data carried alongside, delayed to match (e.g. first/last
        flags); give ``0`` for none.

    Ports
    -----
    i : In(stream) of ``{"terms": lanes x terms x signed(width), "tag": tag_shape}``
    o : Out(stream) of ``{"sums": lanes x signed(sum_width), "tag": tag_shape}``
        (``unsigned`` in place of ``signed`` when ``signed=False``)

    The sums are exact: ``sum_width = width + ceil(log2(terms))``.
    Latency ``latency`` (= ``stages``) cycles, the register stages built:
    ``ceil(levels / regs_every)``, 0 when combinational; throughput one beat
    per cycle.
    """

    def __init__(self, lanes, terms, width, *, regs_every=1, tag_shape=0, signed=True):
        for name, value, low in (("lane count", lanes, 1), ("term count", terms, 1),
                                 ("term width", width, 1), ("register spacing", regs_every, 0)):
            if not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, not {value!r}")
        self._lanes, self._terms, self._width = lanes, terms, width
        self._regs_every = regs_every
        self._levels = tree_levels(terms)
        self._tag_shape = tag_shape
        self._shape = _signed if signed else unsigned
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "terms": data.ArrayLayout(data.ArrayLayout(self._shape(width), terms), lanes),
                "tag": tag_shape}))),
            "o": Out(stream.Signature(data.StructLayout({
                "sums": data.ArrayLayout(self._shape(self.sum_width), lanes),
                "tag": tag_shape}))),
        })

    @property
    def sum_width(self):
        return self._width + self._levels

    @property
    def stages(self):
        """Register stages, which is also the latency in cycles."""
        return self.latency

    def build(self, platform, path):
        m = Module()
        lanes = [[self.i.payload.terms[l][k] for k in range(self._terms)]
                 for l in range(self._lanes)]
        tag = self.i.payload.tag
        valid, ready = self.i.valid, self.i.ready
        for level in range(1, self._levels + 1):
            width = self._width + level
            lanes = [[row[k] + row[k + 1] if k + 1 < len(row) else row[k]
                      for k in range(0, len(row), 2)] for row in lanes]
            last = level == self._levels
            if self._regs_every and (level % self._regs_every == 0 or last):
                regs = [[Signal(self._shape(width), name=f"l{level}_lane{l}_{k}")
                         for k in range(len(row))] for l, row in enumerate(lanes)]
                tag_reg = Signal(self._tag_shape, name=f"l{level}_tag")
                moves = [(r, v) for reg_row, row in zip(regs, lanes) for r, v in zip(reg_row, row)]
                valid, ready = register_stage(m, valid, ready, moves + [(tag_reg, tag)],
                                              name=f"level{level}", path=path)
                lanes, tag = regs, tag_reg
        m.d.comb += [
            self.o.valid.eq(valid),
            ready.eq(self.o.ready),
            self.o.payload.tag.eq(tag),
        ]
        m.d.comb += [self.o.payload.sums[l].eq(row[0]) for l, row in enumerate(lanes)]
        return m
