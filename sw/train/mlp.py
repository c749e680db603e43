"""Multi-layer perceptrons in numpy: ReLU hidden layers, softmax output.

An MLP is ``sw.train.nn``'s sequential network of dense layers with ReLU
between them; ``forward`` and ``train`` run that stack on these layers' own
arrays. Training is mini-batch SGD with momentum, deterministic for a given
seed. Two hooks serve compression: ``masks`` keep pruned weights at zero
(their gradients are dropped), and ``shared`` trains a layer's codebook
instead of its weights, with the gradients grouped by cluster (Deep
Compression's centroid fine-tuning).
"""

import numpy as np

from sw.train import nn

__all__ = ["init", "forward", "predict", "accuracy", "train"]


def init(sizes, seed):
    """He-initialized layers ``[{"W": (out, in), "b": (out,)}, ...]``."""
    rng = np.random.default_rng(seed)
    return [{"W": rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)), "b": np.zeros(n_out)}
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def _sequential(layers):
    """``layers`` as a ``sw.train.nn`` network holding the same arrays."""
    seq = []
    for i, layer in enumerate(layers):
        seq.append({"kind": "dense", "W": layer["W"], "b": layer["b"]})
        if i < len(layers) - 1:
            seq.append({"kind": "relu"})
    return seq


def forward(layers, x):
    """Activations of every layer: ``[x, h1, ..., logits]``."""
    seq = _sequential(layers)
    logits, caches = nn.forward(seq, x)
    return [caches[i] for i in nn.weighted(seq)] + [logits]


def predict(layers, x):
    return forward(layers, x)[-1].argmax(axis=1)


def accuracy(layers, x, y):
    return float(np.mean(predict(layers, x) == y))


def train(layers, x, y, *, epochs, lr=0.05, momentum=0.9, batch=64, weight_decay=1e-4,
          seed=0, masks=None, shared=None, progress=None, label="train"):
    """Train ``layers`` in place; return them.

    Parameters
    ----------
    masks : list of bool arrays, optional
        Per layer, the weights that may be non-zero; the others stay zero.
    shared : list of (indices, centroids) or None, optional
        Per layer, cluster indices (0 means a pruned weight, kept at zero) and
        a float codebook; the codebook is trained with each centroid's gradient
        the sum of its weights' gradients, and ``W = centroids[indices]``.
    """
    seq = _sequential(layers)
    ws = nn.weighted(seq)
    nn.train(seq, x, y, epochs=epochs, lr=lr, momentum=momentum, batch=batch,
             weight_decay=weight_decay, seed=seed,
             masks=None if masks is None else dict(zip(ws, masks)),
             shared={i: s for i, s in zip(ws, shared or []) if s is not None},
             progress=progress, label=label)
    for layer, i in zip(layers, ws):
        layer["W"], layer["b"] = seq[i]["W"], seq[i]["b"]
    return layers
