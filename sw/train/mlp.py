"""Multi-layer perceptrons in numpy: ReLU hidden layers, softmax output.

Training is mini-batch SGD with momentum, deterministic for a given seed.
Two hooks serve compression: ``masks`` keep pruned weights at zero (their
gradients are dropped), and ``shared`` trains a layer's codebook instead of
its weights, with the gradients grouped by cluster (Deep Compression's
centroid fine-tuning).
"""

import numpy as np

__all__ = ["init", "forward", "predict", "accuracy", "train"]


def init(sizes, seed):
    """He-initialized layers ``[{"W": (out, in), "b": (out,)}, ...]``."""
    rng = np.random.default_rng(seed)
    return [{"W": rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)), "b": np.zeros(n_out)}
            for n_in, n_out in zip(sizes[:-1], sizes[1:])]


def forward(layers, x):
    """Activations of every layer: ``[x, h1, ..., logits]``."""
    acts = [x]
    for i, layer in enumerate(layers):
        z = acts[-1] @ layer["W"].T + layer["b"]
        acts.append(z if i == len(layers) - 1 else np.maximum(z, 0))
    return acts


def predict(layers, x):
    return forward(layers, x)[-1].argmax(axis=1)


def accuracy(layers, x, y):
    return float(np.mean(predict(layers, x) == y))


def _gradients(layers, x, y):
    acts = forward(layers, x)
    logits = acts[-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = p
    delta[np.arange(len(y)), y] -= 1
    delta /= len(y)
    grads = [None] * len(layers)
    for i in reversed(range(len(layers))):
        grads[i] = {"W": delta.T @ acts[i], "b": delta.sum(axis=0)}
        if i:
            delta = (delta @ layers[i]["W"]) * (acts[i] > 0)
    return grads


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
    rng = np.random.default_rng(seed)
    velocity = [{k: np.zeros_like(v) for k, v in layer.items()} for layer in layers]
    cvel = [None if s is None else np.zeros_like(s[1]) for s in (shared or [None] * len(layers))]
    for epoch in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            grads = _gradients(layers, x[idx], y[idx])
            for i, (layer, grad) in enumerate(zip(layers, grads)):
                grad["W"] = grad["W"] + weight_decay * layer["W"]
                if shared and shared[i] is not None:
                    indices, centroids = shared[i]
                    group = np.bincount(indices.ravel(), weights=grad["W"].ravel(),
                                        minlength=len(centroids))
                    group[0] = 0  # the zero entry stays zero
                    cvel[i] = momentum * cvel[i] - lr * group
                    centroids += cvel[i]
                    layer["W"] = centroids[indices]
                else:
                    if masks is not None:
                        grad["W"] = grad["W"] * masks[i]
                    velocity[i]["W"] = momentum * velocity[i]["W"] - lr * grad["W"]
                    layer["W"] = layer["W"] + velocity[i]["W"]
                    if masks is not None:
                        layer["W"] = layer["W"] * masks[i]
                velocity[i]["b"] = momentum * velocity[i]["b"] - lr * grad["b"]
                layer["b"] = layer["b"] + velocity[i]["b"]
        if progress:
            progress(f"{label}: epoch {epoch + 1}/{epochs}")
    return layers
