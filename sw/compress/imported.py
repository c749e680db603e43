"""Deep Compression of a user's network on the user's data: the model file of a whole network.

The network is a float layer list (``sw.train.nn``: dense, conv with stride
and padding, relu, pool, flatten), as ``sw.formats.onnx_graph`` imports it.
The stages are the seed's: magnitude pruning, k-means weight sharing and
fixed point with radix points chosen from calibration statistics, per layer
(Qiu et al.: gather the activations' ranges, choose the radix point).
Given labels, pruning is followed by masked retraining and sharing by
centroid fine-tuning, as for the bundled networks; without labels there is
no retraining, and the report says so.

Pruning qualities (threshold = quality x the layer's standard deviation)
may be given per weighted layer; without them one quality for the whole
network is chosen, the largest on a ladder whose pruned network still
predicts what the float network predicts on ``AGREEMENT`` of the calibration
inputs (``AGREEMENT_RETRAINED`` when retraining follows), so an unknown
network loses little where nothing can win it back. With labels, pruning
then goes on as Deep Compression's does, iteratively: each harder quality
pruned from the retrained weights and retrained, while accuracy on a
validation tenth of the data stays within ``RETRAIN_TOLERANCE`` of the
float network's.

Accuracy is measured at every stage (float, pruned, shared, fixed point:
the golden integer model) on the evaluation set, or on a held-out split of
the data when none is given; against labels where there are labels, else
against the float network's own predictions (the report names which).
"""

import time

import numpy as np

from sw.compress.pipeline import FORMAT_DEFAULTS, check_format, size_table
from sw.compress.prune import density, threshold_masks
from sw.compress.quantize import frac_for, layer_formats, to_mantissas
from sw.compress.share import share_layer
from sw.formats.csc import encode_layer
from sw.formats.model import CompressedModel, ConvLayer, FlattenLayer, Layer, PoolLayer
from sw.train import nn

__all__ = ["QUALITY_LADDER", "AGREEMENT", "HELD_OUT", "check_data", "check_structure",
           "compress_network", "integer_layers"]

#: Pruning qualities tried, most pruning first, when none are given.
QUALITY_LADDER = (2.0, 1.6, 1.3, 1.0, 0.8, 0.6, 0.45, 0.3, 0.2, 0.1, 0.0)
#: Share of calibration inputs on which the pruned network must predict what
#: the float network predicts, for a ladder quality to be taken; lower when
#: masked retraining follows, since it wins much of the difference back.
AGREEMENT = 0.99
AGREEMENT_RETRAINED = 0.97
#: With labels, pruning goes on up the ladder, retraining after each step, while
#: validation accuracy stays within this of the float network's.
RETRAIN_TOLERANCE = 0.005
#: Share of ``--data`` held out for evaluation when no evaluation set is given.
HELD_OUT = 0.2
#: Calibration inputs the quality search looks at (its cost is one forward pass each).
SEARCH_SAMPLES = 1000


def check_data(x, input_shape, what):
    """Float inputs (N, *input_shape) for the network; one-line ``ValueError`` if not."""
    x = np.asarray(x)
    shape = tuple(input_shape)
    flat = int(np.prod(shape))
    if x.ndim < 2 or len(x) == 0 or (x.shape[1:] != shape and x.shape[1:] != (flat,)):
        raise ValueError(f"{what} must have shape (N, {', '.join(map(str, shape))}) for this "
                         f"model (N samples of its input), not {x.shape}")
    if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
        raise ValueError(f"{what} must hold numbers (the model's float inputs), not {x.dtype}")
    x = x.astype(np.float64).reshape((len(x),) + shape)
    if not np.isfinite(x).all():
        raise ValueError(f"{what} holds NaN or infinite values")
    return x


def _check_labels(y, n, classes, what):
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"{what} must have shape ({n},), one class per sample, not {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.issubdtype(y.dtype, np.floating) or (y != np.round(y)).any():
            raise ValueError(f"{what} must hold integer class numbers, not {y.dtype}")
    y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= classes:
        raise ValueError(f"{what} holds class {y.min() if y.min() < 0 else y.max()}, outside "
                         f"the model's {classes} outputs")
    return y


def _predict(layers, x):
    return nn.logits(layers, x).reshape(len(x), -1).argmax(axis=1)


def _stage_outputs(layers, x):
    """Per weighted layer, the largest magnitude of what it stores: its outputs, after
    the ReLU that directly follows it (a ReLU after a max pool moves there too, and the
    pooled values are among the unpooled ones)."""
    maxima, a = {}, x
    for i, layer in enumerate(layers):
        a = nn.forward([layer], a)[0]
        if layer["kind"] in ("dense", "conv"):
            maxima[i] = float(np.abs(a).max())
        elif layer["kind"] == "relu" and i and layers[i - 1]["kind"] in ("dense", "conv"):
            maxima[i - 1] = float(np.abs(a).max())
    return maxima


def integer_layers(layers, shared, formats, *, pes, z_bits):
    """The model file's layers of a shared float network.

    ``shared[i]`` is ``(indices, integer codebook, integer bias)`` of weighted
    layer ``i``, ``formats[i]`` its ``(weight_frac, in_frac, out_frac)``.
    A ReLU belongs to the weighted layer before it; one after a max pool is
    the same function moved before it (max and ReLU commute). A pool must
    follow a convolution (the pooling unit sits after the conv core); a
    flatten before the first layer is the inputs' own.
    """
    out = []

    def refuse(i, problem):
        raise ValueError(f"layer {i} ({layers[i]['kind']}): {problem}")

    for i, layer in enumerate(layers):
        kind = layer["kind"]
        if kind in ("dense", "conv"):
            idx, codebook, bias = shared[i]
            weight_frac, in_frac, out_frac = formats[i]
            if kind == "dense":
                out.append(Layer(encode_layer(idx, pes, z_bits), codebook, bias, weight_frac,
                                 in_frac, out_frac, False))
            else:
                out.append(ConvLayer(idx, codebook, bias, weight_frac, in_frac, out_frac, False,
                                     tuple(layer.get("stride", (1, 1))),
                                     tuple(layer.get("pads", (0, 0, 0, 0)))))
        elif kind == "relu":
            owner = out[-1] if out else None
            if owner is not None and owner.kind == "pool" and owner.mode == "max":
                owner = out[-2]
            if owner is not None and owner.kind == "pool" and out[-2].relu:
                continue    # the average of rectified values is >= 0 already
            if owner is None or owner.kind not in ("dense", "conv"):
                refuse(i, "a ReLU must follow a dense or convolution layer (or a max pool "
                          "after one)")
            owner.relu = True
        elif kind == "pool":
            if not out or out[-1].kind != "conv":
                refuse(i, "pooling must follow a convolution: eiegen's pooling unit sits "
                          "after the convolution core")
            mode = layer.get("mode", "max")
            kernel = tuple(layer.get("kernel", (2, 2)))
            out.append(PoolLayer(mode, kernel, tuple(layer.get("stride", kernel)),
                                 tuple(layer.get("pads", (0, 0, 0, 0))),
                                 bool(layer.get("count_pads", False))))
        elif kind == "flatten":
            if out:
                out.append(FlattenLayer())
        else:
            refuse(i, f"layer kind {kind!r} cannot be compressed (dense, conv, relu, pool, "
                      f"flatten)")
    return out


def check_structure(layers):
    """Refuse, before any work, a chain of layers the model file cannot hold.

    ``integer_layers`` on stand-in weights (all pruned): one set of rules.
    """
    kinds = {"dense", "conv", "relu", "pool", "flatten"}
    for i, layer in enumerate(layers):
        if layer.get("kind") not in kinds:
            raise ValueError(f"layer {i} ({layer.get('kind')}): layer kind cannot be "
                             f"compressed (dense, conv, relu, pool, flatten)")
    stand_in = {i: (np.zeros(layers[i]["W"].shape, dtype=np.int64), np.zeros(2, np.int64),
                    np.zeros(len(layers[i]["b"]), np.int64)) for i in nn.weighted(layers)}
    integer_layers(layers, stand_in, {i: (0, 0, 0) for i in stand_in}, pes=1, z_bits=1)


def _accuracy(layers, x, reference):
    return float(np.mean(_predict(layers, x) == reference))


def _prune(layers, qualities, pes, stds, masks=None):
    """Masks keeping ``|w| >= quality x std`` (the float layer's std); pruned stays pruned."""
    out = {}
    for k, i in enumerate(nn.weighted(layers)):
        w = layers[i]
        # Load balance over the PEs (ESE) where the rows go to EIE's PEs evenly; with
        # uneven rows a PE with fewer could not keep its share, and would lose weights.
        balance = w["kind"] == "dense" and len(w["W"]) % pes == 0
        out[i] = threshold_masks([w], [qualities[k]], [stds[i]],
                                 None if masks is None else [masks[i]],
                                 balance_pes=pes if balance else None)[0]
    return out


def _share(layers, masks, bits, init, seed):
    shared = {}
    for k, i in enumerate(nn.weighted(layers)):
        shared[i] = share_layer(layers[i]["W"], masks[i], bits[i], init, seed + k)
    return shared


def _apply(layers, masks=None, shared=None):
    out = [dict(layer) for layer in layers]
    for i in nn.weighted(layers):
        if shared is not None:
            idx, cb = shared[i]
            out[i]["W"] = cb[idx]
        elif masks is not None:
            out[i]["W"] = layers[i]["W"] * masks[i]
    return out


def _search_quality(layers, x, pes, stds, agreement, say):
    """The largest ladder quality whose pruned network agrees enough with the float one."""
    reference = _predict(layers, x)
    for q in QUALITY_LADDER:
        masks = _prune(layers, [q] * len(nn.weighted(layers)), pes, stds)
        agrees = _accuracy(_apply(layers, masks), x, reference)
        say(f"pruning quality {q}: density {100 * density(list(masks.values())):.1f}%, "
            f"predicts as the float network on {100 * agrees:.2f}% of {len(x)} inputs")
        if agrees >= agreement:
            return q
    return 0.0


def _prune_further(layers, masks, quality, stds, pes, floor, retrain, accuracy, say):
    """Iterative pruning (Han et al.): each harder ladder quality in turn, pruned from the
    retrained weights and retrained, kept while validation accuracy stays >= ``floor``.

    Returns the last network kept, its masks and qualities.
    """
    harder = [q for q in QUALITY_LADDER if q > quality][::-1]
    n = len(nn.weighted(layers))
    for q in harder:
        trial_masks = _prune(layers, [q] * n, pes, stds, masks)
        trial = _apply(layers, trial_masks)
        retrain(trial, trial_masks, q)
        kept = accuracy(trial)
        say(f"pruning quality {q}: density "
            f"{100 * density(list(trial_masks.values())):.1f}%, validation accuracy "
            f"{100 * kept:.2f}% after retraining (floor {100 * floor:.2f}%)")
        if kept < floor:
            break
        layers, masks, quality = trial, trial_masks, q
    return layers, masks, [quality] * n


def _train_guarded(layers, x, y, x_val, y_val, say, label, **train):
    """``nn.train`` on ``layers`` in place, undone if validation accuracy drops."""
    before = nn.accuracy(layers, x_val, y_val)
    saved = [{k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in l.items()}
             for l in layers]
    shared = train.get("shared")
    saved_codebooks = {i: cb.copy() for i, (_, cb) in (shared or {}).items()}
    nn.train(layers, x, y, progress=say, label=label, **train)
    after = nn.accuracy(layers, x_val, y_val)
    if after < before:
        for layer, old in zip(layers, saved):
            layer.update(old)
        for i, cb in saved_codebooks.items():
            shared[i][1][:] = cb
        say(f"{label}: validation accuracy fell ({100 * before:.2f}% -> {100 * after:.2f}%): "
            f"undone")
        return False
    say(f"{label}: validation accuracy {100 * before:.2f}% -> {100 * after:.2f}%")
    return True


def compress_network(layers, input_shape, x, *, name="network", labels=None, eval_x=None,
                     eval_labels=None, qualities=None, conv_index_bits=8, retrain_epochs=2,
                     finetune_epochs=1, lr=0.01, seed=0, init="linear", progress=None, **fmt):
    """Compress a float network on its data: ``(model, report)``.

    Parameters
    ----------
    layers : list of dict
        ``sw.train.nn`` layers (dense, conv, relu, pool, flatten).
    input_shape : tuple
        One input's shape, (C, H, W) or (F,).
    x : array (N, *input_shape)
        Float inputs in the model's own units: calibration, and the training
        data of fine-tuning when ``labels`` are given.
    labels : array (N,), optional
        Classes of ``x``: masked retraining after pruning and centroid
        fine-tuning after sharing.
    eval_x, eval_labels : optional
        The evaluation set; without it ``HELD_OUT`` of ``x`` is held out.
    qualities : list of float, optional
        Pruning quality per weighted layer; default: searched (see above).
    conv_index_bits : int
        Codebook index width of convolution layers (fully connected layers
        use ``index_bits``, the EIE engine's).
    """
    fmt = {**FORMAT_DEFAULTS, **{k: v for k, v in fmt.items() if v is not None}}
    check_format(**fmt)
    if isinstance(conv_index_bits, bool) or not isinstance(conv_index_bits, int) or \
            not 1 <= conv_index_bits <= 8:
        raise ValueError(f"convolution index width must be an integer from 1 to 8, not "
                         f"{conv_index_bits!r} (option --conv-index-bits)")
    for option, value in (("--retrain-epochs", retrain_epochs),
                          ("--finetune-epochs", finetune_epochs)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{option} must be a whole number of epochs >= 0, not {value!r}")
    if not lr > 0:
        raise ValueError(f"--lr must be a positive learning rate, not {lr!r}")
    say = progress or (lambda message: None)
    started = time.monotonic()
    layers = [dict(layer) for layer in layers]
    ws = nn.weighted(layers)
    if not ws:
        raise ValueError("the network has no dense or convolution layer: nothing to compress")
    check_structure(layers)
    x = check_data(x, input_shape, "data")
    classes = int(np.prod(nn.logits(layers, x[:1]).shape[1:]))
    if labels is not None:
        labels = _check_labels(labels, len(x), classes, "labels")
    if eval_x is not None:
        eval_x = check_data(eval_x, input_shape, "evaluation data")
        if eval_labels is not None:
            eval_labels = _check_labels(eval_labels, len(eval_x), classes, "evaluation labels")
        held = f"the evaluation set ({len(eval_x)} samples)"
    else:
        if eval_labels is not None:
            raise ValueError("evaluation labels need the evaluation data they label "
                             "(--eval-data)")
        if len(x) < 10:
            raise ValueError(f"{len(x)} samples of data are too few to hold some out for "
                             f"evaluation: give at least 10, or an evaluation set (--eval-data)")
        order = np.random.default_rng(seed).permutation(len(x))
        cut = max(1, int(round(HELD_OUT * len(x))))
        held_idx, train_idx = np.sort(order[:cut]), np.sort(order[cut:])
        eval_x, x = x[held_idx], x[train_idx]
        if labels is not None:
            eval_labels, labels = labels[held_idx], labels[train_idx]
        held = f"{100 * HELD_OUT:.0f}% of the data held out ({len(eval_x)} samples, seed {seed})"
    float_layers = [dict(layer) for layer in layers]
    if eval_labels is not None:
        reference, against = eval_labels, "labels"
    else:
        reference, against = _predict(layers, eval_x), "the float network's predictions"
    say(f"{name}: {len(ws)} weighted layers, {nn.count_weights(layers)} weights; calibration "
        f"on {len(x)} inputs, accuracy on {held} against {against}")
    acc = {"float": _accuracy(layers, eval_x, reference)}
    say(f"float network: accuracy {100 * acc['float']:.2f}%")
    bits = {i: conv_index_bits if layers[i]["kind"] == "conv" else fmt["index_bits"] for i in ws}

    stds = {i: float(layers[i]["W"].std()) for i in ws}
    searched = qualities is None
    if searched:
        say("choosing the pruning quality: the largest that keeps the network's predictions")
        agreement = AGREEMENT if labels is None else AGREEMENT_RETRAINED
        qualities = [_search_quality(layers, x[:SEARCH_SAMPLES], fmt["pes"], stds, agreement,
                                     say)] * len(ws)
    elif len(qualities) != len(ws):
        raise ValueError(f"{len(qualities)} pruning qualities given for {len(ws)} weighted "
                         f"layers")
    masks = _prune(layers, qualities, fmt["pes"], stds)
    layers = _apply(layers, masks)
    retrained = labels is not None and retrain_epochs > 0
    if labels is not None:
        # Fine-tuning is checked on a tenth of the training data, never the evaluation set.
        n_val = max(1, len(x) // 10)
        x_fit, y_fit, x_val, y_val = x[n_val:], labels[n_val:], x[:n_val], labels[:n_val]
    if retrained:
        train = dict(epochs=retrain_epochs, lr=lr, seed=seed)
        _train_guarded(layers, x_fit, y_fit, x_val, y_val, say, "masked retraining",
                       masks=masks, **train)
        if searched:
            floor = nn.accuracy(float_layers, x_val, y_val) - RETRAIN_TOLERANCE
            layers, masks, qualities = _prune_further(
                layers, masks, qualities[0], stds, fmt["pes"], floor,
                lambda trial, m, q: nn.train(trial, x_fit, y_fit, masks=m, progress=say,
                                             label=f"retrain at quality {q}", **train),
                lambda trial: nn.accuracy(trial, x_val, y_val), say)
    acc["pruned"] = _accuracy(layers, eval_x, reference)
    say(f"pruned to {100 * density(list(masks.values())):.1f}% density "
        f"(qualities {', '.join(map(str, qualities))}"
        f"{'' if retrained else ', no retraining: no labels'}): "
        f"accuracy {100 * acc['pruned']:.2f}%")

    # A convolution's codebook never has more entries than the layer has weights left.
    for i in ws:
        if layers[i]["kind"] == "conv":
            bits[i] = min(bits[i], max(1, int(masks[i].sum()).bit_length()))
    shared = _share(layers, masks, bits, init, seed)
    layers = _apply(layers, shared=shared)
    finetuned = labels is not None and finetune_epochs > 0
    if finetuned:
        # A centroid's gradient sums over its cluster: a smaller step (sw.compress.pipeline).
        _train_guarded(layers, x_fit, y_fit, x_val, y_val, say, "centroid fine-tuning",
                       epochs=finetune_epochs, lr=lr / 50, seed=seed + 100, shared=shared)
    acc["shared"] = _accuracy(layers, eval_x, reference)
    say(f"shared ({'/'.join(str(bits[i]) for i in ws)}-bit indices"
        f"{'' if finetuned else ', no fine-tuning'}): accuracy {100 * acc['shared']:.2f}%")

    say("fixed point: radix points from the calibration data's statistics, per layer")
    act_bits = fmt["act_bits"]
    input_frac = frac_for(float(np.abs(x).max()), act_bits)
    maxima = _stage_outputs(layers, x)
    formats, integers, frac = {}, {}, input_frac
    for i in ws:
        idx, cb = shared[i]
        weight_frac, out_frac = layer_formats(cb, layers[i]["b"], frac, maxima[i],
                                              codebook_bits=fmt["codebook_bits"],
                                              bias_bits=fmt["bias_bits"], act_bits=act_bits)
        formats[i] = (weight_frac, frac, out_frac)
        integers[i] = (idx, to_mantissas(cb, weight_frac, fmt["codebook_bits"],
                                         f"layer {i} codebook"),
                       to_mantissas(layers[i]["b"], frac + weight_frac, fmt["bias_bits"],
                                    f"layer {i} bias"))
        frac = out_frac
    model = CompressedModel(
        name=name, pes=fmt["pes"], index_bits=fmt["index_bits"], z_bits=fmt["z_bits"],
        act_bits=act_bits, codebook_bits=fmt["codebook_bits"], bias_bits=fmt["bias_bits"],
        input_frac=input_frac, input_shift=0,
        layers=integer_layers(layers, integers, formats, pes=fmt["pes"], z_bits=fmt["z_bits"]),
        input_kind="float", input_shape=tuple(input_shape))
    from sw.golden.network import infer, input_activations
    _, saturated = input_activations(model, eval_x)
    predictions = infer(model, eval_x).reshape(len(eval_x), -1).argmax(axis=1)
    acc["fixed_point"] = float(np.mean(predictions == reference))
    say(f"fixed point ({act_bits}-bit activations, input radix point {input_frac}): accuracy "
        f"{100 * acc['fixed_point']:.2f}%"
        + (f", {saturated} input values saturated" if saturated else ""))

    flat = [shared[i][0].reshape(len(shared[i][0]), -1) for i in ws]
    z_bits = [fmt["z_bits"]] * len(ws)
    table, total = size_table([layers[i] for i in ws], flat, [bits[i] for i in ws], z_bits,
                              [encode_layer(f, fmt["pes"], fmt["z_bits"]) for f in flat],
                              fmt["pes"])
    for row, i in zip(table, ws):
        row["kind"] = layers[i]["kind"]
        row["shape"] = list(layers[i]["W"].shape)
    report = {
        "model": name, "compression_ratio": total["ratio"], "accuracy": acc,
        "accuracy_measured_on": held, "accuracy_against": against,
        "retrained": retrained, "finetuned": finetuned,
        "qualities": list(qualities), "density": total["density"],
        "input": {"kind": "float", "shape": list(input_shape), "frac": input_frac,
                  "saturated_on_eval": saturated, "eval_values": int(eval_x.size)},
        "calibration_samples": len(x), "layers": table, "total": total,
        "format": {**{k: getattr(model, k) for k in ("pes", "index_bits", "z_bits", "act_bits",
                                                     "codebook_bits", "bias_bits")},
                   "conv_index_bits": conv_index_bits},
        "float_layers": [_describe(layer) for layer in float_layers],
        "wall_s": round(time.monotonic() - started, 1), "seed": seed, "init": init,
    }
    model.stats = {k: report[k] for k in ("compression_ratio", "accuracy",
                                          "accuracy_measured_on", "accuracy_against")}
    say(f"done in {report['wall_s']} s: {report['compression_ratio']:.1f}x, accuracy "
        f"{100 * acc['float']:.2f}% float -> {100 * acc['fixed_point']:.2f}% fixed point")
    return model, report


def _describe(layer):
    return {k: (list(v.shape) if isinstance(v, np.ndarray) else
                list(v) if isinstance(v, tuple) else v) for k, v in layer.items()}
