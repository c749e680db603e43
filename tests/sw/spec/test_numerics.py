"""The numerics of docs/numerics.md, checked against their definitions."""

from fractions import Fraction
import math

import numpy as np
import pytest
from hypothesis import given, strategies as st

from sw.spec.numerics import accumulator_bits, check_fits, requantize, signed_bits_for, signed_range
from sw.spec.packing import pack, unpack
from amaranth.hdl import signed
from amaranth.lib import data


@given(st.integers(-(1 << 40), 1 << 40), st.integers(0, 20), st.integers(2, 24))
def test_requantize_is_round_half_up_then_saturate(acc, shift, out_bits):
    exact = Fraction(acc, 1 << shift)
    rounded = math.floor(exact + Fraction(1, 2))
    lo, hi = signed_range(out_bits)
    assert int(requantize(acc, shift, out_bits)) == min(max(rounded, lo), hi)


@pytest.mark.parametrize("a,w,n,bias", [(8, 8, 1, 0), (8, 8, 784, 16), (2, 2, 3, 0),
                                        (16, 16, 4096, 32), (24, 24, 64, 48)])
def test_accumulator_bits_hold_the_worst_case(a, w, n, bias):
    bits = accumulator_bits(a, w, n, bias)
    a_lo, a_hi = signed_range(a)
    w_lo, w_hi = signed_range(w)
    b_lo, b_hi = signed_range(bias) if bias else (0, 0)
    worst_hi = n * a_lo * w_lo + b_hi
    worst_lo = n * min(a_lo * w_hi, a_hi * w_lo) + b_lo
    lo, hi = signed_range(bits)
    assert lo <= worst_lo and worst_hi <= hi
    # ... and one bit fewer would not do.
    lo, hi = signed_range(bits - 1)
    assert worst_lo < lo or worst_hi > hi


def test_signed_bits_for():
    assert signed_bits_for(-128, 127) == 8
    assert signed_bits_for(-128, 128) == 9
    assert signed_bits_for(0, 0) == 1


def test_check_fits_names_the_problem():
    with pytest.raises(ValueError, match=r"weights holds 128, outside the 8-bit signed range "
                                         r"\[-128, 127\]"):
        check_fits("weights", np.array([1, 128]), 8)
    with pytest.raises(ValueError, match="must hold integers, not float64"):
        check_fits("weights", np.array([1.0]), 8)


@given(st.lists(st.integers(-8, 7), min_size=3, max_size=3), st.integers(-100, 100),
       st.booleans())
def test_pack_round_trip(values, extra, flag):
    layout = data.StructLayout({"a": data.ArrayLayout(signed(4), 3), "b": signed(8), "c": 1})
    value = {"a": values, "b": extra, "c": int(flag)}
    assert unpack(layout, pack(layout, value)) == value


def test_pack_refuses_values_that_do_not_fit():
    with pytest.raises(ValueError, match="does not fit"):
        pack(signed(4), 8)
