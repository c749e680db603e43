"""Golden model of pooling: max and average over windows, padding excluded.

Naive on purpose: one loop over output positions, the window cut out of
the activations and reduced, the average by ``numerics.average`` (round
half up, exact; ``docs/numerics.md``, Pooling).
"""

import numpy as np

from sw.spec.numerics import average

__all__ = ["pool2d"]


def pool2d(a, *, mode, kernel, stride, pads, count_pads=False):
    """Pool integer activations ``a`` (B, K, H, W): (B, K, Ho, Wo).

    ``Ho = (H + top + bottom - kh) // sh + 1``. Max pooling takes the
    largest real value of each window (padding never wins); average pooling
    divides the window's sum by its real positions, or by ``kh * kw`` with
    ``count_pads`` (padding counts as zeros).
    """
    a = np.asarray(a, dtype=np.int64)
    if mode not in ("max", "avg"):
        raise ValueError(f"pooling mode must be 'max' or 'avg', not {mode!r}")
    (kh, kw), (sh, sw), (t, left, b, right) = kernel, stride, pads
    if min(kh, kw, sh, sw) < 1 or min(pads) < 0 or max(t, b) >= kh or max(left, right) >= kw:
        raise ValueError(f"kernel {kernel} and stride {stride} must be >= 1 and pads {pads} "
                         f"smaller than the kernel")
    _, _, h, w = a.shape
    ho, wo = (h + t + b - kh) // sh + 1, (w + left + right - kw) // sw + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"a {kh}x{kw} window does not fit the padded {h}x{w} image")
    out = np.zeros(a.shape[:2] + (ho, wo), dtype=np.int64)
    for i in range(ho):
        for j in range(wo):
            y0, x0 = i * sh - t, j * sw - left
            window = a[:, :, max(y0, 0):min(y0 + kh, h), max(x0, 0):min(x0 + kw, w)]
            window = window.reshape(a.shape[:2] + (-1,))
            if mode == "max":
                out[:, :, i, j] = window.max(axis=2)
            else:
                out[:, :, i, j] = average(window.sum(axis=2),
                                          kh * kw if count_pads else window.shape[2])
    return out
