"""Golden model of a dense fixed-point layer (``docs/numerics.md``).

Naive on purpose: exact Python integers (object arrays), no tiling, no
pipelining, nothing shared with the hardware or its driver. The hardware is
right when it agrees with this, bit for bit.
"""

import numpy as np

from sw.spec.numerics import requantize, relu as relu_fn

__all__ = ["dense_layer"]


def dense_layer(x, w, b=None, *, requant=True, shift=0, out_bits=8, relu=False):
    """``y = relu?(requantize(W x + b))`` for each sample.

    Parameters
    ----------
    x : integer array, shape (B, N)
        Activations (signed integers, the activation format's mantissas).
    w : integer array, shape (M, N)
        Weights (signed integers).
    b : integer array, shape (M,), optional
        Biases at the product scale (activation frac + weight frac bits).
    requant : bool
        Round and saturate ``acc >> shift`` into ``out_bits`` (round half up).
        Without it the raw accumulator is returned.
    relu : bool
        Clamp negative results to zero (after requantization, if any).

    Returns
    -------
    numpy.ndarray of int64, shape (B, M)
    """
    x = np.asarray(x).astype(object)
    w = np.asarray(w).astype(object)
    b = np.zeros(w.shape[0], dtype=object) if b is None else np.asarray(b).astype(object)
    y = (x @ w.T + b).astype(np.int64)
    if requant:
        y = requantize(y, shift, out_bits)
    if relu:
        y = relu_fn(y)
    return y
