"""Leading non-zero detection: the lowest set bit of a vector, by a tree."""

from amaranth.hdl import Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["LeadingNonzero"]


class LeadingNonzero(wiring.Component):
    """Index of the lowest set bit of ``i`` (EIE's LNZD, as a binary tree).

    Parameters
    ----------
    width : int
        Bits examined.

    Ports
    -----
    i : In(width)
    any : Out(1)
        Some bit of ``i`` is set.
    index : Out(range(width))
        The lowest set bit (0 when none is).

    Combinational; ``ceil(log2(width))`` levels of 2:1 multiplexers, so it
    stays fast where a priority chain over 128 words would not.
    """

    def __init__(self, width):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        self._width = width
        super().__init__({"i": In(width), "any": Out(1), "index": Out(range(max(width, 2)))})

    def elaborate(self, platform):
        m = Module()

        def tree(lo, hi):
            """(any, index) of bits lo..hi-1."""
            if hi - lo == 1:
                return self.i[lo], 0
            mid = (lo + hi + 1) // 2
            any_lo, idx_lo = tree(lo, mid)
            any_hi, idx_hi = tree(mid, hi)
            return any_lo | any_hi, Mux(any_lo, idx_lo, (mid - lo) + idx_hi)

        found, index = tree(0, self._width)
        m.d.comb += [self.any.eq(found), self.index.eq(index)]
        return m
