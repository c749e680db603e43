"""Fixed-point formats chosen from statistics (Qiu et al., FPGA'16).

For each layer, the radix point of the codebook is chosen from the largest
shared weight and that of the activations from the largest value seen on
calibration data, each as the most fraction bits that still hold it in the
given width (``docs/numerics.md``). Conversion rounds to nearest.
"""

import math

import numpy as np

from sw.spec.numerics import check_fits, signed_range

__all__ = ["frac_for", "to_mantissas", "layer_formats"]


def frac_for(max_abs, bits):
    """Most fraction bits ``f`` such that ``round(max_abs * 2**f)`` fits ``bits`` signed bits."""
    if not math.isfinite(max_abs):
        raise ValueError(f"cannot choose a radix point for {max_abs}")
    hi = signed_range(bits)[1]
    if max_abs <= 0:
        return bits - 1
    f = bits - 1 - math.ceil(math.log2(max_abs))
    while round(max_abs * 2.0 ** (f + 1)) <= hi:
        f += 1
    while round(max_abs * 2.0 ** f) > hi:
        f -= 1
    return f


def to_mantissas(values, frac, bits, name):
    """``round(values * 2**frac)`` as integers, refused if they do not fit ``bits``."""
    q = np.rint(np.asarray(values, dtype=np.float64) * 2.0 ** frac).astype(np.int64)
    check_fits(name, q, bits)
    return q


def layer_formats(codebook, bias, in_frac, act_max, *, codebook_bits, bias_bits, act_bits):
    """A weighted layer's ``(weight_frac, out_frac)``.

    The codebook gets the most fraction bits its largest entry allows, fewer
    if the bias (at the product scale ``in_frac + weight_frac``) would not
    fit otherwise; the output gets the most that hold ``act_max`` (its
    largest magnitude on calibration data), never more than the product
    has, so the shift is never negative.
    """
    weight_frac = frac_for(float(np.abs(codebook).max()), codebook_bits)
    bias_max = float(np.abs(bias).max()) if np.size(bias) else 0.0
    weight_frac = min(weight_frac, frac_for(bias_max, bias_bits) - in_frac)
    return weight_frac, min(frac_for(act_max, act_bits), in_frac + weight_frac)
