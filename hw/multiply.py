"""Signed multiplication, either for a hard DSP block or spelled out for LUTs."""

from amaranth.hdl import Const, Mux, Value

from sw.spec.numerics import naf

__all__ = ["multiply", "times_constant", "balanced_sum"]


def multiply(a, b, *, in_luts=False):
    """``a * b`` of two signed values, exact (``len(a) + len(b)`` bits).

    Synthesis maps a plain ``*`` to a DSP block whenever it can, and Yosys
    has no budget for them: on a device with 8 DSPs the 9th multiplier
    fails placement. ``in_luts=True`` writes the product as a sum of shifted
    partial products (the sign bit of ``b`` weighs ``-2**(n-1)``), which
    synthesis builds from LUTs and carry chains instead.
    """
    if not in_luts:
        return a * b
    a, b = Value.cast(a), Value.cast(b)
    n = len(b)
    terms = [Mux(b[i], a << i, 0) for i in range(n - 1)]
    total = sum(terms[1:], terms[0]) if terms else 0
    return total - Mux(b[n - 1], a << (n - 1), 0)


def balanced_sum(terms):
    """Sum of Amaranth values as a balanced tree of adders (depth log2 n, not n)."""
    terms = list(terms)
    if not terms:
        return Const(0)
    while len(terms) > 1:
        terms = [terms[k] + terms[k + 1] if k + 1 < len(terms) else terms[k]
                 for k in range(0, len(terms), 2)]
    return terms[0]


def times_constant(x, c):
    """``x * c`` for an integer constant ``c``, with shifts and adders only.

    One adder per non-zero digit of ``c``'s non-adjacent form, beyond the
    first: a plain ``*`` by a constant would let synthesis spend a DSP block
    on what a transform needs only adders for.
    """
    x = Value.cast(x)
    digits = naf(c)
    if not digits:
        return Const(0)
    pos = [x << s for s, d in digits if d > 0]
    neg = [x << s for s, d in digits if d < 0]
    if not pos:
        return -balanced_sum(neg)
    return balanced_sum(pos) - balanced_sum(neg) if neg else balanced_sum(pos)
