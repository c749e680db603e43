"""Low-rank approximation: a layer replaced by two thinner ones.

* Fully connected (truncated SVD): ``W = U S V^T`` (m x n) kept to rank r
  is ``(U_r S_r^1/2) (S_r^1/2 V_r^T)``: a layer of r outputs with no bias
  and no ReLU, then a layer of m outputs with the original bias. It pays
  when ``r (m + n) < m n``. The square root of S goes to both factors so
  neither has a much larger range than the other (fixed point likes that).
* Convolution (Zhang et al., "Accelerating very deep convolutional networks
  for classification and detection", 2015): d filters of k x k x c become
  d' filters of k x k x c and d filters of 1 x 1 x d'. Zhang et al. choose
  the d'-dimensional subspace from the layer's *responses*: with ``y`` the
  d outputs at an image position and ``P`` the top d' eigenvectors of their
  covariance, ``y ~ P P^T (y - mean) + mean``, so the first layer is
  ``P^T W`` (bias ``P^T (b - mean)``) and the 1x1 layer is ``P`` (bias
  ``mean``). Without responses the filters' own SVD is used.

The rank of each layer is chosen by an energy budget: the fewest singular
values (or response eigenvalues) that keep ``energy`` of their total
(squared singular values; eigenvalues are already variances).
"""

import copy

import numpy as np

from sw.train.nn import forward, weighted

__all__ = ["rank_for_energy", "factor_dense", "factor_conv", "lowrank", "conv_responses",
           "factored_params", "equal_size_masks"]


def rank_for_energy(energies, energy):
    """Fewest leading ``energies`` (sorted, descending) that hold ``energy`` of their sum."""
    if not 0 < energy <= 1:
        raise ValueError(f"the energy budget is a fraction in (0, 1], not {energy}")
    e = np.clip(np.asarray(energies, dtype=np.float64), 0, None)
    if e.sum() <= 0:
        return 1
    kept = np.cumsum(e) / e.sum()
    return int(min(np.searchsorted(kept, energy - 1e-12) + 1, len(e)))


def factor_dense(layer, rank):
    """A dense layer as two, ``(first, second)``, of rank ``rank`` (truncated SVD)."""
    u, s, vt = np.linalg.svd(layer["W"], full_matrices=False)
    root = np.sqrt(s[:rank])
    return ({"kind": "dense", "W": root[:, None] * vt[:rank], "b": np.zeros(rank)},
            {"kind": "dense", "W": u[:, :rank] * root, "b": layer["b"].copy()})


def _conv_basis(layer, responses):
    """The subspace (d, d) in order of importance, and the energy of each direction."""
    if responses is None:
        d = layer["W"].shape[0]
        u, s, _ = np.linalg.svd(layer["W"].reshape(d, -1), full_matrices=True)
        return u, np.concatenate([s ** 2, np.zeros(d - len(s))])
    values, vectors = np.linalg.eigh(np.cov(responses, rowvar=False))
    order = np.argsort(values)[::-1]
    return vectors[:, order], values[order]


def factor_conv(layer, rank, responses=None):
    """A conv layer as ``rank`` k x k filters then a 1 x 1 layer (Zhang et al.).

    ``responses`` (N, d): the layer's outputs (before ReLU) at N image
    positions; without them the filters' SVD chooses the subspace.
    """
    w, b = layer["W"], layer["b"]
    d = w.shape[0]
    basis, _ = _conv_basis(layer, responses)
    p = basis[:, :rank]
    mean = np.zeros(d) if responses is None else responses.mean(axis=0)
    first = {"kind": "conv", "W": np.tensordot(p.T, w, axes=1), "b": p.T @ (b - mean)}
    second = {"kind": "conv", "W": p.reshape(d, rank, 1, 1).copy(), "b": mean}
    if responses is None:
        # SVD: the plain weight factorization, bias on the 1x1 layer.
        first["b"], second["b"] = np.zeros(rank), b.copy()
    return first, second


def conv_responses(layers, index, x, *, positions=20000, seed=0):
    """Outputs (before ReLU) of conv layer ``index`` at up to ``positions``
    random image positions of inputs ``x``, as (N, filters)."""
    z, _ = forward(layers[:index + 1], x)
    y = z.transpose(0, 2, 3, 1).reshape(-1, z.shape[1])
    if len(y) > positions:
        y = y[np.random.default_rng(seed).choice(len(y), positions, replace=False)]
    return y


def factored_params(shape, rank):
    """Weights of a layer of ``shape`` factored to ``rank`` (dense or conv)."""
    if len(shape) == 2:
        m, n = shape
        return rank * (m + n)
    d, c, k, _ = shape
    return rank * c * k * k + d * rank


def lowrank(layers, energy, *, x=None, skip_last=True, method="responses"):
    """Factor every dense and conv layer (but the classifier) that the budget shrinks.

    Returns ``(new layers, rows)``: per weighted layer of the original
    network, its kind, shape, chosen rank and full rank, weights before and
    after, and where it landed in the new network (``at``: one index, or two
    for a factored layer). ``method``: "responses" (Zhang et al., needs
    ``x``, training inputs) or "svd" for convolutions; dense layers always
    use the SVD.
    """
    if method not in ("responses", "svd"):
        raise ValueError(f"unknown low-rank method {method!r}: choose responses or svd")
    if method == "responses" and x is None:
        raise ValueError("the responses method needs training inputs x")
    candidates = weighted(layers)
    if skip_last:
        candidates = candidates[:-1]
    out, rows = [], []
    for i, layer in enumerate(layers):
        if i not in candidates:
            if layer["kind"] in ("dense", "conv"):
                rows.append(_row(i, layer, None, None, [len(out)]))
            out.append(copy.deepcopy(layer))
            continue
        w = layer["W"]
        if layer["kind"] == "dense":
            energies = np.linalg.svd(w, compute_uv=False) ** 2
            responses = None
        else:
            responses = conv_responses(layers, i, x) if method == "responses" else None
            energies = _conv_basis(layer, responses)[1]
        rank = rank_for_energy(energies, energy)
        full = min(w.shape[0], int(np.prod(w.shape[1:])))
        if factored_params(w.shape, rank) >= w.size:
            rows.append(_row(i, layer, rank, full, [len(out)]))
            out.append(copy.deepcopy(layer))
            continue
        pair = factor_dense(layer, rank) if layer["kind"] == "dense" else \
            factor_conv(layer, rank, responses)
        rows.append(_row(i, layer, rank, full, [len(out), len(out) + 1]))
        out.extend(pair)
    return out, rows


def _row(i, layer, rank, full, at):
    shape = layer["W"].shape
    params = layer["W"].size if len(at) == 1 else factored_params(shape, rank)
    return {"layer": i, "kind": layer["kind"], "shape": list(shape), "rank": rank,
            "full_rank": full, "factored": len(at) == 2, "dense_weights": int(layer["W"].size),
            "weights": int(params), "at": at}


def equal_size_masks(layers, rows, *, z_bits=4, weight_bits=32):
    """Magnitude-pruning masks giving each factored layer the storage of its factors.

    A pruned layer stores a ``z_bits`` relative index with each surviving
    weight (Deep Compression's sparse format), so at equal bytes it keeps
    ``weights x weight_bits / (weight_bits + z_bits)`` of them. Returns
    ``{layer index: mask}`` for the original network.
    """
    masks = {}
    for row in rows:
        if not row["factored"]:
            continue
        w = np.abs(layers[row["layer"]]["W"])
        keep = int(row["weights"] * weight_bits // (weight_bits + z_bits))
        mask = np.zeros(w.size, dtype=bool)
        mask[np.argsort(w, axis=None)[::-1][:keep]] = True
        masks[row["layer"]] = mask.reshape(w.shape)
    return masks
