"""Golden model of a compressed fully connected network, bit-exact with the EIE engine.

Naive on purpose: decode each layer's codebook indices into a dense matrix
of integer weights, multiply in exact integers, add the bias, requantize
(round half up, saturate) and apply ReLU between layers, as
``docs/numerics.md`` says (``sw.golden.network``, whose fully connected
layers these are). Integer sums do not depend on order, so this equals what
the engine computes entry by entry.
"""

from sw.golden import network
from sw.spec.numerics import accumulator_bits

__all__ = ["input_activations", "infer", "accumulator_width"]


def accumulator_width(model):
    """Accumulator width that no layer of ``model`` can overflow."""
    return max(accumulator_bits(model.act_bits, model.codebook_bits, layer.cols, model.bias_bits)
               for layer in model.layers)


def _check(model):
    if not model.is_mlp:
        raise ValueError(f"model {model.name!r} has convolution or pooling layers: the EIE "
                         f"engine runs fully connected networks; run it with eiegen sim network")


def input_activations(model, raw):
    """Inputs (B, inputs) as first-layer activation mantissas, flattened."""
    _check(model)
    a, _ = network.input_activations(model, raw)
    return a.reshape(len(a), -1)


def infer(model, raw, *, trace=False):
    """Integer outputs of the last layer, (B, outputs).

    With ``trace``, also the list of every layer's input activations.
    """
    _check(model)
    y, acts = network.infer(model, raw, trace=True)
    acts = [acts[0].reshape(len(acts[0]), -1)] + acts[1:]
    return (y, acts) if trace else y
