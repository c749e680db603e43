"""Magnitude pruning (Han et al., NIPS'15), iterative with retraining."""

import numpy as np

from sw.train import mlp

__all__ = ["threshold_masks", "iterative_prune", "sensitivity", "density"]


def density(masks):
    """Fraction of weights kept, over all layers."""
    return sum(int(m.sum()) for m in masks) / sum(m.size for m in masks)


def threshold_masks(layers, qualities, stds, masks=None, balance_pes=None):
    """Keep ``|w| >= quality * std``, per layer; pruned weights stay pruned.

    With ``balance_pes`` (ESE's load-balance-aware pruning), the threshold
    sets only how many weights a layer keeps; they are then shared out so
    that each PE's rows (row ``i`` on PE ``i mod balance_pes``) keep the same
    number, its largest ones, and no PE waits for a busier one.
    """
    new = []
    for i, (layer, q, s) in enumerate(zip(layers, qualities, stds)):
        w = np.abs(layer["W"]) if masks is None else np.abs(layer["W"]) * masks[i]
        keep = w >= q * s
        if balance_pes:
            keep = _balanced(w, int(keep.sum()), balance_pes)
        new.append(keep if masks is None else keep & masks[i])
    return new


def _balanced(magnitudes, count, pes):
    """The ``count`` largest magnitudes, as evenly as possible over the PEs' rows."""
    keep = np.zeros(magnitudes.shape, dtype=bool)
    for pe in range(pes):
        rows = magnitudes[pe::pes]
        share = count // pes + (pe < count % pes)
        share = min(share, int((rows > 0).sum()))
        if share:
            cut = np.argsort(rows, axis=None)[::-1][:share]
            part = np.zeros(rows.size, dtype=bool)
            part[cut] = True
            keep[pe::pes] = part.reshape(rows.shape)
    return keep


def iterative_prune(layers, x, y, qualities, *, rounds=3, epochs=8, lr=0.01, seed=0,
                    progress=None, balance_pes=None, retrain=None):
    """Prune to ``quality x std`` of each dense layer in ``rounds`` steps.

    Each round raises the thresholds by an equal step, prunes, and retrains
    the survivors with the masks. The standard deviations are the dense
    layer's, so the final threshold is exactly ``quality x std``.
    Returns the masks; ``layers`` are pruned and retrained in place.
    ``retrain(masks, round)`` replaces the MLP retraining (``sw.train.mlp.train``)
    for networks of other kinds, whose weighted layers ``layers`` are.
    """
    stds = [float(layer["W"].std()) for layer in layers]
    masks = None
    for r in range(1, rounds + 1):
        masks = threshold_masks(layers, [q * r / rounds for q in qualities], stds, masks,
                                balance_pes)
        for layer, mask in zip(layers, masks):
            layer["W"] = layer["W"] * mask
        if progress:
            progress(f"prune round {r}/{rounds}: density {100 * density(masks):.1f}%")
        if retrain is not None:
            retrain(masks, r)
            continue
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
