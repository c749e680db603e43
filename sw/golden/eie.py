"""Golden model of a compressed network, bit-exact with the EIE engine.

Naive on purpose: decode each layer's codebook indices into a dense matrix
of integer weights, multiply in exact integers, add the bias, requantize
(round half up, saturate) and apply ReLU between layers, as
``docs/numerics.md`` says. Integer sums do not depend on order, so this
equals what the engine computes entry by entry.
"""

import numpy as np

from sw.spec.numerics import accumulator_bits, check_fits, relu, requantize

__all__ = ["input_activations", "infer", "accumulator_width"]


def accumulator_width(model):
    """Accumulator width that no layer of ``model`` can overflow."""
    return max(accumulator_bits(model.act_bits, model.codebook_bits, layer.cols, model.bias_bits)
               for layer in model.layers)


def input_activations(model, raw):
    """Raw integer inputs (B, inputs) as first-layer activation mantissas."""
    raw = np.asarray(raw)
    if raw.ndim != 2 or raw.shape[1] != model.layers[0].cols:
        raise ValueError(f"inputs must have shape (B, {model.layers[0].cols}), not {raw.shape}")
    check_fits("inputs", raw, 32)
    return requantize(raw.astype(np.int64), model.input_shift, model.act_bits)


def infer(model, raw, *, trace=False):
    """Integer outputs of the last layer, (B, outputs).

    With ``trace``, also the list of every layer's input activations.
    """
    a = input_activations(model, raw)
    acts = [a]
    for layer in model.layers:
        w = layer.weights()
        acc = a.astype(object) @ w.T.astype(object) + layer.bias.astype(object)
        y = requantize(acc.astype(np.int64), layer.shift, model.act_bits)
        a = relu(y) if layer.relu else y
        acts.append(a)
    return (a, acts) if trace else a
