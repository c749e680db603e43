"""Golden model of a convolution layer: direct valid 2-D correlation.

Naive on purpose: a sum over the ``r x r`` filter taps of shifted images,
exact integers, nothing shared with the Winograd transforms or the
hardware. Deep-learning "convolution" is correlation (the filter is not
flipped), and that is what every conv core in eiegen must reproduce.
"""

import numpy as np

from sw.spec.numerics import check_fits

__all__ = ["correlate2d", "check_conv"]


def check_conv(x, w, act_bits=None, weight_bits=None):
    """Validate a layer's arrays; one-line ``ValueError`` naming the problem.

    ``x`` must be integers of shape (C, H, W), ``w`` integers of shape
    (K, C, r, r), the image at least as large as the filter, and (if widths
    are given) every value inside its signed width.
    """
    x, w = np.asarray(x), np.asarray(w)
    for name, array, shape in (("inputs", x, "(C, H, W)"), ("weights", w, "(K, C, r, r)")):
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integers (fixed-point mantissas), "
                             f"not {array.dtype}")
        if array.ndim != len(shape.split(",")):
            raise ValueError(f"{name} must have shape {shape}, not {array.shape}")
    if w.shape[2] != w.shape[3]:
        raise ValueError(f"filters must be square (K, C, r, r), not {w.shape}")
    if w.shape[1] != x.shape[0]:
        raise ValueError(f"weights have {w.shape[1]} input channels but inputs have "
                         f"{x.shape[0]}: shapes must be X (C, H, W) and W (K, C, r, r)")
    if 0 in x.shape or 0 in w.shape:
        raise ValueError(f"empty layer: inputs {x.shape}, weights {w.shape}")
    r = w.shape[2]
    if x.shape[1] < r or x.shape[2] < r:
        raise ValueError(f"the image ({x.shape[1]}x{x.shape[2]}) is smaller than the "
                         f"{r}x{r} filter: a valid correlation has no output")
    if act_bits is not None:
        check_fits("inputs", x, act_bits)
    if weight_bits is not None:
        check_fits("weights", w, weight_bits)


def correlate2d(x, w):
    """``y[k, i, j] = sum_{c, u, v} x[c, i+u, j+v] * w[k, c, u, v]`` (valid).

    Parameters
    ----------
    x : integer array, shape (C, H, W)
    w : integer array, shape (K, C, r, r)

    Returns
    -------
    numpy.ndarray of int64, shape (K, H - r + 1, W - r + 1)
    """
    check_conv(x, w)
    # Exact Python integers: no width assumption can hide an overflow here.
    x = np.asarray(x).astype(object)
    w = np.asarray(w).astype(object)
    _, h, wd = x.shape
    k, c, r, _ = w.shape
    ho, wo = h - r + 1, wd - r + 1
    y = np.zeros((k, ho, wo), dtype=object)
    for u in range(r):
        for v in range(r):
            window = x[:, u:u + ho, v:v + wo].reshape(c, -1)      # (C, Ho*Wo)
            y += (w[:, :, u, v] @ window).reshape(k, ho, wo)
    return y.astype(np.int64)
