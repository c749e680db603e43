"""Deep Compression of sequential networks (conv and dense layers), and EIE models of them.

``sw.compress.pipeline`` compresses MLPs; this applies the same stages, with its
pieces (``prune.iterative_prune``, ``share.share_layer``,
``compress.size_table``), to ``sw.train.nn`` networks: convolutions included, an
index width per layer (Deep Compression's LeNet-5: 8 bits for conv layers,
5 for dense ones), layers with or without ReLU after them. ``eie_model``
turns a compressed all-dense network (for example a low-rank one, whose
factors are two layers with no ReLU between) into the model file the
golden model and the EIE engine run.
"""

import numpy as np

from sw.compress.pipeline import finish, size_table
from sw.compress.prune import density, iterative_prune
from sw.compress.share import share_layer
from sw.formats.csc import encode_layer
from sw.train import nn

__all__ = ["deep_compress", "eie_model", "relu_after"]


def deep_compress(layers, x, y, x_test, y_test, *, qualities, index_bits, z_bits=None,
                  rounds=3, retrain_epochs=2, finetune_epochs=1, lr=0.01, finetune_lr=None,
                  batch=64, seed=0, progress=None):
    """Prune, retrain, share and fine-tune ``layers`` in place; measure every stage.

    ``qualities`` and ``index_bits`` (and ``z_bits``, default the index
    widths) have one entry per weighted layer. Returns a report: test
    accuracy after each stage, the size table (``compress.size_table``'s
    accounting; the ``eie_bytes`` column is meaningless for conv layers) and
    the compression ratio; ``indices`` and ``codebooks`` per weighted layer.
    """
    say = progress or (lambda message: None)
    ws = nn.weighted(layers)
    z_bits = list(index_bits) if z_bits is None else list(z_bits)
    for name, values in (("qualities", qualities), ("index widths", index_bits),
                         ("relative-index widths", z_bits)):
        if len(values) != len(ws):
            raise ValueError(f"{len(values)} {name} for {len(ws)} weighted layers")
    acc = {"dense": nn.accuracy(layers, x_test, y_test)}
    say(f"dense: test accuracy {100 * acc['dense']:.2f}%")

    def retrain(masks, r):
        nn.train(layers, x, y, epochs=retrain_epochs, lr=lr, batch=batch, seed=seed + r,
                 masks=dict(zip(ws, masks)), progress=progress,
                 label=f"retrain round {r}/{rounds}")

    masks = iterative_prune([layers[i] for i in ws], x, y, qualities, rounds=rounds,
                            progress=say, retrain=retrain)
    acc["pruned"] = nn.accuracy(layers, x_test, y_test)
    say(f"pruned to {100 * density(masks):.1f}% density: test accuracy "
        f"{100 * acc['pruned']:.2f}%")
    indices, codebooks = [], []
    for k, (i, mask, bits) in enumerate(zip(ws, masks, index_bits)):
        idx, cb = share_layer(layers[i]["W"], mask, bits, seed=seed + k)
        layers[i]["W"] = cb[idx]
        indices.append(idx)
        codebooks.append(cb)
    acc["shared_before_finetune"] = nn.accuracy(layers, x_test, y_test)
    # A centroid's gradient sums over its cluster: a smaller step (as sw.compress.pipeline).
    nn.train(layers, x, y, epochs=finetune_epochs, lr=finetune_lr or lr / 50, batch=batch,
             seed=seed + 100, shared=dict(zip(ws, zip(indices, codebooks))), progress=progress,
             label="centroid fine-tuning")
    acc["shared"] = nn.accuracy(layers, x_test, y_test)
    say(f"shared ({'/'.join(map(str, index_bits))}-bit indices): test accuracy "
        f"{100 * acc['shared']:.2f}% ({100 * acc['shared_before_finetune']:.2f}% before "
        f"fine-tuning)")
    flat = [i.reshape(len(i), -1) for i in indices]
    table, total = size_table([layers[i] for i in ws], flat, list(index_bits), z_bits,
                              [encode_layer(f, 1, z) for f, z in zip(flat, z_bits)], 1)
    for row, i in zip(table, ws):
        row["kind"] = layers[i]["kind"]
        row["shape"] = list(layers[i]["W"].shape)
    return {"accuracy": acc, "layers": table, "total": total, "ratio": total["ratio"],
            "density": total["density"], "indices": indices, "codebooks": codebooks}


def relu_after(layers):
    """Per weighted layer, whether a ReLU follows it."""
    return [i + 1 < len(layers) and layers[i + 1]["kind"] == "relu" for i in nn.weighted(layers)]


def eie_model(name, layers, indices, codebooks, raw, *, input_frac, pes=8, index_bits=4,
              z_bits=4, act_bits=16, codebook_bits=16, bias_bits=32):
    """The ``CompressedModel`` of a shared all-dense network.

    ``layers`` hold ``W = codebooks[k][indices[k]]`` already; ``raw``
    (B, inputs) are raw calibration inputs (``value = raw * 2**-input_frac``)
    that set the activation radix points.
    """
    ws = nn.weighted(layers)
    if any(layers[i]["kind"] != "dense" for i in ws):
        raise ValueError("the EIE engine runs dense layers only: factor or drop the "
                         "convolutions first")
    x = np.asarray(raw, dtype=np.float64) / (1 << input_frac)
    act_max, relu = [], relu_after(layers)
    for k, i in enumerate(ws):
        stop = i + 2 if relu[k] else i + 1
        act_max.append(float(np.abs(nn.logits(layers[:stop], x)).max()))
    model, _, _ = finish(name, [layers[i] for i in ws], indices, codebooks, act_max,
                         input_frac=input_frac, raw_max=int(np.abs(raw).max()), pes=pes,
                         index_bits=index_bits, z_bits=z_bits, act_bits=act_bits,
                         codebook_bits=codebook_bits, bias_bits=bias_bits, relu=relu)
    return model
