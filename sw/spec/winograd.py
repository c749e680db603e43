"""Winograd minimal filtering F(m x m, r x r): the transforms and datapath widths
the tile in ``hw/`` is built from (the tiled layer's golden model is
``sw.golden.winograd``).

The transforms come from the Cook-Toom construction (Lavin and Gray, "Fast
Algorithms for Convolutional Neural Networks", 2016). Pick ``n - 1`` finite
interpolation points plus infinity, ``n = m + r - 1``; with ``V`` the n x n
matrix that evaluates a polynomial of n coefficients at them, and ``E_r``,
``E_m`` its first ``r`` and ``m`` columns (the row of infinity picks the
leading coefficient), the linear convolution of a filter g and a signal h is
``V^-1 [(E_r g) * (E_m h)]``. Correlation is its transpose, so

    y = A^T [(G g) * (B^T d)]   with   A^T = E_m^T,  G = E_r,  B^T = V^-T.

In 2-D, ``Y = A^T [(G g G^T) * (B^T d B)] A``: ``n^2`` multiplies for ``m^2``
outputs instead of ``m^2 r^2``.

The exact transforms hold fractions. eiegen rescales them to integers
(``docs/numerics.md``): every row of G and of B^T becomes the primitive
integer vector along it, and A^T's columns absorb the factors taken out,
times one common integer S (the smallest that makes A^T integral):

    Y = A'^T [(G' g G'^T) * (B'^T d B')] A' / S^2,

a division that is exact whenever the Winograd-domain weights come from a
spatial filter. The hardware divides by shifting out the power of two in
S^2 and multiplying by the inverse of its odd part modulo 2^out_bits.

A layer runs as tiles: the image is cut into n x n input tiles at stride m
(zero-padded at the far edges), channels are summed in the Winograd domain,
``M = sum_c U[k, c] * V[c]``, and each output tile is ``A'^T M A' / S^2``.
"""

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from sw.spec.numerics import naf, signed_bits_for, signed_range

__all__ = ["MAX_POINTS", "DEFAULT_POINTS", "Transforms", "cook_toom", "check_tile_size",
           "tile_widths", "odd_inverse"]

#: Finite interpolation points tried in order: small magnitudes keep the
#: transforms' integers (and so the datapath) narrow.
DEFAULT_POINTS = (Fraction(0), Fraction(1), Fraction(-1), Fraction(2), Fraction(-2),
                  Fraction(1, 2), Fraction(-1, 2))
#: n = m + r - 1 is at most this: past it the transforms' integers (and the
#: datapath widths) grow too fast to be worth a multiplier saved.
MAX_POINTS = len(DEFAULT_POINTS) + 1
MAX_M, MAX_R = 6, 7


def check_tile_size(m, r):
    """``ValueError`` with the supported range unless F(m x m, r x r) is supported."""
    for name, value, hi, option in (("output tile size m", m, MAX_M, "--m"),
                                    ("filter size r", r, MAX_R, "--r")):
        if isinstance(value, bool) or not isinstance(value, int) or not 2 <= value <= hi:
            raise ValueError(f"{name} must be an integer from 2 to {hi}, not {value!r} "
                             f"(option {option})")
    if m + r - 1 > MAX_POINTS:
        raise ValueError(f"F({m}x{m}, {r}x{r}) needs {m + r - 1} interpolation points; "
                         f"eiegen supports m + r - 1 <= {MAX_POINTS}: lower --m")


def _inverse(mat):
    """Inverse of a square matrix of Fractions (Gauss-Jordan, exact)."""
    n = len(mat)
    aug = [list(row) + [Fraction(int(i == j)) for j in range(n)] for i, row in enumerate(mat)]
    for col in range(n):
        pivot = next(i for i in range(col, n) if aug[i][col] != 0)
        aug[col], aug[pivot] = aug[pivot], aug[col]
        p = aug[col][col]
        aug[col] = [v / p for v in aug[col]]
        for i in range(n):
            if i != col and aug[i][col] != 0:
                f = aug[i][col]
                aug[i] = [a - f * b for a, b in zip(aug[i], aug[col])]
    return [row[n:] for row in aug]


def _primitive(vec):
    """``vec = factor * ints`` with ``ints`` coprime integers, first non-zero positive."""
    den = math.lcm(*(v.denominator for v in vec))
    ints = [int(v * den) for v in vec]
    g = math.gcd(*ints)
    sign = -1 if next(v for v in ints if v) < 0 else 1
    ints = [sign * v // g for v in ints]
    return Fraction(sign * g, den), ints


@dataclass(frozen=True)
class Transforms:
    """The exact and the integer-scaled transforms of F(m x m, r x r).

    Attributes
    ----------
    m, r, n : int
        Outputs per tile side, filter side, input tile side (``m + r - 1``).
    points : tuple of Fraction
        The ``n - 1`` finite interpolation points (infinity is the last).
    AT, G, BT : tuple of tuples of Fraction
        Exact transforms: ``y = AT [(G g) * (BT d)]`` (shapes m x n, n x r, n x n).
    at, g, bt : numpy.ndarray of int64
        The integer transforms A'^T, G', B'^T.
    scale : int
        S: ``Y = at [(g w g^T) * (bt d bt^T)] at^T / S^2``.
    """
    m: int
    r: int
    n: int
    points: tuple
    AT: tuple
    G: tuple
    BT: tuple
    at: np.ndarray
    g: np.ndarray
    bt: np.ndarray
    scale: int

    @property
    def divisor(self):
        """S^2, the exact divisor of a 2-D output tile."""
        return self.scale ** 2


def cook_toom(m, r, points=None):
    """The transforms of F(m x m, r x r) from ``points`` (default ``DEFAULT_POINTS``).

    ``points`` are the ``m + r - 2`` distinct finite interpolation points
    (numbers or Fractions); infinity is always added as the last one.
    """
    check_tile_size(m, r)
    n = m + r - 1
    pts = list(DEFAULT_POINTS[:n - 1]) if points is None else [Fraction(p) for p in points]
    if len(pts) != n - 1:
        raise ValueError(f"F({m}x{m}, {r}x{r}) needs {n - 1} finite interpolation points, "
                         f"not {len(pts)}")
    if len(set(pts)) != len(pts):
        raise ValueError(f"interpolation points must be distinct, not {pts}")

    def evaluation(cols):
        # A polynomial of `cols` coefficients at every point; infinity picks
        # the leading coefficient.
        rows = [[p ** j for j in range(cols)] for p in pts]
        return rows + [[Fraction(int(j == cols - 1)) for j in range(cols)]]

    v_inv = _inverse(evaluation(n))
    e_m, e_r = evaluation(m), evaluation(r)
    AT = [[e_m[k][i] for k in range(n)] for i in range(m)]
    G = e_r
    BT = [[v_inv[j][k] for j in range(n)] for k in range(n)]

    # Integer scaling: G and B^T rows primitive, their factors (and a common
    # S) moved into A^T's columns, where they cost only adders.
    factors, g_int, bt_int = [], [], []
    for k in range(n):
        fg, gk = _primitive(G[k])
        fb, bk = _primitive(BT[k])
        factors.append(fg * fb)
        g_int.append(gk)
        bt_int.append(bk)
    cols = [[AT[i][k] * factors[k] for i in range(m)] for k in range(n)]
    scale = math.lcm(*(v.denominator for col in cols for v in col))
    at_int = [[int(cols[k][i] * scale) for k in range(n)] for i in range(m)]
    freeze = lambda rows: tuple(tuple(row) for row in rows)  # noqa: E731
    return Transforms(m, r, n, tuple(pts), freeze(AT), freeze(G), freeze(BT),
                      np.array(at_int, dtype=np.int64), np.array(g_int, dtype=np.int64),
                      np.array(bt_int, dtype=np.int64), scale)


# ---------------------------------------------------------------- widths

def _linear_range(coeffs, lo, hi):
    """Range of ``sum c_i x_i`` over ``lo <= x_i <= hi`` (exact integers)."""
    low = sum(c * (lo if c > 0 else hi) for c in coeffs)
    high = sum(c * (hi if c > 0 else lo) for c in coeffs)
    return int(low), int(high)


def _forms_range(mat2d_rows, lo, hi):
    """Range over several linear forms (each a coefficient list) of one box."""
    ranges = [_linear_range(row, lo, hi) for row in mat2d_rows]
    return min(r[0] for r in ranges), max(r[1] for r in ranges)


def _forms_2d(a):
    """Coefficients of every ``(a X a^T)[i, j]`` as flat lists."""
    return [np.outer(a[i], a[j]).ravel().tolist() for i in range(len(a)) for j in range(len(a))]


def tile_widths(t, act_bits, weight_bits, max_channels, *, domain="spatial", relu=False):
    """Signed width of every datapath stage of a tile; see docs/numerics.md.

    Each width holds the exact range of its stage for every input in range:
    a linear form ``sum c_i x_i`` over a box spans ``[sum c_i*(lo or hi), ...]``.

    Parameters
    ----------
    t : Transforms
    act_bits : int
        Width of the spatial activations d.
    weight_bits : int
        ``domain="spatial"``: width of the spatial filter taps g (the
        Winograd-domain weights ``U = G' g G'^T`` are wider, ``u_bits``).
        ``domain="winograd"``: width of U itself.
    max_channels : int
        Most input channels summed in the Winograd domain.
    domain : "spatial" or "winograd"
        Spatial: the output is divided by S^2 and equals the correlation.
        Winograd: the output is ``A'^T M A'`` undivided (the weights need not
        come from a spatial filter, so S^2 need not divide it).
    relu : bool
        ReLU applied to B'^T d B' (Liu et al.'s ReLU in the Winograd domain).

    Returns
    -------
    dict of widths ``u, row, v, product, acc, out_row, tile, out``, and the
    ranges ``v_range``, ``out_range``.
    """
    a_lo, a_hi = signed_range(act_bits)
    w_lo, w_hi = signed_range(weight_bits)
    if domain == "spatial":
        u_lo, u_hi = _forms_range(_forms_2d(t.g), w_lo, w_hi)
    else:
        u_lo, u_hi = w_lo, w_hi
    row = _forms_range(t.bt.tolist(), a_lo, a_hi)
    v_lo, v_hi = _forms_range(_forms_2d(t.bt), a_lo, a_hi)
    if relu:
        v_lo = 0
    corners = [u * v for u in (u_lo, u_hi) for v in (v_lo, v_hi)]
    p_lo, p_hi = min(corners), max(corners)
    acc = (max_channels * p_lo, max_channels * p_hi)
    out_row = _forms_range(t.at.tolist(), *acc)
    tile = _forms_range(_forms_2d(t.at), *acc)
    widths = {
        "u": signed_bits_for(u_lo, u_hi), "row": signed_bits_for(*row),
        "v": signed_bits_for(v_lo, v_hi), "product": signed_bits_for(p_lo, p_hi),
        "acc": signed_bits_for(*acc), "out_row": signed_bits_for(*out_row),
        "tile": signed_bits_for(*tile), "v_range": (v_lo, v_hi),
    }
    if domain == "spatial":
        # The exact quotient is the correlation itself, so its range is the
        # correlation's. And since the division is a shift then a product
        # modulo 2**out, only the low ``shift + out`` bits of the tile
        # matter: everything after the multipliers (sums and constant
        # multiples, a ring homomorphism) may wrap modulo 2**(shift + out).
        c = [a * w for a in (a_lo, a_hi) for w in (w_lo, w_hi)]
        taps = max_channels * t.r * t.r
        out = (taps * min(c), taps * max(c))
        widths["out"] = signed_bits_for(*out)
        shift, _ = odd_inverse(t.divisor, widths["out"])
        wrap = shift + widths["out"]
        for key in ("acc", "out_row", "tile"):
            widths[key] = min(widths[key], wrap)
    else:
        out = tile
        widths["out"] = widths["tile"]
    widths["out_range"] = out
    return widths


def odd_inverse(divisor, bits):
    """``(shift, factors)`` that divide exactly by ``divisor`` modulo ``2**bits``.

    ``x / divisor == ((x >> shift) * f_1 * f_2 * ...) mod 2**bits`` (low
    ``bits`` bits read as signed) for every x that ``divisor`` divides and
    whose quotient fits a signed ``bits``-wide number. The shift removes the
    power of two; the factors multiply to the inverse of the odd part ``o``
    modulo ``2**bits``. With ``e = 1 - o`` (even), ``o * (1 + e) * (1 + e^2)
    * (1 + e^4) ... = 1 - e^(2^L) = 1``, which for 9 (F(4,3)) is three
    factors of two digits each, cheaper than the inverse's own digits; the
    cheaper of the two forms (counted in non-zero signed digits) is chosen.
    Factors are the representatives nearest zero. ``factors`` is empty when
    the divisor is a power of two.
    """
    shift = (divisor & -divisor).bit_length() - 1
    odd = divisor >> shift
    mod = 1 << bits

    def centred(v):
        v %= mod
        return v - mod if v >= mod // 2 else v

    if odd == 1:
        return shift, []
    direct = [centred(pow(odd, -1, mod))]
    chain, e = [], centred(1 - odd)
    while e % mod:
        chain.append(centred(1 + e))
        e = centred(e * e)
    cost = lambda fs: sum(len(naf(f)) for f in fs)  # noqa: E731
    return shift, min(direct, chain, key=cost)


# ---------------------------------------------------------------- layers

