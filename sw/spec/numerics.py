"""Fixed-point arithmetic shared by every golden model and every generator.

Everything here is written down in ``docs/numerics.md``; this module is that
document in code. Values are plain Python / numpy integers (two's complement
mantissas); the radix point is bookkeeping the caller carries.
"""

import numpy as np

__all__ = [
    "signed_range", "unsigned_range", "signed_bits_for", "accumulator_bits",
    "requantize", "relu", "average", "quantize", "check_fits", "naf",
]


def signed_range(bits):
    """Inclusive range ``(lo, hi)`` of a ``bits``-wide two's complement number."""
    if bits < 1:
        raise ValueError(f"a signed width must be at least 1 bit, not {bits}")
    return -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def unsigned_range(bits):
    """Inclusive range ``(lo, hi)`` of a ``bits``-wide unsigned number."""
    return 0, (1 << bits) - 1


def signed_bits_for(lo, hi):
    """Smallest two's complement width holding every integer in ``[lo, hi]``."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits


def accumulator_bits(act_bits, weight_bits, max_inputs, bias_bits=0):
    """Accumulator width that cannot overflow.

    It holds the sum of ``max_inputs`` products of an ``act_bits`` activation
    and a ``weight_bits`` weight, plus a ``bias_bits`` bias (0: no bias), for
    every possible input: the worst cases are all products at their most
    negative or most positive value.
    """
    a_lo, a_hi = signed_range(act_bits)
    w_lo, w_hi = signed_range(weight_bits)
    corners = [a * w for a in (a_lo, a_hi) for w in (w_lo, w_hi)]
    b_lo, b_hi = signed_range(bias_bits) if bias_bits else (0, 0)
    return signed_bits_for(max_inputs * min(corners) + b_lo,
                           max_inputs * max(corners) + b_hi)


def requantize(acc, shift, out_bits):
    """Scale an accumulator down by ``2**shift``: round half up, then saturate.

    ``y = clamp(floor((acc + 2**(shift-1)) / 2**shift), lo, hi)`` with
    ``(lo, hi)`` the range of a signed ``out_bits`` number; no rounding term
    when ``shift`` is 0. Works element-wise on integer arrays (int64; the
    caller keeps widths below 63 bits).
    """
    acc = np.asarray(acc, dtype=np.int64)
    if shift < 0:
        raise ValueError(f"the requantize shift must be >= 0, not {shift}")
    rounded = (acc + ((1 << shift) >> 1)) >> shift  # >> on int64 is floor division
    lo, hi = signed_range(out_bits)
    return np.clip(rounded, lo, hi)


def relu(x):
    """max(x, 0), element-wise, on integers."""
    return np.maximum(np.asarray(x, dtype=np.int64), 0)


def average(total, count):
    """Mean of ``count`` integers summing to ``total``: round half up, exact.

    ``floor((2 total + count) / (2 count))``, element-wise; ``count >= 1``.
    The mean of integers lies between their extremes, so it needs no
    saturation. Average pooling (``docs/numerics.md``).
    """
    total = np.asarray(total, dtype=np.int64)
    count = np.asarray(count, dtype=np.int64)
    if (count < 1).any():
        raise ValueError("an average needs at least one value (count >= 1)")
    return (2 * total + count) // (2 * count)  # // on int64 is floor division


def quantize(x, frac, bits):
    """Real values as ``bits``-wide mantissas with ``frac`` fraction bits.

    ``clamp(floor(x * 2**frac + 1/2), lo, hi)``: round half up and saturate,
    like ``requantize``. Returns ``(mantissas, saturated)``, the count of
    values clamped. The scaling by a power of two is exact in floating point,
    so the result depends on nothing but ``x``.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all():
        raise ValueError("inputs hold NaN or infinite values")
    lo, hi = signed_range(bits)
    rounded = np.floor(np.ldexp(x, frac) + 0.5)
    saturated = int(np.count_nonzero((rounded < lo) | (rounded > hi)))
    return np.clip(rounded, lo, hi).astype(np.int64), saturated


def check_fits(name, values, bits, signed=True, option=None):
    """Raise ``ValueError`` unless every value fits a ``bits``-wide integer;
    ``option`` names the command-line option that widens it."""
    values = np.asarray(values)
    if values.size == 0:
        return
    if not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, not {values.dtype}")
    lo, hi = signed_range(bits) if signed else unsigned_range(bits)
    vmin, vmax = int(values.min()), int(values.max())
    if vmin < lo or vmax > hi:
        kind = "signed" if signed else "unsigned"
        bad = vmin if vmin < lo else vmax
        raise ValueError(f"{name} holds {bad}, outside the {bits}-bit {kind} range "
                         f"[{lo}, {hi}]: widen the format"
                         f"{f' ({option})' if option else ''} or rescale the data")


def naf(c):
    """Non-adjacent form of the integer ``c``: ``[(shift, +1 or -1), ...]``.

    ``c == sum(d << s for s, d in naf(c))`` with no two adjacent non-zero
    digits: the fewest additions that multiply by a constant with shifts
    (``hw.multiply.times_constant``).
    """
    digits, s = [], 0
    c = int(c)
    while c:
        if c & 1:
            d = 2 - (c & 3)          # +1 if c = 1 mod 4, -1 if c = 3 mod 4
            digits.append((s, d))
            c -= d
        c >>= 1
        s += 1
    return digits
