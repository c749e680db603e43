"""Leading non-zero detection: the lowest set bit of a vector, by a tree;
and whether at most one bit is set, by another."""

from amaranth.hdl import C, Cat, Module, Mux
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["LeadingNonzero", "at_most_one"]


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
        The lowest set bit (meaningless when none is: check ``any``).

    Combinational; ``ceil(log2(width))`` levels of 2:1 multiplexers, so it
    stays fast where a priority chain over 128 words would not. The tree
    splits at powers of two, so each level's index is its half's index with
    one more bit on top: no adders.
    """

    def __init__(self, width):
        if not isinstance(width, int) or width < 1:
            raise ValueError(f"width must be a positive integer, not {width!r}")
        self._width = width
        super().__init__({"i": In(width), "any": Out(1), "index": Out(range(max(width, 2)))})

    def elaborate(self, platform):
        m = Module()

        def tree(lo, size):
            """(any, index) of bits lo..lo+size-1, size a power of two."""
            if lo >= self._width:
                return C(0, 1), C(0, size.bit_length() - 1)
            if size == 1:
                return self.i[lo], C(0, 0)
            any_lo, idx_lo = tree(lo, size // 2)
            any_hi, idx_hi = tree(lo + size // 2, size // 2)
            return any_lo | any_hi, Mux(any_lo, Cat(idx_lo, C(0, 1)), Cat(idx_hi, C(1, 1)))

        found, index = tree(0, 1 << max(0, (self._width - 1).bit_length()))
        m.d.comb += [self.any.eq(found), self.index.eq(index)]
        return m


def at_most_one(bits):
    """Whether at most one bit of ``bits`` is set.

    A tree of (none set, exactly one set) pairs: ``ceil(log2(width))`` levels
    of small gates, where ``bits & (bits - 1) == 0`` would put a carry chain
    after whatever drives ``bits``.
    """
    level = [(~b, b) for b in bits]
    while len(level) > 1:
        pairs = [(level[k], level[k + 1]) for k in range(0, len(level) - 1, 2)]
        level = [(n0 & n1, (o0 & n1) | (n0 & o1)) for (n0, o0), (n1, o1) in pairs] + (
            level[-1:] if len(level) % 2 else [])
    none, one = level[0]
    return none | one
