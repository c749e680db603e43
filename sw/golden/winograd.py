"""Golden model of a Winograd convolution layer F(m x m, r x r), tiled as the
hardware runs it (``sw.spec.winograd`` holds the transforms): filter and input
transforms, the Winograd-domain sum over channels, the exact division, and
pruning and multiply counts in the Winograd domain. Naive on purpose."""

import numpy as np

__all__ = ["filter_transform", "input_tiles", "winograd_conv", "prune_winograd",
           "multiply_counts"]


def filter_transform(w, t):
    """Winograd-domain weights ``U[k, c] = G' w[k, c] G'^T`` (K, C, n, n), int64."""
    w = np.asarray(w).astype(object)
    g = t.g.astype(object)
    return np.einsum("ia,kcab,jb->kcij", g, w, g).astype(np.int64)


def input_tiles(x, m, r):
    """n x n input tiles at stride m: (C, tiles_y, tiles_x, n, n), zero-padded.

    The layer's output (H - r + 1) x (W - r + 1) is covered by
    ``ceil(out / m)`` tiles a side; the input is padded with zeros to
    ``tiles * m + r - 1`` so the last tiles are whole (their extra outputs
    are dropped).
    """
    x = np.asarray(x)
    c, h, w = x.shape
    n = m + r - 1
    ty, tx = -(-(h - r + 1) // m), -(-(w - r + 1) // m)
    padded = np.zeros((c, ty * m + r - 1, tx * m + r - 1), dtype=np.int64)
    padded[:, :h, :w] = x
    tiles = np.zeros((c, ty, tx, n, n), dtype=np.int64)
    for i in range(ty):
        for j in range(tx):
            tiles[:, i, j] = padded[:, i * m:i * m + n, j * m:j * m + n]
    return tiles


def winograd_conv(x, u, t, *, domain="spatial", relu=False, out_shape=None):
    """A layer as Winograd tiles, channels summed in the Winograd domain.

    Parameters
    ----------
    x : integer array (C, H, W)
    u : integer array (K, C, n, n)
        Winograd-domain weights (``filter_transform`` of spatial filters, or
        pruned / trained in the Winograd domain).
    t : Transforms
    domain : "spatial" or "winograd"
        Spatial: each tile is divided by S^2 (exactly; a remainder raises
        ``ArithmeticError``, which means ``u`` did not come from a spatial
        filter). Winograd: tiles are ``A'^T M A'``, undivided.
    relu : bool
        ReLU on ``B'^T d B'`` before the products (Liu et al.).

    Returns
    -------
    numpy.ndarray of int64, shape (K, H - r + 1, W - r + 1)
    """
    x, u = np.asarray(x), np.asarray(u).astype(object)
    _, h, w = x.shape
    ho, wo = h - t.r + 1, w - t.r + 1
    tiles = input_tiles(x, t.m, t.r).astype(object)
    bt, at = t.bt.astype(object), t.at.astype(object)
    v = np.einsum("ia,cyxab,jb->cyxij", bt, tiles, bt)
    if relu:
        v = np.where(v > 0, v, 0)
    mprod = np.einsum("kcij,cyxij->kyxij", u, v)           # channels summed here
    y = np.einsum("ia,kyxab,jb->kyxij", at, mprod, at)
    if domain == "spatial":
        q = y // t.divisor
        rem = y - q * t.divisor
        if np.any(rem != 0):
            raise ArithmeticError("a Winograd output tile is not divisible by S^2: the "
                                  "weights are not the transform of spatial filters")
        y = q
    k, ty, tx = y.shape[:3]
    out = y.transpose(0, 1, 3, 2, 4).reshape(k, ty * t.m, tx * t.m)
    return out[:, :ho, :wo].astype(np.int64)


# ---------------------------------------------------------------- sparsity

def prune_winograd(u, density):
    """Keep the largest-magnitude ``density`` of each layer's Winograd weights.

    Liu et al. prune in the Winograd domain, where the multiplies happen:
    a zero there is a product skipped. Ties at the threshold are kept.
    """
    u = np.asarray(u)
    if not 0 < density <= 1:
        raise ValueError(f"density must be in (0, 1], not {density}")
    flat = np.sort(np.abs(u).ravel())
    cut = flat[min(len(flat) - 1, int(round((1 - density) * len(flat))))]
    return np.where(np.abs(u) >= cut, u, 0)


def multiply_counts(x, u, t, *, relu=False):
    """Multiplies of a layer: direct, dense Winograd, sparse Winograd.

    Sparse counts only products whose weight is non-zero (pruned in the
    Winograd domain) and, with ``relu``, whose transformed input is non-zero
    too (the ReLU in the Winograd domain zeroes them). Returns a dict with
    totals and per-output figures, and the figures per m x m outputs of one
    channel pair (36 direct and 16 dense for F(2,3)).
    """
    x, u = np.asarray(x), np.asarray(u)
    c, h, w = x.shape
    k = u.shape[0]
    tiles = input_tiles(x, t.m, t.r)
    ty, tx = tiles.shape[1:3]
    v = np.einsum("ia,cyxab,jb->cyxij", t.bt, tiles, t.bt)
    if relu:
        v = np.maximum(v, 0)
    nz_u = (u != 0)                                   # (K, C, n, n)
    nz_v = (v != 0)                                   # (C, ty, tx, n, n)
    sparse = int(np.einsum("kcij,cyxij->", nz_u.astype(np.int64), nz_v.astype(np.int64)))
    weights_only = int(nz_u.sum()) * ty * tx
    outputs = k * (h - t.r + 1) * (w - t.r + 1)
    tile_outputs = k * ty * tx * t.m * t.m
    pairs = k * c * ty * tx                           # (filter, channel, tile) triples
    direct = outputs * c * t.r * t.r
    dense = pairs * t.n * t.n
    return {
        "direct": direct, "dense_winograd": dense, "sparse_weights": weights_only,
        "sparse": sparse, "outputs": outputs, "tile_outputs": tile_outputs,
        "per_tile": {"direct": t.m * t.m * t.r * t.r, "dense_winograd": t.n * t.n,
                     "sparse_weights": weights_only / pairs, "sparse": sparse / pairs},
        "weight_density": float(nz_u.mean()), "activation_density": float(nz_v.mean()),
    }
