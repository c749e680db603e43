"""Magnitude pruning (Han et al., NIPS'15), iterative with retraining."""

import numpy as np

from . import mlp

__all__ = ["threshold_masks", "iterative_prune", "sensitivity", "density"]


def density(masks):
    """Fraction of weights kept, over all layers."""
    return sum(int(m.sum()) for m in masks) / sum(m.size for m in masks)


def threshold_masks(layers, qualities, stds, masks=None):
    """Keep ``|w| >= quality * std``, per layer; pruned weights stay pruned."""
    new = []
    for i, (layer, q, s) in enumerate(zip(layers, qualities, stds)):
        keep = np.abs(layer["W"]) >= q * s
        new.append(keep if masks is None else keep & masks[i])
    return new


def iterative_prune(layers, x, y, qualities, *, rounds=3, epochs=8, lr=0.01, seed=0,
                    progress=None):
    """Prune to ``quality x std`` of each dense layer in ``rounds`` steps.

    Each round raises the thresholds by an equal step, prunes, and retrains
    the survivors with the masks. The standard deviations are the dense
    layer's, so the final threshold is exactly ``quality x std``.
    Returns the masks; ``layers`` are pruned and retrained in place.
    """
    stds = [float(layer["W"].std()) for layer in layers]
    masks = None
    for r in range(1, rounds + 1):
        masks = threshold_masks(layers, [q * r / rounds for q in qualities], stds, masks)
        for layer, mask in zip(layers, masks):
            layer["W"] = layer["W"] * mask
        if progress:
            progress(f"prune round {r}/{rounds}: density {100 * density(masks):.1f}%")
        mlp.train(layers, x, y, epochs=epochs, lr=lr, seed=seed + r, masks=masks,
                  progress=progress, label=f"retrain round {r}/{rounds}")
    return masks


def sensitivity(layers, x, y, densities):
    """Accuracy when one layer alone is pruned to each density, without retraining.

    Returns ``{layer: [(density, accuracy), ...]}``.
    """
    curves = {}
    for i, layer in enumerate(layers):
        curve = []
        for d in densities:
            trial = [dict(l) for l in layers]
            w = layer["W"]
            cut = np.quantile(np.abs(w), 1 - d) if d < 1 else -1
            trial[i] = dict(layer, W=np.where(np.abs(w) >= cut, w, 0))
            curve.append((d, mlp.accuracy(trial, x, y)))
        curves[i] = curve
    return curves
