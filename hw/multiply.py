"""Signed multiplication, either for a hard DSP block or spelled out for LUTs."""

from amaranth.hdl import Mux, Value

__all__ = ["multiply"]


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
