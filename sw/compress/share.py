"""Weight sharing: k-means per layer, and the codebook it produces.

Codebook entry 0 is reserved for zero: it is what pruned weights and EIE's
padding entries decode to, so a layer with ``bits``-bit indices shares
``2**bits - 1`` centroids among its surviving weights.
"""

import numpy as np

__all__ = ["INITS", "kmeans", "share_layer"]


def _linear(w, k, rng):
    return np.linspace(w.min(), w.max(), k)


def _density(w, k, rng):
    # Equally spaced on the CDF: centroids crowd where weights crowd.
    return np.quantile(w, (np.arange(k) + 0.5) / k)


def _forgy(w, k, rng):
    return np.sort(rng.choice(w, size=k, replace=len(w) < k))


INITS = {"linear": _linear, "density": _density, "random": _forgy}


def kmeans(w, k, init="linear", *, iterations=30, seed=0):
    """1-D k-means of the values ``w``: ``(centroids, labels)``.

    ``init`` is Deep Compression's choice of starting centroids: "linear"
    (spaced over [min, max]; keeps large weights, the paper's best),
    "density" or "random" (Forgy).
    """
    if init not in INITS:
        raise ValueError(f"unknown k-means initialization {init!r}: choose one of "
                         f"{', '.join(INITS)}")
    w = np.asarray(w, dtype=np.float64).ravel()
    centroids = INITS[init](w, k, np.random.default_rng(seed)).astype(np.float64)
    for _ in range(iterations):
        labels = np.abs(w[:, None] - centroids[None, :]).argmin(axis=1)
        sums = np.bincount(labels, weights=w, minlength=k)
        counts = np.bincount(labels, minlength=k)
        moved = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        if np.allclose(moved, centroids):
            break
        centroids = moved
    labels = np.abs(w[:, None] - centroids[None, :]).argmin(axis=1)
    return centroids, labels


def share_layer(w, mask, bits, init="linear", seed=0):
    """Cluster a pruned layer: ``(indices, codebook)`` with ``codebook[0] == 0``.

    ``indices`` has ``w``'s shape; pruned weights get index 0.
    """
    k = (1 << bits) - 1
    centroids, labels = kmeans(w[mask], k, init, seed=seed)
    indices = np.zeros(w.shape, dtype=np.int64)
    indices[mask] = labels + 1
    return indices, np.concatenate([[0.0], centroids])
