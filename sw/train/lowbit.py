"""Binary and ternary MLPs: quantizers, straight-through training, integer networks.

Quantizers (weights ``W`` of a layer, one row per output):

* ``bwn``: ``alpha * sign(W)``, ``alpha = mean |W|`` per row (BWN).
* ``xnor``: BWN weights and binarized activations (XNOR-Net): each layer's
  input is ``beta * sign(a)`` with ``beta = mean |a|`` per sample (the
  paper's K), or 1 with ``beta=False``; batch normalization before each
  binarization. The last layer keeps one ``alpha`` for the whole layer.
* ``twn``: ``alpha * t``, ``t = sign(W)`` where ``|W| > 0.7 mean |W|``, else 0;
  ``alpha`` the mean ``|W|`` of the kept weights (TWN, per layer).
* ``ttq``: ``+Wp`` where ``W > 0.05 max |W|``, ``-Wn`` where ``W < -0.05 max |W|``,
  else 0, with ``Wp`` and ``Wn`` trained (TTQ, per layer).

A network is run and trained as a ``sw.train.nn`` sequential network
(``_sequential``: its layers hold this network's arrays) with the quantizers
as hooks, through ``sw.train.nn.fit``'s loop with Adam for optimizer.
Training keeps float "latent" weights and uses the straight-through
estimator: the gradient of the quantized weights is applied to the latent
ones (zeroed where ``|W| > 1`` for binary weights, scaled by ``Wp``/``Wn``
for TTQ as the paper does), and ``sign`` passes gradients where its input
is within [-1, 1]. Every quantized network starts from the trained float
one. ``to_binary_net`` folds batch normalization into integer thresholds
and ``to_ternary_net`` chooses fixed-point formats (``docs/numerics.md``).
"""

import copy
import math
import time
from functools import partial

import numpy as np

from sw.compress.quantize import frac_for, to_mantissas
from sw.golden.dense import dense_layer
from sw.golden.lowbit import BinaryNet, TernaryNet, binary_infer, ternary_infer
from sw.train import nn
from sw.train.datasets import load as load_dataset
from sw.train.nn import _sign

__all__ = ["KINDS", "init", "forward", "accuracy", "train", "to_binary_net", "to_ternary_net",
           "to_fixed_point", "fixed_infer", "train_all"]

KINDS = ("float", "bwn", "xnor", "twn", "ttq")
EPS = 1e-5


def init(sizes, seed):
    """He-initialized float layers with batch-normalization state."""
    rng = np.random.default_rng(seed)
    return [{"W": rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)), "b": np.zeros(n_out),
             "gamma": np.ones(n_out), "beta": np.zeros(n_out),
             "mean": np.zeros(n_out), "var": np.ones(n_out)}
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def quantize(kind, layer, last=False):
    """The weights a layer computes with, and the masks TTQ's gradient needs."""
    w = layer["W"]
    if kind == "float":
        return w, None
    if kind in ("bwn", "xnor"):
        alpha = np.abs(w).mean() if kind == "xnor" and last else \
            np.abs(w).mean(axis=1, keepdims=True)
        return alpha * _sign(w), None
    if kind == "twn":
        delta = 0.7 * np.abs(w).mean()
        t = (w > delta) * 1.0 - (w < -delta)
        kept = np.abs(w)[t != 0]
        return (kept.mean() if kept.size else 0.0) * t, None
    if kind == "ttq":
        delta = 0.05 * np.abs(w).max()
        pos, neg = w > delta, w < -delta
        return layer["wp"] * pos - layer["wn"] * neg, (pos, neg)
    raise ValueError(f"unknown quantizer {kind!r}: choose one of {', '.join(KINDS)}")


#: XNOR-Net's batch normalization as trained here (``sw.train.nn.BN_RUNNING``):
#: running statistics 0.9 old + 0.1 batch, of the biased batch variance.
_BN_RUNNING = (0.9, 0.1, False)


def _straight_through(kind, layer, masks, dwq):
    """The latent parameters' gradients from the quantized weights' ``dwq``."""
    if kind in ("bwn", "xnor"):
        return {"W": dwq * (np.abs(layer["W"]) <= 1)}
    if kind == "ttq":
        pos, neg = masks
        return {"W": dwq * np.where(pos, layer["wp"], np.where(neg, layer["wn"], 1.0)),
                "wp": dwq[pos].sum(), "wn": -dwq[neg].sum()}
    return {"W": dwq}


def _sequential(net):
    """``net`` as ``sw.train.nn`` layers holding its arrays: ``(layers, quantizers,
    origin)``, ``origin`` the index in ``net`` of each dense and BN layer.

    A hidden layer is dense then ReLU, or for XNOR-Net dense, batch
    normalization and sign; XNOR-Net's input is binarized around 0.5 (pixels
    in [0, 1]).
    """
    kind, layers = net["kind"], net["layers"]
    seq, quantizers, origin = [], {}, {}
    if kind == "xnor":
        seq.append({"kind": "sign", "beta": net["beta"], "offset": 0.5})
    for i, layer in enumerate(layers):
        last = i == len(layers) - 1
        origin[len(seq)] = i
        quantizers[len(seq)] = (partial(quantize, kind, last=last),
                                partial(_straight_through, kind))
        seq.append({"kind": "dense", **{k: layer[k] for k in ("W", "b", "wp", "wn")
                                        if k in layer}})
        if last:
            break
        if kind == "xnor":
            origin[len(seq)] = i
            seq.append({"kind": "bn", "running": _BN_RUNNING,
                        **{k: layer[k] for k in ("gamma", "beta", "mean", "var")}})
            seq.append({"kind": "sign", "beta": net["beta"]})
        else:
            seq.append({"kind": "relu"})
    return seq, quantizers, origin


def _keep_statistics(net, seq, origin):
    """Training moved the BN layers' running statistics: back into ``net``."""
    for j, i in origin.items():
        if seq[j]["kind"] == "bn":
            net["layers"][i]["mean"], net["layers"][i]["var"] = seq[j]["mean"], seq[j]["var"]


def forward(net, x, train=False):
    """Logits and, per layer, what backpropagation needs (``sw.train.nn.forward``).

    Per layer: ``{"a": input, "wq": quantized weights, "masks", "z": output}``,
    and for XNOR-Net's hidden layers the batch normalization's ``xhat`` and
    ``inv_std``, its output ``h`` and the sign's scale ``k``.
    """
    seq, quantizers, origin = _sequential(net)
    z, caches = nn.forward(seq, x, train=train, quantizers=quantizers)
    out = [caches[j] for j in quantizers]
    for j, i in origin.items():
        if seq[j]["kind"] == "bn":
            xhat, inv_std, _, _ = caches[j]
            h, k = caches[j + 1]
            out[i].update(xhat=xhat, inv_std=inv_std, h=h, k=k)
    if train:
        _keep_statistics(net, seq, origin)
    return z, out


def predict(net, x):
    return forward(net, x)[0].argmax(axis=1)


def accuracy(net, x, y):
    return float(np.mean(predict(net, x) == y))


def _gradients(net, x, y):
    """Per layer of ``net``, ``{param: gradient}`` (``sw.train.nn.gradients``)."""
    seq, quantizers, origin = _sequential(net)
    grads = nn.gradients(seq, x, y, quantizers=quantizers)
    _keep_statistics(net, seq, origin)
    out = [{} for _ in net["layers"]]
    for j, i in origin.items():
        out[i].update(grads[j])
        if seq[j]["kind"] == "bn":
            out[i]["b"] = np.zeros_like(out[i]["b"])  # BN's shift absorbs the bias
    return out


def train(net, x, y, *, epochs, lr=2e-3, batch=100, seed=0, progress=None, label="train"):
    """Adam with a cosine learning-rate decay; latent binary weights clipped to [-1, 1].

    BLAS runs on one thread: on a shared 2-core machine OpenBLAS's threads
    make these small products many times slower, not faster.
    """
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        return _train(net, x, y, epochs=epochs, lr=lr, batch=batch, seed=seed,
                      progress=progress, label=label)


class _Adam:
    """Adam (0.9, 0.999, 1e-8) with a cosine decay of the rate over ``steps``
    steps, latent binary weights clipped to [-1, 1]; ``sw.train.nn.fit``'s optimizer."""

    def __init__(self, net, lr, steps):
        self.net, self.lr, self.steps, self.step_count = net, lr, steps, 0
        layers = net["layers"]
        keys = [[k for k in ("W", "b", "wp", "wn", "gamma", "beta") if k in layer]
                for layer in layers]
        self.m = [{k: np.zeros_like(layer[k], dtype=float) for k in ks}
                  for layer, ks in zip(layers, keys)]
        self.v = [{k: np.zeros_like(layer[k], dtype=float) for k in ks}
                  for layer, ks in zip(layers, keys)]

    def start(self, epoch):
        pass

    def step(self, grads):
        step = self.step_count
        rate = self.lr * 0.5 * (1 + math.cos(math.pi * step / self.steps))
        self.step_count = step = step + 1
        for i, grad in grads.items():
            layer, mi, vi = self.net["layers"][i], self.m[i], self.v[i]
            for k, g in grad.items():
                mi[k] = 0.9 * mi[k] + 0.1 * g
                vi[k] = 0.999 * vi[k] + 0.001 * g * g
                mhat, vhat = mi[k] / (1 - 0.9 ** step), vi[k] / (1 - 0.999 ** step)
                layer[k] = layer[k] - rate * mhat / (np.sqrt(vhat) + 1e-8)
            if self.net["kind"] in ("bwn", "xnor"):
                layer["W"] = np.clip(layer["W"], -1, 1)


def _train(net, x, y, *, epochs, lr, batch, seed, progress, label):
    steps_per_epoch = -(-len(x) // batch)
    nn.fit(len(x), epochs=epochs, batch=batch, seed=seed,
           gradients=lambda idx: dict(enumerate(_gradients(net, x[idx], y[idx]))),
           optimizer=_Adam(net, lr, epochs * steps_per_epoch), progress=progress, label=label)
    return net


def start_from(float_net, kind, beta=False):
    """A ``kind`` network initialized from a trained float one."""
    net = {"kind": kind, "beta": beta, "layers": copy.deepcopy(float_net["layers"])}
    for layer in net["layers"]:
        if kind == "ttq":
            w = layer["W"]
            delta = 0.05 * np.abs(w).max()
            layer["wp"] = float(w[w > delta].mean())
            layer["wn"] = float(-w[w < -delta].mean())
        if kind == "xnor":
            layer["b"] = np.zeros_like(layer["b"])
    return net


# ---------------------------------------------------------------- integer networks

def to_binary_net(net, input_frac=8):
    """The XNOR network in integers, batch normalization folded into thresholds.

    See ``docs/numerics.md``; exact for ``beta=False`` up to float ties and
    the rounding of the last layer's bias to an integer.
    """
    if net["kind"] != "xnor":
        raise ValueError(f"only an xnor network becomes a binary network, not {net['kind']}")
    layers = net["layers"]
    weights, thresholds = [], []
    for layer in layers[:-1]:
        w = layer["W"]
        n = w.shape[1]
        bits = (w >= 0).astype(np.int64)
        alpha = np.abs(w).mean(axis=1)
        sigma = np.sqrt(layer["var"] + EPS)
        gamma, shift = layer["gamma"], layer["beta"]
        t = np.empty(len(w), dtype=np.int64)
        for r in range(len(w)):
            if gamma[r] == 0:
                t[r] = -n if shift[r] >= 0 else n + 1
                continue
            tau = (layer["mean"][r] - shift[r] * sigma[r] / gamma[r] - layer["b"][r]) / alpha[r]
            if gamma[r] < 0:
                bits[r], tau = 1 - bits[r], -tau
            t[r] = int(np.clip(math.ceil(tau), -n, n + 1))
        weights.append(bits)
        thresholds.append(t)
    last = layers[-1]
    weights.append((last["W"] >= 0).astype(np.int64))
    bias = np.rint(last["b"] / np.abs(last["W"]).mean()).astype(np.int64)
    return BinaryNet(input_threshold=1 << (input_frac - 1), weights=weights,
                     thresholds=thresholds, bias=bias)


def _ternary_layers(net):
    """Per layer: ternary weights (M, N) and float scales (M, 2)."""
    out = []
    for i, layer in enumerate(net["layers"]):
        wq, _ = quantize(net["kind"], layer, i == len(net["layers"]) - 1)
        t = np.sign(wq).astype(np.int64)
        wp = np.where(t > 0, wq, 0).max(axis=1)
        wn = -np.where(t < 0, wq, 0).min(axis=1)
        out.append((t, np.stack([wp, wn], axis=1), layer["b"]))
    return out


def _formats(weight_max, bias_max, act_max, f_in, bits, bias_bits):
    """Weight fraction, output fraction and shift of one layer (``docs/numerics.md``)."""
    f_w = min(frac_for(weight_max, bits), frac_for(bias_max, bias_bits) - f_in)
    f_out = min(frac_for(act_max, bits), f_in + f_w)
    return f_w, f_out, f_in + f_w - f_out


def _act_max(net, x):
    """Largest activation magnitude at each layer's output, on calibration inputs."""
    return [float(np.abs(cache["z"]).max()) for cache in forward(net, x)[1]]


def to_ternary_net(net, calibration, *, act_bits=8, scale_bits=8, bias_bits=16, input_frac=8):
    """A BWN, TWN or TTQ network in fixed point for the ternary array.

    ``calibration``: float inputs (values in [0, 1)) that set the
    activation formats.
    """
    if net["kind"] not in ("bwn", "twn", "ttq"):
        raise ValueError(f"only bwn, twn and ttq networks have ternary weights, "
                         f"not {net['kind']}")
    input_shift = max(0, input_frac + 1 - act_bits + 1)  # 8-bit pixels into signed act_bits
    f_in = input_frac - input_shift
    weights, scales, biases, shifts = [], [], [], []
    for i, ((t, s, b), act_max) in enumerate(zip(_ternary_layers(net),
                                                 _act_max(net, calibration))):
        bias_max = float(np.abs(b).max()) if b.size else 0.0
        f_w, f_out, shift = _formats(float(np.abs(s).max()), bias_max, act_max, f_in,
                                     scale_bits, bias_bits)
        weights.append(t)
        scales.append(to_mantissas(s, f_w, scale_bits, f"layer {i} scales"))
        biases.append(to_mantissas(b, f_in + f_w, bias_bits, f"layer {i} bias"))
        shifts.append(shift)
        f_in = f_out
    return TernaryNet(input_shift=input_shift, weights=weights, scales=scales, biases=biases,
                      shifts=shifts, act_bits=act_bits, scale_bits=scale_bits,
                      bias_bits=bias_bits, out_bits=[act_bits] * len(weights))


def to_fixed_point(net, calibration, bits, input_frac=8):
    """A float network as fixed-point layers for the MAC array (``bits`` everywhere)."""
    bias_bits = 2 * bits
    input_shift = max(0, input_frac + 2 - bits)
    f_in = input_frac - input_shift
    layers = []
    for layer, act_max in zip(net["layers"], _act_max(net, calibration)):
        w, b = layer["W"], layer["b"]
        f_w, f_out, shift = _formats(float(np.abs(w).max()), float(np.abs(b).max()), act_max,
                                     f_in, bits, bias_bits)
        layers.append({"W": to_mantissas(w, f_w, bits, "weights"),
                       "b": to_mantissas(b, f_in + f_w, bias_bits, "bias"),
                       "shift": shift, "bits": bits})
        f_in = f_out
    return {"input_shift": input_shift, "layers": layers}


def fixed_infer(fixed, raw):
    """Integer inference of ``to_fixed_point``'s layers (``sw.golden.dense.dense_layer``)."""
    x = np.asarray(raw, dtype=np.int64) >> fixed["input_shift"]
    for i, layer in enumerate(fixed["layers"]):
        x = dense_layer(x, layer["W"], layer["b"], shift=layer["shift"], out_bits=layer["bits"],
                        relu=i < len(fixed["layers"]) - 1)
    return x


# ---------------------------------------------------------------- the accuracy table

def train_all(*, dataset="mnist", sizes=(784, 300, 100, 10), epochs=10, lowbit_epochs=10,
              augment=True, seed=0, kinds=None, progress=None):
    """Train the float network and every quantized one; measure their accuracies.

    Returns ``(nets, table)``: ``nets`` maps a name to its network (float
    nets as dicts, integer ones as ``BinaryNet``/``TernaryNet``/fixed-point
    dicts), ``table`` lists rows ``{name, weights, activations, accuracy,
    runs_on}``.
    """
    say = progress or (lambda message: None)
    started = time.monotonic()
    data = load_dataset(dataset)
    raw_train, y_train = data.augmented() if augment else (data.x_train, data.y_train)
    x_train, x_test, y_test = data.scaled(raw_train), data.scaled(data.x_test), data.y_test
    calibration = data.scaled(data.x_train)
    kinds = kinds or ["bwn", "xnor-beta", "xnor", "twn", "ttq"]
    nets, table = {}, []

    def row(name, weights, acts, acc, runs_on):
        table.append({"name": name, "weights": weights, "activations": acts,
                      "accuracy": acc, "runs_on": runs_on})
        say(f"{name}: test accuracy {100 * acc:.2f}%")

    say(f"float {'-'.join(map(str, sizes))} on {len(x_train)} {data.name} digits")
    float_net = {"kind": "float", "beta": False, "layers": init(list(sizes), seed)}
    train(float_net, x_train, y_train, epochs=epochs, seed=seed, progress=say, label="float")
    nets["float"] = float_net
    row("float", "32-bit float", "32-bit float", accuracy(float_net, x_test, y_test), "-")
    for bits in (16, 8):
        fixed = to_fixed_point(float_net, calibration, bits, data.input_frac)
        nets[f"fixed{bits}"] = fixed
        acc = float(np.mean(fixed_infer(fixed, data.x_test).argmax(axis=1) == y_test))
        row(f"fixed point {bits}-bit", f"{bits}-bit", f"{bits}-bit", acc, f"mac {bits}-bit")

    labels = {"bwn": ("BWN", "1-bit x alpha/row", "32-bit float"),
              "xnor-beta": ("XNOR-Net (beta)", "1-bit x alpha/row", "1-bit x beta/sample"),
              "xnor": ("XNOR-Net, no beta (BNN)", "1-bit x alpha/row", "1-bit"),
              "twn": ("TWN", "2-bit x alpha/layer", "32-bit float"),
              "ttq": ("TTQ", "2-bit x Wp, Wn/layer", "32-bit float")}
    for name in kinds:
        kind = "xnor" if name.startswith("xnor") else name
        net = start_from(float_net, kind, beta=name == "xnor-beta")
        train(net, x_train, y_train, epochs=lowbit_epochs, seed=seed + 1, progress=say,
              label=name)
        nets[name] = net
        title, w_desc, a_desc = labels[name]
        row(title, w_desc, a_desc, accuracy(net, x_test, y_test), "-")
        if name == "xnor":
            binary = to_binary_net(net, data.input_frac)
            nets["xnor-int"] = binary
            acc = float(np.mean(binary_infer(binary, data.x_test).argmax(axis=1) == y_test))
            row("XNOR-Net, BN folded into thresholds (integers)", "1-bit", "1-bit", acc, "xnor")
        elif kind in ("bwn", "twn", "ttq"):
            ternary = to_ternary_net(net, calibration, input_frac=data.input_frac)
            nets[f"{name}-int"] = ternary
            acc = float(np.mean(ternary_infer(ternary, data.x_test).argmax(axis=1) == y_test))
            row(f"{title}, fixed point (8-bit activations and scales)", w_desc.split(" x")[0],
                "8-bit", acc, "ternary")
    say(f"trained and measured in {time.monotonic() - started:.0f} s")
    return nets, table
