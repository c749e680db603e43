"""Winograd transforms and tiled layers against direct correlation, exactly."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sw.golden.conv import check_conv, correlate2d
from sw.golden.winograd import filter_transform, multiply_counts, prune_winograd, winograd_conv
from sw.spec.numerics import naf, signed_range
from sw.spec.winograd import cook_toom, odd_inverse, tile_widths

SIZES = [(2, 3), (4, 3), (3, 2), (2, 2), (6, 3), (2, 5), (3, 5), (4, 5), (2, 7), (3, 3)]


def test_lavin_f23_up_to_scaling():
    t = cook_toom(2, 3)
    # Lavin and Gray's matrices, rows scaled: B^T as published, G's halves
    # moved into A^T and the common S = 2.
    assert t.bt.tolist() == [[1, 0, -1, 0], [0, 1, 1, 0], [0, 1, -1, 0], [0, 1, 0, -1]]
    assert t.g.tolist() == [[1, 0, 0], [1, 1, 1], [1, -1, 1], [0, 0, 1]]
    assert t.scale == 2 and t.divisor == 4
    assert t.G[1] == (Fraction(1), Fraction(1), Fraction(1))


@pytest.mark.parametrize("m,r", SIZES)
def test_exact_transforms_compute_1d_correlation(m, r):
    t = cook_toom(m, r)
    rng = np.random.default_rng(m * 10 + r)
    d = [Fraction(int(v)) for v in rng.integers(-50, 50, t.n)]
    g = [Fraction(int(v)) for v in rng.integers(-50, 50, r)]
    gg = [sum(a * b for a, b in zip(row, g)) for row in t.G]
    bd = [sum(a * b for a, b in zip(row, d)) for row in t.BT]
    y = [sum(a * p * q for a, p, q in zip(row, gg, bd)) for row in t.AT]
    assert y == [sum(d[i + k] * g[k] for k in range(r)) for i in range(m)]


@pytest.mark.parametrize("m,r", SIZES)
def test_integer_transforms_are_the_exact_ones_rescaled(m, r):
    t = cook_toom(m, r)
    # at diag(g-row factor * bt-row factor) == S * AT, entry by entry.
    for k in range(t.n):
        fg = next(Fraction(a) / b for a, b in zip(t.G[k], t.g[k]) if b)
        fb = next(Fraction(a) / b for a, b in zip(t.BT[k], t.bt[k]) if b)
        assert all(Fraction(int(t.g[k][j])) * fg == t.G[k][j] for j in range(r))
        assert all(Fraction(int(t.bt[k][j])) * fb == t.BT[k][j] for j in range(t.n))
        for i in range(m):
            assert t.at[i][k] == t.AT[i][k] * fg * fb * t.scale


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(SIZES), st.integers(1, 3), st.integers(1, 3), st.integers(0, 6),
       st.integers(0, 6), st.integers(2, 12), st.integers(0, 2**32 - 1))
def test_tiled_winograd_is_direct_correlation(size, c, k, extra_h, extra_w, bits, seed):
    m, r = size
    rng = np.random.default_rng(seed)
    lo, hi = signed_range(bits)
    x = rng.integers(lo, hi + 1, (c, r + extra_h, r + extra_w))
    w = rng.integers(lo, hi + 1, (k, c, r, r))
    t = cook_toom(m, r)
    assert np.array_equal(winograd_conv(x, filter_transform(w, t), t), correlate2d(x, w))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.fractions(min_value=-4, max_value=4, max_denominator=4), min_size=3,
                max_size=3, unique=True), st.integers(0, 2**32 - 1))
def test_any_distinct_points_work(points, seed):
    t = cook_toom(2, 3, points)
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, (2, 7, 6))
    w = rng.integers(-128, 128, (2, 2, 3, 3))
    assert np.array_equal(winograd_conv(x, filter_transform(w, t), t), correlate2d(x, w))


@pytest.mark.parametrize("m,r", [(2, 3), (4, 3), (6, 3), (3, 5)])
@pytest.mark.parametrize("bits", [8, 16])
def test_widths_hold_the_extremes(m, r, bits):
    # Every corner of the input and weight ranges: no stage leaves its width.
    t = cook_toom(m, r)
    w8 = tile_widths(t, bits, bits, 4)
    lo, hi = signed_range(bits)
    rng = np.random.default_rng(bits)
    x = rng.choice([lo, hi], (4, t.n, t.n))
    w = rng.choice([lo, hi], (3, 4, r, r))
    u = filter_transform(w, t)
    assert np.all((u >= signed_range(w8["u"])[0]) & (u <= signed_range(w8["u"])[1]))
    v = np.einsum("ia,cab,jb->cij", t.bt, x, t.bt)
    assert w8["v_range"][0] <= v.min() and v.max() <= w8["v_range"][1]
    y = correlate2d(x, w)
    assert np.all(np.abs(y) < 2 ** (w8["out"] - 1))


@given(st.integers(1, 40), st.integers(-(1 << 20), 1 << 20), st.sampled_from(SIZES))
def test_exact_division_by_the_odd_inverse(bits, q, size):
    t = cook_toom(*size)
    lo, hi = signed_range(bits)
    q = min(max(q, lo), hi)
    shift, factors = odd_inverse(t.divisor, bits)
    x = q * t.divisor
    r = x >> shift
    for f in factors:
        r = (r * f) % (1 << bits)
    r %= 1 << bits
    assert (r - (1 << bits) if r >= 1 << (bits - 1) else r) == q


@given(st.integers(-(1 << 40), 1 << 40))
def test_naf_is_a_signed_digit_form(c):
    digits = naf(c)
    assert sum(d << s for s, d in digits) == c
    shifts = [s for s, _ in digits]
    assert all(b - a >= 2 for a, b in zip(shifts, shifts[1:]))


def test_winograd_domain_with_relu_and_pruning():
    t = cook_toom(2, 3)
    rng = np.random.default_rng(3)
    x = rng.integers(-128, 128, (3, 8, 8))
    u = prune_winograd(filter_transform(rng.integers(-128, 128, (2, 3, 3, 3)), t), 0.25)
    assert 0.2 < np.mean(u != 0) < 0.3
    y = winograd_conv(x, u, t, domain="winograd", relu=True)
    # By hand, tile (0, 0) of output channel 1.
    v = np.maximum(np.einsum("ia,cab,jb->cij", t.bt, x[:, :4, :4], t.bt), 0)
    mm = np.einsum("cij,cij->ij", u[1], v)
    assert np.array_equal(y[1, :2, :2], t.at @ mm @ t.at.T)
    counts = multiply_counts(x, u, t, relu=True)
    assert counts["per_tile"]["direct"] == 36 and counts["per_tile"]["dense_winograd"] == 16
    assert counts["sparse"] < counts["sparse_weights"] < counts["dense_winograd"]


def test_pruned_weights_break_the_spatial_division():
    t = cook_toom(2, 3)
    u = np.zeros((1, 1, 4, 4), dtype=np.int64)
    u[0, 0, 1, 1] = 1
    with pytest.raises(ArithmeticError, match="not divisible by S"):
        winograd_conv(np.array([[[0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]]), u, t)


BAD = [
    (lambda: cook_toom(1, 3), "output tile size m must be an integer from 2 to 6, not 1"),
    (lambda: cook_toom(2, 8), "filter size r must be an integer from 2 to 7, not 8"),
    (lambda: cook_toom(5, 5), r"F\(5x5, 5x5\) needs 9 interpolation points"),
    (lambda: cook_toom(2, 3, [0, 1, 1]), "interpolation points must be distinct"),
    (lambda: cook_toom(2, 3, [0, 1]), "needs 3 finite interpolation points, not 2"),
    (lambda: check_conv(np.ones((1, 2, 2), int), np.ones((1, 1, 3, 3), int)),
     r"the image \(2x2\) is smaller than the 3x3 filter"),
    (lambda: check_conv(np.ones((2, 5, 5), int), np.ones((1, 1, 3, 3), int)),
     "weights have 1 input channels but inputs have 2"),
    (lambda: check_conv(np.ones((1, 5, 5), int), np.ones((1, 1, 3, 2), int)),
     "filters must be square"),
    (lambda: check_conv(np.ones((1, 5, 5), int) * 200, np.ones((1, 1, 3, 3), int), 8, 8),
     "inputs holds 200, outside the 8-bit signed range"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_parameters(case):
    make, message = BAD[case]
    with pytest.raises(ValueError, match=message):
        make()
