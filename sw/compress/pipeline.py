"""Deep Compression end to end: train, prune, share, quantize, encode for EIE.

``compress_preset`` reproduces the paper's pipeline on a bundled network and
data set; ``compress_weights`` compresses a user's float weights (no data:
pruning and sharing without retraining). Both end in ``finish``, which
chooses the fixed-point formats, encodes every layer for EIE and measures
the sizes at each stage.
"""

import time
from dataclasses import dataclass

import numpy as np

from hw.eie.config import EieConfig
from sw.compress.prune import density, iterative_prune, sensitivity, threshold_masks
from sw.compress.quantize import layer_formats, to_mantissas
from sw.compress.share import share_layer
from sw.flows.eie_image import nnz_depth_for
from sw.formats.csc import encode_column, encode_layer
from sw.formats.huffman import encoded_bits
from sw.formats.model import CompressedModel, Layer
from sw.train import mlp
from sw.train.datasets import load as load_dataset

__all__ = ["PRESETS", "compress_preset", "compress_weights", "train_dense", "Trained",
           "prune_and_share", "finish_trained", "activation_max", "finish", "size_table",
           "size_rows", "SIZE_COLUMNS", "check_float_layers", "check_format"]

#: The bundled networks. Pruning qualities are per layer (threshold = quality
#: x std of the trained dense layer), chosen to land near the densities of
#: Deep Compression's LeNet-300-100 (8%, 9%, 26%). Pruning is load-balance
#: aware (ESE): each PE's rows keep the same number of weights. Epochs count passes over
#: the augmented training set (5x the split: one-pixel shifts), every stage
#: trains on the same data.
PRESETS = {
    "lenet-300-100": dict(dataset="mnist", sizes=[784, 300, 100, 10], epochs=12, lr=0.02,
                          qualities=[1.8, 1.7, 1.1], prune_rounds=3, retrain_epochs=6,
                          finetune_epochs=3),
    "digits-mlp": dict(dataset="digits", sizes=[64, 48, 32, 10], epochs=12, lr=0.02,
                       qualities=[1.2, 1.1, 0.8], prune_rounds=2, retrain_epochs=4,
                       finetune_epochs=2),
}

FORMAT_DEFAULTS = dict(pes=8, index_bits=4, z_bits=4, act_bits=16, codebook_bits=16,
                       bias_bits=32)


def check_format(pes, index_bits, z_bits, act_bits, codebook_bits, bias_bits):
    """Refuse format parameters the hardware or the golden model cannot hold."""
    for name, value, lo, hi, option in (
            ("PE count", pes, 1, 64, "--pes"), ("index width", index_bits, 1, 8, "--index-bits"),
            ("relative-index width", z_bits, 1, 8, "--z-bits"),
            ("activation width", act_bits, 4, 24, "--act-bits"),
            ("codebook width", codebook_bits, 2, 24, "--codebook-bits"),
            ("bias width", bias_bits, 2, 48, "--bias-bits")):
        if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
            raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {value!r} "
                             f"(option {option})")


def check_calibration(raw, inputs):
    """Calibration inputs must be a non-empty (B, ``inputs``) array of finite
    numbers (raw, value = raw / 256): one-line ``ValueError`` otherwise."""
    raw = np.asarray(raw)
    if raw.ndim != 2 or raw.shape[1] != inputs or not len(raw):
        raise ValueError(f"calibration inputs must have shape (B, {inputs}) with B >= 1, "
                         f"not {raw.shape}")
    if not np.issubdtype(raw.dtype, np.number) or not np.isfinite(raw).all():
        raise ValueError("calibration inputs hold NaN, infinite or non-numeric values")


def check_float_layers(layers, qualities=None):
    """Float layers must be finite, not all zero, and chain, and ``qualities``
    (None: the default) one a layer: one-line ``ValueError`` otherwise."""
    if not layers:
        raise ValueError("no layers: expected arrays W0, b0, W1, b1, ...")
    if qualities is not None and len(qualities) != len(layers):
        raise ValueError(f"{len(qualities)} pruning qualities given for {len(layers)} layers "
                         f"(--quality takes one a layer)")
    for i, layer in enumerate(layers):
        w, b = layer["W"], layer["b"]
        if w.ndim != 2:
            raise ValueError(f"W{i} must be 2-D (outputs, inputs), not shape {w.shape}")
        if b.shape != (w.shape[0],):
            raise ValueError(f"b{i} has shape {b.shape}, expected ({w.shape[0]},) for W{i}")
        for name, a in ((f"W{i}", w), (f"b{i}", b)):
            if not np.issubdtype(a.dtype, np.number) or not np.isfinite(a).all():
                raise ValueError(f"{name} holds NaN, infinite or non-numeric values")
        if not np.any(w):
            raise ValueError(f"W{i} is all zeros: nothing to prune, share or run")
        if i and w.shape[1] != layers[i - 1]["W"].shape[0]:
            raise ValueError(f"W{i} takes {w.shape[1]} inputs but W{i - 1} gives "
                             f"{layers[i - 1]['W'].shape[0]}: the layers do not chain")


def size_table(float_layers, indices, index_bits, z_bits, eie_layers, pes):
    """Deep Compression's size table, per layer and in total (bytes).

    Sizes follow the paper's accounting: the sparse weights of a layer as one
    stream of (weight, relative index) entries over the matrix flattened in
    column order, with padding entries where a zero run is longer than
    ``z_bits`` can count; biases stay 32-bit floats at every stage.
    ``eie_bytes`` is what the engine's memories hold instead: the per-PE
    entries plus column pointers as wide as the engine sized for all of
    ``eie_layers`` makes them (``EieConfig.pointer_bits``: 16 bits up to 65535
    entries a PE, 17 from 65536), the 16-bit codebook and the biases.
    ``index_bits`` and ``z_bits`` may be one width for all layers or a list
    (Deep Compression's LeNet-5: 8 bits for conv layers, 5 for dense ones).
    """
    pointer_bits = EieConfig(nnz_depth=nnz_depth_for(eie_layers)).pointer_bits
    rows = []
    widths = [(index_bits, z_bits)] * len(indices) if isinstance(index_bits, int) else \
        list(zip(index_bits, z_bits))
    for i, (layer, idx, eie, (index_bits, z_bits)) in enumerate(
            zip(float_layers, indices, eie_layers, widths)):
        v, z = encode_column(idx.T.ravel(), z_bits)
        n, m = idx.size, idx.shape[0]
        bias = 4 * m
        codebook = 4 * (1 << index_bits)
        entries = len(v)
        huffman_bits = encoded_bits(v) + encoded_bits(z)
        eie_entries = sum(len(x) for x in eie.v)
        row = {
            "layer": i, "shape": list(idx.shape), "weights": n,
            "density": float((idx != 0).sum() / n), "entries": entries,
            "index_bits": index_bits, "z_bits": z_bits,
            "bits_per_entry_huffman": round(huffman_bits / max(entries, 1), 2),
            "dense_bytes": 4 * n + bias,
            "pruned_bytes": entries * (32 + z_bits) / 8 + bias,
            "shared_bytes": entries * (index_bits + z_bits) / 8 + codebook + bias,
            "huffman_bytes": huffman_bits / 8 + codebook + bias,
            "eie_bytes": eie_entries * (index_bits + z_bits) / 8
                         + pointer_bits * pes * (idx.shape[1] + 1) / 8
                         + 2 * (1 << index_bits) + bias,
        }
        row["ratio"] = row["dense_bytes"] / row["huffman_bytes"]
        rows.append(row)
    total = {k: sum(r[k] for r in rows) for k in ("weights", "entries", "dense_bytes",
                                                   "pruned_bytes", "shared_bytes",
                                                   "huffman_bytes", "eie_bytes")}
    total["density"] = sum(r["density"] * r["weights"] for r in rows) / total["weights"]
    total["pointer_bits"] = pointer_bits
    total["ratio"] = total["dense_bytes"] / total["huffman_bytes"]
    return rows, total


#: Columns of the size table as shown to people: (key, heading).
SIZE_COLUMNS = [("layer", "layer"), ("shape", "shape"), ("weights", "weights"),
                ("density", "density"), ("entries", "entries"), ("bits", "bits/entry"),
                ("dense", "dense KB"), ("pruned", "pruned KB"), ("shared", "shared KB"),
                ("huffman", "Huffman KB"), ("ratio", "ratio"), ("eie", "EIE KB")]


def size_rows(layers, total):
    """The size table's rows (per layer, then all) as display strings."""
    for r in layers + [dict(total, layer="all", shape=None, bits_per_entry_huffman=None)]:
        yield {
            "layer": str(r["layer"]),
            "shape": "x".join(map(str, r["shape"])) if r["shape"] else "",
            "weights": str(r["weights"]), "density": f"{100 * r['density']:.1f}%",
            "entries": str(r["entries"]),
            "bits": "" if r["bits_per_entry_huffman"] is None
                    else f"{r['bits_per_entry_huffman']:.2f}",
            **{key: f"{r[key + '_bytes'] / 1000:.1f}"
               for key in ("dense", "pruned", "shared", "huffman", "eie")},
            "ratio": f"{r['ratio']:.1f}x",
        }


def finish(name, float_layers, indices, codebooks, act_max, *, input_frac, raw_max, pes,
           index_bits, z_bits, act_bits, codebook_bits, bias_bits, relu=None):
    """Fixed-point formats, EIE encoding and sizes: the ``CompressedModel``.

    ``act_max[l]`` is the largest activation magnitude expected at the output
    of layer ``l`` (float); ``raw_max`` the largest raw input. ``relu``: per
    layer, whether ReLU follows (default: every layer but the last; the
    first factor of a low-rank layer has none).
    """
    # Raw inputs enter unchanged if they fit, else shifted right to fit.
    input_shift = max(0, int(raw_max).bit_length() + 1 - act_bits)
    frac = input_frac - input_shift
    layers, eie_layers = [], []
    for i, (layer, idx, cb) in enumerate(zip(float_layers, indices, codebooks)):
        weight_frac, out_frac = layer_formats(cb, layer["b"], frac, act_max[i],
                                              codebook_bits=codebook_bits, bias_bits=bias_bits,
                                              act_bits=act_bits)
        eie = encode_layer(idx, pes, z_bits)
        eie_layers.append(eie)
        layers.append(Layer(
            eie=eie,
            codebook=to_mantissas(cb, weight_frac, codebook_bits, f"layer {i} codebook"),
            bias=to_mantissas(layer["b"], frac + weight_frac, bias_bits, f"layer {i} bias"),
            weight_frac=weight_frac, in_frac=frac, out_frac=out_frac,
            relu=i < len(float_layers) - 1 if relu is None else bool(relu[i])))
        frac = out_frac
    model = CompressedModel(name=name, pes=pes, index_bits=index_bits, z_bits=z_bits,
                            act_bits=act_bits, codebook_bits=codebook_bits, bias_bits=bias_bits,
                            input_frac=input_frac, input_shift=input_shift, layers=layers)
    table, total = size_table(float_layers, indices, index_bits, z_bits, eie_layers, pes)
    return model, table, total


def _share(layers, masks, index_bits, init, seed):
    indices, codebooks = [], []
    for i, (layer, mask) in enumerate(zip(layers, masks)):
        idx, cb = share_layer(layer["W"], mask, index_bits, init, seed + i)
        indices.append(idx)
        codebooks.append(cb)
    return indices, codebooks


def activation_max(layers, x):
    """The largest activation magnitude at each layer's output on inputs ``x``."""
    return [float(np.abs(a).max()) for a in mlp.forward(layers, x)[1:]]


def train_dense(name, *, seed=0, progress=None):
    """Train a bundled network dense: ``Trained`` (its data and float layers).

    What every compression of the preset starts from, so that a sweep over
    compression settings trains it once (``sw.explore``).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(PRESETS)}")
    cfg = PRESETS[name]
    say = progress or (lambda message: None)
    data = load_dataset(cfg["dataset"])
    raw_train, y_train = data.augmented()
    x_train, x_test = data.scaled(raw_train), data.scaled(data.x_test)
    say(f"{name}: training the dense network on {len(data.x_train)} {data.name} digits "
        f"(x5 with shifted copies), testing on {len(x_test)}")
    layers = mlp.init(cfg["sizes"], seed)
    mlp.train(layers, x_train, y_train, epochs=cfg["epochs"], lr=cfg["lr"], seed=seed,
              progress=say, label="dense")
    return Trained(name, data, x_train, y_train, x_test, layers)


@dataclass
class Trained:
    """A bundled network trained dense, with the data it was trained and is tested on."""
    name: str
    data: object  # sw.train.datasets.Dataset
    x_train: np.ndarray  # scaled, augmented
    y_train: np.ndarray
    x_test: np.ndarray  # scaled
    layers: list  # float layers {"W", "b"}


def prune_and_share(trained, layers, *, qualities, retrain_epochs, finetune_epochs,
                    index_bits, balance_pes, init="linear", seed=0, progress=None):
    """Deep Compression's pruning, retraining, sharing and fine-tuning of the
    float ``layers`` (changed in place) of the preset ``trained`` is: the preset's
    rounds and learning rates, the given qualities and epochs.

    Returns ``(masks, indices, codebooks, accuracy, pruned_weights)``: test
    accuracy after each stage, the surviving weights before sharing.
    """
    cfg = PRESETS[trained.name]
    say = progress or (lambda message: None)
    x_train, y_train, x_test, y_test = (trained.x_train, trained.y_train, trained.x_test,
                                        trained.data.y_test)
    masks = iterative_prune(layers, x_train, y_train, qualities,
                            rounds=cfg["prune_rounds"], epochs=retrain_epochs,
                            lr=cfg["lr"] / 2, seed=seed, progress=say,
                            balance_pes=balance_pes)
    acc = {"pruned": mlp.accuracy(layers, x_test, y_test)}
    pruned_weights = [l["W"][m] for l, m in zip(layers, masks)]

    say(f"weight sharing: k-means ({init} init), {2 ** index_bits - 1} centroids a layer")
    indices, codebooks = _share(layers, masks, index_bits, init, seed)
    for layer, idx, cb in zip(layers, indices, codebooks):
        layer["W"] = cb[idx]
    acc["shared_before_finetune"] = mlp.accuracy(layers, x_test, y_test)
    # A centroid's gradient sums over its whole cluster (a thousand weights and
    # more), so its step is scaled down to match a single weight's.
    mlp.train(layers, x_train, y_train, epochs=finetune_epochs, lr=cfg["lr"] / 50,
              seed=seed + 100, shared=list(zip(indices, codebooks)), progress=say,
              label="centroid fine-tuning")
    acc["shared"] = mlp.accuracy(layers, x_test, y_test)
    return masks, indices, codebooks, acc, pruned_weights


def finish_trained(trained, layers, indices, codebooks, **fmt):
    """``finish`` of a preset's shared ``layers``: the fixed-point formats from
    its training data's activations; ``(model, table, total, fixed-point test
    accuracy)`` by the golden model."""
    from sw.golden.eie import infer
    data = trained.data
    model, table, total = finish(
        trained.name, layers, indices, codebooks, activation_max(layers, trained.x_train),
        input_frac=data.input_frac, raw_max=int(data.x_train.max()), **fmt)
    predictions = infer(model, data.x_test).argmax(axis=1)
    return model, table, total, float(np.mean(predictions == data.y_test))


def compress_preset(name, *, seed=0, init="linear", progress=None, **fmt):
    """Train and compress a bundled network; ``(model, report, extras)``.

    ``extras`` holds what the benchmark plots need (sensitivity curves,
    weight distributions at each stage).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(PRESETS)}")
    fmt = {**FORMAT_DEFAULTS, **{k: v for k, v in fmt.items() if v is not None}}
    check_format(**fmt)
    cfg = PRESETS[name]
    say = progress or (lambda message: None)
    started = time.monotonic()
    trained = train_dense(name, seed=seed, progress=say)
    layers, data, x_test = trained.layers, trained.data, trained.x_test
    acc = {"dense": mlp.accuracy(layers, x_test, data.y_test)}
    curves = sensitivity(layers, x_test, data.y_test, [1.0, 0.5, 0.3, 0.2, 0.1, 0.05, 0.02])
    dense_weights = [l["W"].copy() for l in layers]

    masks, indices, codebooks, stages, pruned_weights = prune_and_share(
        trained, layers, qualities=cfg["qualities"], retrain_epochs=cfg["retrain_epochs"],
        finetune_epochs=cfg["finetune_epochs"], index_bits=fmt["index_bits"],
        balance_pes=fmt["pes"], init=init, seed=seed, progress=say)
    acc.update(stages)

    say("fixed point: radix points from weight and activation statistics")
    model, table, total, acc["fixed_point"] = finish_trained(trained, layers, indices,
                                                             codebooks, **fmt)
    report = _report(model, table, total, acc, started, seed=seed, init=init,
                     dataset=data.name, test_samples=len(x_test), qualities=cfg["qualities"])
    extras = {"sensitivity": curves, "dense_weights": dense_weights,
              "pruned_weights": pruned_weights,
              "shared_weights": [cb[idx][idx != 0] for cb, idx in zip(codebooks, indices)],
              "codebooks": codebooks}
    model.stats = {k: report[k] for k in ("compression_ratio", "accuracy", "dataset")}
    say(f"done in {report['wall_s']} s: {report['compression_ratio']:.1f}x, accuracy "
        f"{100 * acc['dense']:.2f}% dense -> {100 * acc['fixed_point']:.2f}% fixed point")
    return model, report, extras


def compress_weights(float_layers, *, name="user", qualities=None, calibration=None,
                     seed=0, init="linear", progress=None, **fmt):
    """Compress given float layers without data: prune, share, quantize, encode.

    ``calibration`` (raw integer inputs, value = raw / 256) sets the
    activation radix points; without it they come from 256 seeded uniform
    random inputs in [0, 1) plus the all-ones input, with one bit of
    headroom (x2), since nothing is known of real inputs.
    """
    fmt = {**FORMAT_DEFAULTS, **{k: v for k, v in fmt.items() if v is not None}}
    check_format(**fmt)
    check_float_layers(float_layers, qualities)
    if calibration is not None:
        check_calibration(calibration, float_layers[0]["W"].shape[1])
    say = progress or (lambda message: None)
    started = time.monotonic()
    layers = [{"W": np.asarray(l["W"], dtype=np.float64), "b": np.asarray(l["b"], dtype=np.float64)}
              for l in float_layers]
    qualities = qualities or [1.0] * len(layers)
    masks = threshold_masks(layers, qualities, [float(l["W"].std()) for l in layers],
                            balance_pes=fmt["pes"])
    for i, (mask, q) in enumerate(zip(masks, qualities)):
        if not mask.any():
            raise ValueError(f"pruning quality {q:g} removes every weight of W{i}: lower it "
                             f"(--quality)")
    say(f"pruned to {100 * density(masks):.1f}% density (no retraining: no data)")
    indices, codebooks = _share(layers, masks, fmt["index_bits"], init, seed)
    shared = [{"W": cb[idx], "b": l["b"]} for l, idx, cb in zip(layers, indices, codebooks)]
    input_frac = 8
    n_in = layers[0]["W"].shape[1]
    if calibration is None:
        rng = np.random.default_rng(seed)
        raw = np.vstack([rng.integers(0, 256, (256, n_in)), np.full((1, n_in), 255)])
        headroom = 2.0
    else:
        raw = np.asarray(calibration)
        headroom = 1.0
    act_max = [headroom * m for m in activation_max(shared, raw / 256.0)]
    model, table, total = finish(name, shared, indices, codebooks, act_max, input_frac=input_frac,
                                 raw_max=int(np.abs(raw).max()), **fmt)
    acc = {"dense": None, "pruned": None, "shared": None, "fixed_point": None}
    report = _report(model, table, total, acc, started, seed=seed, init=init, dataset=None,
                     test_samples=0, qualities=qualities)
    model.stats = {"compression_ratio": report["compression_ratio"]}
    return model, report


def _report(model, table, total, acc, started, **extra):
    return {
        "model": model.name, "compression_ratio": total["ratio"], "accuracy": acc,
        "density": total["density"], "layers": table, "total": total,
        "format": {k: getattr(model, k) for k in ("pes", "index_bits", "z_bits", "act_bits",
                                                  "codebook_bits", "bias_bits")},
        "wall_s": round(time.monotonic() - started, 1), **extra,
    }
