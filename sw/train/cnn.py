"""Small convolutional networks in numpy: training, fixed point, integer inference.

A LeNet-5-like network: convolution layers (3x3 by default, valid, ReLU,
2x2 max pooling) then fully connected layers (ReLU, softmax output).
Training is mini-batch SGD with momentum, deterministic for a seed:
``sw.train.nn``'s loop and gradients, run on this network's own arrays;
convolutions are im2col products, enough for MNIST-sized images.

``quantize`` turns a trained float network into integers that follow
``docs/numerics.md`` (8-bit activations and weights, biases at the product
scale, round half up and saturate), and ``infer_fixed`` runs it on integers
with a pluggable convolution: the golden direct correlation by default, or
a hardware tile in simulation, which must agree with it bit for bit.
"""

import math

import numpy as np

from sw.golden.conv import correlate2d
from sw.golden.dense import dense_layer
from sw.spec.numerics import relu, requantize
from sw.train import nn
from sw.train.nn import _im2col, _pool

__all__ = ["LENET5_LIKE", "lenet5_mnist", "fixed_inputs", "init", "forward", "predict", "accuracy",
           "train", "quantize", "infer_fixed"]

#: Conv layers (out channels, filter size), then hidden fully connected widths.
LENET5_LIKE = {"convs": [(6, 3), (12, 3)], "hidden": [64], "classes": 10}


def _conv_out(side, r):
    return (side - r + 1) // 2


def init(shape, arch=LENET5_LIKE, seed=0):
    """He-initialized ``{"convs": [{"W": (K, C, r, r), "b"}], "fcs": [{"W", "b"}]}``.

    ``shape`` is the input's (C, H, W).
    """
    rng = np.random.default_rng(seed)
    c, h, w = shape
    convs = []
    for k, r in arch["convs"]:
        convs.append({"W": rng.normal(0, math.sqrt(2 / (c * r * r)), (k, c, r, r)),
                      "b": np.zeros(k)})
        c, h, w = k, _conv_out(h, r), _conv_out(w, r)
    sizes = [c * h * w] + list(arch["hidden"]) + [arch["classes"]]
    fcs = [{"W": rng.normal(0, math.sqrt(2 / n_in), (n_out, n_in)), "b": np.zeros(n_out)}
           for n_in, n_out in zip(sizes[:-1], sizes[1:])]
    return {"convs": convs, "fcs": fcs}


def forward(net, x):
    """Logits of (B, C, H, W) inputs, with what backpropagation needs."""
    cache = []
    for layer in net["convs"]:
        k, c, r, _ = layer["W"].shape
        cols = _im2col(x, r)
        z = (cols @ layer["W"].reshape(k, -1).T + layer["b"]).transpose(0, 3, 1, 2)
        a = np.maximum(z, 0)
        pooled, cropped = _pool(a)
        cache.append((x, cols, z, cropped, pooled))
        x = pooled
    h = x.reshape(len(x), -1)
    acts = [h]
    for i, layer in enumerate(net["fcs"]):
        z = acts[-1] @ layer["W"].T + layer["b"]
        acts.append(z if i == len(net["fcs"]) - 1 else np.maximum(z, 0))
    return acts[-1], (cache, acts)


def predict(net, x):
    return forward(net, x)[0].argmax(axis=1)


def accuracy(net, x, y):
    return float(np.mean(predict(net, x) == y))


def _gradients(net, x, y):
    """``{"convs": [...], "fcs": [...]}``: per layer, ``{"W", "b"}`` gradients of the mean loss."""
    layers = nn.from_cnn(net, share=True)
    grads = nn.gradients(layers, x, y)
    flat = [grads[i] for i in nn.weighted(layers)]
    return {"convs": flat[:len(net["convs"])], "fcs": flat[len(net["convs"]):]}


def train(net, x, y, *, epochs=4, lr=0.05, momentum=0.9, batch=64, weight_decay=1e-4,
          seed=0, progress=None):
    """Train ``net`` in place on (B, C, H, W) float inputs; return it.

    ``sw.train.nn.fit`` with ``sw.train.nn.Momentum`` on ``net``'s own arrays,
    updated in place.
    """
    layers = nn.from_cnn(net, share=True)

    def batch_gradients(idx):
        grads = nn.gradients(layers, x[idx], y[idx])
        for grad in grads.values():
            # This trainer always added a zero decay term to the biases, which
            # makes a -0.0 gradient +0.0: kept, so training stays bit for bit.
            grad["b"] = grad["b"] + 0
        return grads

    nn.fit(len(x), epochs=epochs, batch=batch, seed=seed, gradients=batch_gradients,
           optimizer=nn.Momentum(layers, lr=lr, momentum=momentum, weight_decay=weight_decay,
                                 in_place=True),
           progress=progress, label="CNN", template="{label} epoch {epoch}/{epochs}")
    return net


# ---------------------------------------------------------------- fixed point

def _frac_for(max_abs, bits):
    """Most fraction bits that keep ``max_abs`` inside a signed ``bits`` number."""
    if max_abs <= 0:
        return bits - 1
    return int(math.floor(math.log2(((1 << (bits - 1)) - 1) / max_abs)))


def quantize(net, calibration, *, input_frac, bits=8):
    """Integer layers for ``infer_fixed`` (``docs/numerics.md``).

    Weights get the most fraction bits that fit ``bits`` (per layer); each
    layer's output gets the most that fit its largest activation on the
    float ``calibration`` inputs (B, C, H, W); biases sit at the product
    scale. The input is raw integers with ``input_frac`` fraction bits.
    """
    _, (cache, acts) = forward(net, calibration)
    outs = [np.maximum(z, 0).max() for _, _, z, _, _ in cache] + \
           [a.max() for a in acts[1:-1]]
    layers, f_in = [], input_frac
    for i, layer in enumerate(net["convs"] + net["fcs"]):
        f_w = _frac_for(np.abs(layer["W"]).max(), bits)
        w = np.rint(layer["W"] * 2.0 ** f_w).astype(np.int64)
        b = np.rint(layer["b"] * 2.0 ** (f_in + f_w)).astype(np.int64)
        last = i == len(net["convs"]) + len(net["fcs"]) - 1
        f_out = f_in + f_w if last else min(_frac_for(outs[i], bits), f_in + f_w)
        layers.append({"kind": "conv" if i < len(net["convs"]) else "fc", "W": w, "b": b,
                       "weight_frac": f_w, "in_frac": f_in, "out_frac": f_out,
                       "shift": f_in + f_w - f_out, "relu": not last})
        f_in = f_out
    return {"layers": layers, "bits": bits, "input_frac": input_frac}


def infer_fixed(q, x, *, conv=None, trace=False):
    """Integer inference of ``quantize``'s layers on raw integer inputs (B, C, H, W).

    ``conv(x, w)`` computes a batch's exact valid correlations, (B, C, H, W)
    by (K, C, r, r) to (B, K, Ho, Wo); default the golden
    ``sw.golden.conv.correlate2d``, image by image. A conv layer
    adds the bias, requantizes (round half up, saturate), applies ReLU and
    pools 2x2; the last layer's raw accumulators are the logits. With
    ``trace``, also returns each conv layer's (inputs, correlations).
    """
    if conv is None:
        conv = lambda xs, w: np.stack([correlate2d(img, w) for img in xs])  # noqa: E731
    bits = q["bits"]
    a = np.asarray(x, dtype=np.int64)
    seen = []
    for layer in q["layers"]:
        if layer["kind"] == "conv":
            y = conv(a, layer["W"])
            seen.append((a, y))
            acc = y + layer["b"][None, :, None, None]
            out = relu(requantize(acc, layer["shift"], bits))
            a = _pool(out)[0]
        else:
            a = a.reshape(len(a), -1)
            a = dense_layer(a, layer["W"], layer["b"], requant=layer["relu"],
                            shift=layer["shift"], out_bits=bits, relu=layer["relu"])
    return (a, seen) if trace else a


# ---------------------------------------------------------------- the preset

#: Raw MNIST pixels (0-255) halved fit 8-bit signed activations: 7 fraction bits.
INPUT_FRAC = 7


def fixed_inputs(raw):
    """Raw MNIST pixels (B, 784) as the network's integer inputs (B, 1, 28, 28)."""
    return (np.asarray(raw, dtype=np.int64) >> 1).reshape(-1, 1, 28, 28)


def lenet5_mnist(*, epochs=6, seed=0, progress=None):
    """Train the LeNet-5-like network on the bundled MNIST digits and quantize it.

    Returns ``(net, q, report)``: float layers, integer layers for
    ``infer_fixed`` (inputs from ``fixed_inputs``) and test accuracies.
    """
    from sw.train.datasets import load
    data = load("mnist")
    x = data.scaled(data.x_train).reshape(-1, 1, 28, 28)
    xt = data.scaled(data.x_test).reshape(-1, 1, 28, 28)
    net = init((1, 28, 28), seed=seed)
    train(net, x, data.y_train, epochs=epochs, seed=seed, progress=progress)
    q = quantize(net, x[:500], input_frac=INPUT_FRAC)
    logits = infer_fixed(q, fixed_inputs(data.x_test))
    report = {"float": accuracy(net, xt, data.y_test),
              "fixed_point": float(np.mean(logits.argmax(axis=1) == data.y_test)),
              "train_digits": len(x), "test_digits": len(xt), "epochs": epochs}
    return net, q, report
