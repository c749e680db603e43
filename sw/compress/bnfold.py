"""Batch normalization folded into the weights and biases before it.

At inference a BN layer is an affine map per output: with
``s = gamma / sqrt(var + eps)``, ``BN(W x + b) = (s W) x + s (b - mean) + beta``.
Folding scales each output row (dense) or filter (conv) of the weighted
layer by ``s`` and replaces its bias, so the network loses its BN layers and
computes the same function; compression and fixed point then start from
plain weights and biases, and the hardware never sees a BN layer.
"""

import copy

import numpy as np

from sw.train.nn import BN_EPS, logits

__all__ = ["fold", "check_fold"]


def fold(layers):
    """A copy of ``layers`` with every BN layer folded into the layer before it.

    A BN layer must follow a dense or conv layer directly (``nn.with_bn``
    puts it there); anything else is refused.
    """
    out = []
    for i, layer in enumerate(layers):
        if layer["kind"] != "bn":
            out.append(copy.deepcopy(layer))
            continue
        if not out or out[-1]["kind"] not in ("dense", "conv"):
            raise ValueError(f"layer {i}: batch normalization must follow a dense or conv "
                             f"layer to be folded")
        prev = out[-1]
        s = layer["gamma"] / np.sqrt(layer["var"] + BN_EPS)
        prev["W"] = prev["W"] * s.reshape((-1,) + (1,) * (prev["W"].ndim - 1))
        prev["b"] = (prev["b"] - layer["mean"]) * s + layer["beta"]
    return out


def check_fold(with_bn, folded, x):
    """How folding changed the network on inputs ``x``.

    Returns the number of predictions that differ and the largest logit
    difference relative to the largest logit.
    """
    a, b = logits(with_bn, x), logits(folded, x)
    return {"changed_predictions": int((a.argmax(axis=1) != b.argmax(axis=1)).sum()),
            "max_logit_difference": float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-300)),
            "inputs": len(x)}
