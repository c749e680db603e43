"""Golden model of a conv layer's tail: bias, requantize, ReLU, then pooling.

Naive on purpose: the tail is ``sw.spec.numerics`` applied element-wise, and
pooling loops over output positions and their windows, nothing shared with
the hardware (``hw.pool``) or the host's window feed (``sw.flows.pool``).
Padding positions are not values: a max never takes one, an average counts
them as zeros only when asked (ONNX ``count_include_pad``).
"""

import numpy as np

from sw.spec.numerics import average, relu as clamp_negative, requantize

__all__ = ["tail", "pool2d", "check_pool", "pool_output_shape", "MODES"]

#: The pooling modes.
MODES = ("max", "avg")


def _check_integers(name, array, ndim, shape):
    if not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must hold integers, not {array.dtype}")
    if array.ndim != ndim:
        raise ValueError(f"{name} must have shape {shape}, not {array.shape}")


def tail(acc, bias, *, shift, act_bits, relu):
    """``y = relu?(requantize(acc + bias[k], shift, act_bits))``, element-wise.

    Parameters
    ----------
    acc : integer array, shape (B, K, H, W)
        A layer's raw correlations.
    bias : integer array, shape (K,)
        A bias an output channel, at the correlations' scale.
    shift, act_bits : int
        As ``sw.spec.numerics.requantize``.
    relu : bool

    Returns
    -------
    numpy.ndarray of int64, shape (B, K, H, W)
    """
    acc, bias = np.asarray(acc), np.asarray(bias)
    _check_integers("accumulators", acc, 4, "(B, K, H, W)")
    _check_integers("bias", bias, 1, "(K,)")
    if bias.shape[0] != acc.shape[1]:
        raise ValueError(f"bias has {bias.shape[0]} values but the accumulators have "
                         f"{acc.shape[1]} channels: shapes must be (B, K, H, W) and (K,)")
    y = requantize(acc.astype(np.int64) + bias.astype(np.int64)[None, :, None, None],
                   shift, act_bits)
    return clamp_negative(y) if relu else y


def _pair(name, value, low):
    if (not isinstance(value, (tuple, list)) or len(value) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       and v >= low for v in value)):
        raise ValueError(f"{name} must be two integers >= {low}, not {value!r}")
    return tuple(int(v) for v in value)


def pool_output_shape(height, width, *, kernel, stride, pads):
    """``(Ho, Wo)`` of pooling an ``height`` x ``width`` image; ``ValueError``
    for a bad kernel, stride or padding, or a window that covers only padding.

    ``Ho = (H + top + bottom - kh) // sh + 1``, and likewise ``Wo``.
    """
    kh, kw = _pair("pooling kernel", kernel, 1)
    sh, sw = _pair("pooling stride", stride, 1)
    if (not isinstance(pads, (tuple, list)) or len(pads) != 4
            or not all(isinstance(p, (int, np.integer)) and not isinstance(p, bool) and p >= 0
                       for p in pads)):
        raise ValueError(f"pooling pads must be four integers >= 0 (top, left, bottom, "
                         f"right), not {pads!r}")
    top, left, bottom, right = (int(p) for p in pads)
    if height + top + bottom < kh or width + left + right < kw:
        raise ValueError(f"the {kh}x{kw} pooling window is larger than the padded "
                         f"{height}x{width} image: it has no output")
    ho, wo = (height + top + bottom - kh) // sh + 1, (width + left + right - kw) // sw + 1
    # A window must reach a real row and a real column.
    for out, step, before, k, size, what in ((ho, sh, top, kh, height, "row"),
                                             (wo, sw, left, kw, width, "column")):
        for o in range(out):
            start = o * step - before
            if start + k <= 0 or start >= size:
                raise ValueError(f"pooling window at output {what} {o} covers only padding: "
                                 f"lower the pads")
    return ho, wo


def check_pool(shape, *, mode, kernel, stride, pads):
    """Validate pooling of an array of ``shape`` (B, K, H, W); return ``(Ho, Wo)``."""
    if mode not in MODES:
        raise ValueError(f"pooling mode must be 'max' or 'avg', not {mode!r}")
    if len(shape) != 4:
        raise ValueError(f"activations must have shape (B, K, H, W), not {tuple(shape)}")
    return pool_output_shape(shape[2], shape[3], kernel=kernel, stride=stride, pads=pads)


def pool2d(a, *, mode, kernel, stride, pads, count_pads):
    """Max or average pooling of integer activations, padding marked out.

    Parameters
    ----------
    a : integer array, shape (B, K, H, W)
    mode : {"max", "avg"}
    kernel, stride : (int, int)
        ``(kh, kw)`` and ``(sh, sw)``.
    pads : (int, int, int, int)
        ``(top, left, bottom, right)``.
    count_pads : bool
        An average divides by ``kh * kw`` (padding counted as zeros) rather
        than by the window's real positions; a max ignores it.

    Returns
    -------
    numpy.ndarray of int64, shape (B, K, Ho, Wo)
        The max over each window's real positions, or
        ``sw.spec.numerics.average(sum, count)``.
    """
    a = np.asarray(a)
    _check_integers("activations", a, 4, "(B, K, H, W)")
    ho, wo = check_pool(a.shape, mode=mode, kernel=kernel, stride=stride, pads=pads)
    (kh, kw), (sh, sw), (top, left, _, _) = kernel, stride, pads
    batch, channels, height, width = a.shape
    y = np.zeros((batch, channels, ho, wo), dtype=np.int64)
    for b in range(batch):
        for k in range(channels):
            for i in range(ho):
                for j in range(wo):
                    real = [int(a[b, k, r, c])
                            for r in range(i * sh - top, i * sh - top + kh)
                            for c in range(j * sw - left, j * sw - left + kw)
                            if 0 <= r < height and 0 <= c < width]
                    if mode == "max":
                        y[b, k, i, j] = max(real)
                    else:
                        y[b, k, i, j] = average(sum(real), kh * kw if count_pads else len(real))
    return y
