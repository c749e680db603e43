"""Bit widths of the binary (XNOR-popcount) and ternary layers, which the
arrays in ``hw/`` are built to and the golden models check against
(``docs/numerics.md``, "Binary and ternary layers")."""

from sw.spec.numerics import signed_bits_for, signed_range

__all__ = ["xnor_acc_bits", "ternary_sum_bits", "ternary_acc_bits"]


def xnor_acc_bits(max_inputs, sign):
    """Accumulator width of an XNOR dot product of up to ``max_inputs`` bits.

    Raw results lie in ``[-N, N]``; in sign mode the accumulator starts at an
    offset ``N - T`` in ``[-1, 2N]`` and falls by at most ``2N``.
    """
    n = max_inputs
    return signed_bits_for(-2 * n - 1, 2 * n) if sign else signed_bits_for(-n, n)


def ternary_sum_bits(act_bits, max_inputs):
    """Width of ``P`` or ``Q``: a sum of up to ``max_inputs`` activations."""
    lo, hi = signed_range(act_bits)
    return signed_bits_for(max_inputs * lo, max_inputs * hi)


def ternary_acc_bits(act_bits, max_inputs, bias_bits, scale_bits=None):
    """Accumulator width of a ternary dot product plus a bias.

    Raw (``scale_bits`` None): terms are ``a``, ``-a`` or 0, so within
    ``N * [-2**(a-1), 2**(a-1)]``. Scaled: each activation meets at most one
    of ``Wp`` and ``-Wn``, both within ``[-2**(s-1), 2**(s-1)]``.
    """
    bound = max_inputs << (act_bits - 1)
    if scale_bits is not None:
        bound <<= scale_bits - 1
    b_lo, b_hi = signed_range(bias_bits)
    return signed_bits_for(-bound + b_lo, bound + b_hi)
