"""Dense-sparse-dense training (Han et al., ICLR 2017).

Train dense; prune the smallest weights of every layer to a sparsity and
retrain the rest (the sparse phase regularizes: the network must re-learn
with fewer weights); then free the pruned weights (they restart at zero)
and retrain everything at a lower learning rate. The claim: the final
dense network is more accurate than the first.
"""

import numpy as np

from sw.train import nn

__all__ = ["sparsity_masks", "dsd"]


def sparsity_masks(layers, sparsity):
    """Per weighted layer, keep the largest ``1 - sparsity`` of its weights."""
    if not 0 <= sparsity < 1:
        raise ValueError(f"the sparsity is a fraction in [0, 1), not {sparsity}")
    masks = {}
    for i in nn.weighted(layers):
        w = np.abs(layers[i]["W"])
        keep = w.size - int(round(sparsity * w.size))
        mask = np.zeros(w.size, dtype=bool)
        mask[np.argsort(w, axis=None, kind="stable")[::-1][:keep]] = True
        masks[i] = mask.reshape(w.shape)
    return masks


def dsd(layers, x, y, x_test, y_test, *, sparsity=0.5, epochs=(4, 4), lr=0.05,
        dense_lr_scale=0.1, batch=64, seed=0, progress=None):
    """The sparse and re-dense phases on dense-trained ``layers`` (in place).

    ``epochs``: (sparse, re-dense). The sparse phase trains at ``lr``, the
    re-dense phase at ``lr * dense_lr_scale``, as the paper does. Returns
    every phase's test accuracy (``dense`` is the network as given), the
    per-epoch histories and the density of the sparse phase.
    """
    common = dict(batch=batch, evaluate=(x_test, y_test), progress=progress)
    report = {"dense": nn.accuracy(layers, x_test, y_test), "history": {}}
    masks = sparsity_masks(layers, sparsity)
    for i, m in masks.items():
        layers[i]["W"] = layers[i]["W"] * m
    report["pruned_before_retraining"] = nn.accuracy(layers, x_test, y_test)
    report["history"]["sparse"] = nn.train(layers, x, y, epochs=epochs[0], lr=lr, seed=seed + 1,
                                           masks=masks, label="DSD sparse", **common)
    report["sparse"] = nn.accuracy(layers, x_test, y_test)
    report["history"]["redense"] = nn.train(layers, x, y, epochs=epochs[1],
                                            lr=lr * dense_lr_scale, seed=seed + 2,
                                            label="DSD re-dense", **common)
    report["redense"] = nn.accuracy(layers, x_test, y_test)
    report["density"] = float(sum(m.sum() for m in masks.values()) /
                              sum(m.size for m in masks.values()))
    return report
