"""Golden models of binary (XNOR-popcount) and ternary layers and networks.

``docs/numerics.md`` ("Binary and ternary layers") in code. Naive on purpose:
mismatches are counted one by one and ternary sums are exact Python
integers; nothing is shared with the hardware or its driver.

* Bits: ``1`` means +1, ``0`` means -1. The dot product of two such vectors
  of length N is ``N - 2 * popcount(x xor w)``.
* Ternary weights hold -1, 0 or +1; with the scales ``Wp`` and ``Wn`` of
  TTQ a weight is worth ``+Wp``, 0 or ``-Wn`` (fixed point), applied after
  accumulation: ``Wp * sum(x where w = +1) - Wn * sum(x where w = -1)``.
"""

from dataclasses import dataclass, field

import numpy as np

from sw.spec.numerics import relu as relu_fn, requantize

__all__ = ["check_bits", "check_ternary", "xnor_layer", "ternary_layer", "BinaryNet",
           "TernaryNet", "binary_infer", "ternary_infer"]


def _where(values, bad):
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    return values[index], list(index)


def check_bits(name, values):
    """Refuse anything but integer 0/1 (``ValueError`` naming a bad value)."""
    values = np.asarray(values)
    if values.size and not np.issubdtype(values.dtype, np.integer) \
            and values.dtype != np.bool_:
        raise ValueError(f"{name} must hold bits (integers 0 and 1), not {values.dtype}")
    bad = (values != 0) & (values != 1)
    if bad.any():
        value, where = _where(values, bad)
        raise ValueError(f"{name} holds {value} at {where}: bits are 0 (for -1) and 1 "
                         f"(for +1)")


def check_ternary(name, values):
    """Refuse anything but integer -1/0/+1."""
    values = np.asarray(values)
    if values.size and not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name} must hold integers -1, 0 and +1, not {values.dtype}")
    bad = np.abs(values) > 1
    if bad.any():
        value, where = _where(values, bad)
        raise ValueError(f"{name} holds {value} at {where}: ternary weights are -1, 0 and +1")


def xnor_layer(x, w, bias=None, thresholds=None):
    """``Y = N - 2 popcount(x xor w) + bias``, or ``Y >= thresholds`` as bits.

    Parameters
    ----------
    x : array of bits, shape (B, N)
    w : array of bits, shape (M, N)
    bias : integer array, shape (M,), optional
    thresholds : integer array, shape (M,), optional
        Returns bits ``1`` where ``Y >= threshold`` (the sign, +1, of
        ``Y - threshold``) and ``0`` elsewhere.

    Returns
    -------
    numpy.ndarray of int64, shape (B, M)
    """
    x, w = np.asarray(x, dtype=np.int64), np.asarray(w, dtype=np.int64)
    n = w.shape[1]
    y = np.empty((x.shape[0], w.shape[0]), dtype=np.int64)
    for s, sample in enumerate(x):
        mismatches = np.count_nonzero(sample[None, :] != w, axis=1)
        y[s] = n - 2 * mismatches
    if bias is not None:
        y = y + np.asarray(bias, dtype=np.int64)
    if thresholds is not None:
        return (y >= np.asarray(thresholds, dtype=np.int64)).astype(np.int64)
    return y


def ternary_layer(x, w, b=None, scales=None, *, shift=0, out_bits=8, relu=False):
    """A ternary layer in fixed point.

    Without ``scales``: ``Y = X @ W.T + b`` exactly (raw). With ``scales``
    (shape (M, 2): ``Wp``, ``Wn`` of each row):
    ``acc = Wp * P - Wn * Q + b`` where ``P`` sums the inputs whose weight
    is +1 and ``Q`` those whose weight is -1; then requantize (round half
    up, saturate to ``out_bits``) and optionally ReLU.

    Returns
    -------
    numpy.ndarray of int64, shape (B, M)
    """
    x = np.asarray(x).astype(object)
    w = np.asarray(w)
    b = np.zeros(w.shape[0], dtype=object) if b is None else np.asarray(b).astype(object)
    if scales is None:
        return (x @ w.T.astype(object) + b).astype(np.int64)
    scales = np.asarray(scales).astype(object)
    p = x @ (w == 1).T.astype(object)
    q = x @ (w == -1).T.astype(object)
    acc = (scales[:, 0] * p - scales[:, 1] * q + b).astype(np.int64)
    y = requantize(acc, shift, out_bits)
    return relu_fn(y) if relu else y


# ---------------------------------------------------------------- networks

@dataclass
class BinaryNet:
    """A binarized MLP in integers: what the XNOR array computes.

    Inputs are raw integers binarized as ``raw >= input_threshold``. Every
    layer but the last has ``thresholds`` (batch normalization folded in,
    FINN style) and outputs bits; the last outputs ``Y + bias``, whose
    argmax is the class.
    """
    input_threshold: int
    weights: list                      # bits, (M, N) per layer
    thresholds: list                   # int (M,) per hidden layer
    bias: np.ndarray                   # int (M,) of the last layer
    stats: dict = field(default_factory=dict)


@dataclass
class TernaryNet:
    """A ternary MLP in fixed point: what the ternary array computes.

    Inputs are raw integers shifted right by ``input_shift``. Layer ``l``
    has ternary ``weights``, ``scales`` (M, 2) = (Wp, Wn) mantissas, a bias
    at the product scale, a requantize ``shift`` and ReLU on all but the
    last layer; ``out_bits`` is the width of each layer's output.
    """
    input_shift: int
    weights: list
    scales: list
    biases: list
    shifts: list
    act_bits: int
    scale_bits: int
    bias_bits: int
    out_bits: list
    stats: dict = field(default_factory=dict)


def binary_infer(net, raw, trace=False):
    """Integer outputs of the last layer (and every layer's input if ``trace``)."""
    x = (np.asarray(raw) >= net.input_threshold).astype(np.int64)
    acts = [x]
    for w, t in zip(net.weights[:-1], net.thresholds):
        x = xnor_layer(x, w, thresholds=t)
        acts.append(x)
    y = xnor_layer(x, net.weights[-1], bias=net.bias)
    return (y, acts) if trace else y


def ternary_infer(net, raw, trace=False):
    """Integer outputs of the last layer (and every layer's input if ``trace``)."""
    x = np.asarray(raw, dtype=np.int64) >> net.input_shift
    acts = [x]
    last = len(net.weights) - 1
    for l, (w, s, b, sh, ob) in enumerate(zip(net.weights, net.scales, net.biases, net.shifts,
                                              net.out_bits)):
        x = ternary_layer(x, w, b, s, shift=sh, out_bits=ob, relu=l < last)
        acts.append(x)
    return (x, acts[:-1]) if trace else x
