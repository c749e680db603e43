"""Sequential networks in numpy, and the one training loop of ``sw.train``.

The compression experiments rearrange layers: low-rank factorization splits
a layer in two with no ReLU between, batch normalization inserts layers and
folding removes them, so a network here is a list of layers:

* ``{"kind": "dense", "W": (out, in), "b": (out,)}``
* ``{"kind": "conv", "W": (K, C, r, r), "b": (K,)}``, optionally ``"stride": (sh, sw)``
  (default (1, 1)) and ``"pads": (top, left, bottom, right)`` (default zeros):
  zero padding, then correlation with that stride; the output is
  ``floor((H + top + bottom - r) / sh) + 1`` high (and likewise wide)
* ``{"kind": "bn", "gamma", "beta", "mean", "var"}``: batch normalization of the
  features (2-D inputs) or channels (4-D inputs), ``eps`` = ``BN_EPS``
* ``{"kind": "pool"}``, optionally ``"mode"`` (``"max"``, default, or ``"avg"``),
  ``"kernel": (kh, kw)`` (default (2, 2)), ``"stride": (sh, sw)`` (default the
  kernel), ``"pads": (top, left, bottom, right)`` (default zeros) and
  ``"count_pads"`` (default False): ONNX's MaxPool and AveragePool with
  ``ceil_mode`` 0, so the output is ``floor((H + top + bottom - kh) / sh) + 1``
  high (the default 2x2 pool drops odd edges). Max pooling ignores the padding;
  average pooling divides by the real positions of a window, or by ``kh * kw``
  with ``count_pads`` (ONNX's ``count_include_pad``: the padding counts as zeros)
* ``{"kind": "relu"}`` and ``{"kind": "flatten"}``
* ``{"kind": "sign", "beta": bool}``, optionally ``"offset"``: XNOR-Net's
  binarized activations of 2-D inputs, ``k * sign(x - offset)`` with ``k`` the
  mean ``|x - offset|`` of each sample (or 1 without ``beta``); its gradient
  passes where ``|x - offset| <= 1`` (straight through)

A dense layer may compute with quantized weights: ``quantizers`` (of
``forward``, ``gradients``, ``train``) maps its index to a pair of hooks,
``quantize(layer) -> (wq, aux)`` (the weights it computes with, and whatever
the gradient needs) and ``straight_through(layer, aux, dwq) -> {param:
gradient}``, which turns the gradient of ``wq`` into those of the layer's
trained (latent) parameters; ``sw.train.lowbit`` trains its binary and
ternary networks so.

``from_cnn`` turns ``sw.train.cnn``'s networks into this form (same weights, same
outputs), so its architectures and initialization are reused. Batch
normalization normalizes with the batch's statistics while training and
with running averages otherwise.

Training is ``fit`` (the epochs, the seeded batch order, the per-epoch
evaluation and progress), ``loss_gradient`` (softmax cross-entropy, with an
optional teacher: distillation, Hinton et al. 2015) and ``Momentum``
(mini-batch SGD with momentum and weight decay, with the compression hooks:
masks keep pruned weights at zero, shared codebooks train with each
centroid's gradient summed over its cluster, Deep Compression's fine-tuning).
Every trainer of the package runs this stack and this loop: ``sw.train.mlp``,
``sw.train.cnn`` and ``sw.train.lowbit`` hand their networks over as lists
of layers holding the same arrays (``lowbit`` with its quantizers as hooks
and Adam as the optimizer). This stack is the base because it is the only
one every other network maps into (a list of layers, of which an MLP, a
LeNet-like CNN and a binary or ternary MLP are special cases), its
gradients are bit for bit those of the fixed-shape MLP and CNN code it
replaces (the same products in the same order), and it alone had all the
hooks (masks, shared codebooks, a teacher, batch normalization).
"""

import copy

import numpy as np

__all__ = ["BN_EPS", "from_cnn", "conv_geometry", "pool_geometry", "with_bn", "weighted",
           "forward", "predict", "accuracy", "logits", "loss_gradient", "gradients", "fit",
           "Momentum", "train", "count_weights"]

BN_EPS = 1e-5
#: Running statistics: new = MOMENTUM * old + (1 - MOMENTUM) * batch.
BN_MOMENTUM = 0.9
#: A BN layer's ``"running"`` (default): the weights of the old statistics and
#: of the batch's, and whether the batch variance is made unbiased first.
BN_RUNNING = (BN_MOMENTUM, 1 - BN_MOMENTUM, True)


def from_cnn(net, *, share=False):
    """A ``sw.train.cnn`` network (``{"convs": [...], "fcs": [...]}``) as a list of layers.

    With ``share`` the layers hold ``net``'s own arrays instead of copies
    (what ``sw.train.cnn`` trains through: an update in place is then an
    update of ``net``).
    """
    own = (lambda a: a) if share else (lambda a: a.copy())
    layers = []
    for c in net["convs"]:
        layers += [{"kind": "conv", "W": own(c["W"]), "b": own(c["b"])},
                   {"kind": "relu"}, {"kind": "pool"}]
    layers.append({"kind": "flatten"})
    for i, f in enumerate(net["fcs"]):
        layers.append({"kind": "dense", "W": own(f["W"]), "b": own(f["b"])})
        if i < len(net["fcs"]) - 1:
            layers.append({"kind": "relu"})
    return layers


def with_bn(layers):
    """A copy with batch normalization after every weighted layer but the last
    (before its ReLU, as Ioffe and Szegedy place it); gamma 1, beta 0."""
    last = weighted(layers)[-1]
    out = []
    for i, layer in enumerate(layers):
        out.append(copy.deepcopy(layer))
        if layer["kind"] in ("dense", "conv") and i != last:
            n = layer["W"].shape[0]
            out.append({"kind": "bn", "gamma": np.ones(n), "beta": np.zeros(n),
                        "mean": np.zeros(n), "var": np.ones(n)})
    return out


def weighted(layers):
    """Indices of the dense and conv layers."""
    return [i for i, l in enumerate(layers) if l["kind"] in ("dense", "conv")]


def count_weights(layers):
    """Weights of the dense and conv layers (biases not counted)."""
    return sum(layers[i]["W"].size for i in weighted(layers))


def _im2col(x, r):
    """(B, C, H, W) -> (B, Ho, Wo, C*r*r) patches, (c, u, v) order like W's."""
    b, c, h, w = x.shape
    ho, wo = h - r + 1, w - r + 1
    cols = np.empty((b, ho, wo, c, r, r), dtype=x.dtype)
    for u in range(r):
        for v in range(r):
            cols[..., u, v] = x[:, :, u:u + ho, v:v + wo].transpose(0, 2, 3, 1)
    return cols.reshape(b, ho, wo, c * r * r)


def _pool(z):
    """2x2 max pooling (odd edges dropped); returns pooled and the crop."""
    b, k, h, w = z.shape
    zc = z[:, :, :h // 2 * 2, :w // 2 * 2]
    return zc.reshape(b, k, h // 2, 2, w // 2, 2).max(axis=(3, 5)), zc


def conv_geometry(layer):
    """A conv layer's ``(stride, pads)``, defaults filled in."""
    return tuple(layer.get("stride", (1, 1))), tuple(layer.get("pads", (0, 0, 0, 0)))


def pool_geometry(layer):
    """A pool layer's ``(mode, kernel, stride, pads, count_pads)``, defaults filled in."""
    mode = layer.get("mode", "max")
    if mode not in ("max", "avg"):
        raise ValueError(f"pool mode must be 'max' or 'avg', not {mode!r}")
    kernel = tuple(layer.get("kernel", (2, 2)))
    return (mode, kernel, tuple(layer.get("stride", kernel)),
            tuple(layer.get("pads", (0, 0, 0, 0))), bool(layer.get("count_pads", False)))


def _is_default_pool(geometry):
    mode, kernel, stride, pads, _ = geometry
    return mode == "max" and kernel == (2, 2) and stride == (2, 2) and pads == (0, 0, 0, 0)


def _pad(x, pads, value=0.0):
    top, left, bottom, right = pads
    if not any(pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)), constant_values=value)


def _windows(x, kernel, stride):
    """(B, C, H, W) -> (B, C, Ho, Wo, kh, kw): every window of a strided sweep."""
    (kh, kw), (sh, sw) = kernel, stride
    b, c, h, w = x.shape
    ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
    out = np.empty((b, c, ho, wo, kh, kw), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            out[..., u, v] = x[:, :, u:u + sh * (ho - 1) + 1:sh, v:v + sw * (wo - 1) + 1:sw]
    return out


def _unwindow(d, shape, stride):
    """The adjoint of ``_windows``: window gradients summed back onto a (B, C, H, W) input."""
    sh, sw = stride
    ho, wo, kh, kw = d.shape[2:]
    dx = np.zeros(shape)
    for u in range(kh):
        for v in range(kw):
            dx[:, :, u:u + sh * (ho - 1) + 1:sh, v:v + sw * (wo - 1) + 1:sw] += d[..., u, v]
    return dx


def _crop(dx, pads, shape):
    """The gradient of the unpadded input, from that of the padded one."""
    top, left = pads[:2]
    return dx[:, :, top:top + shape[2], left:left + shape[3]]


def _conv_strided(x, layer):
    """A padded, strided conv layer: output and the cache its gradient needs."""
    stride, pads = conv_geometry(layer)
    k, c, r, _ = layer["W"].shape
    cols = _windows(_pad(x, pads), (r, r), stride)  # (B, C, Ho, Wo, r, r)
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(cols.shape[0], cols.shape[2],
                                                    cols.shape[3], c * r * r)
    z = (cols @ layer["W"].reshape(k, -1).T + layer["b"]).transpose(0, 3, 1, 2)
    return z, (x.shape, cols)


def _conv_strided_input_gradient(layer, cache, dzf):
    shape, cols = cache
    stride, pads = conv_geometry(layer)
    k, c, r, _ = layer["W"].shape
    dcols = (dzf @ layer["W"].reshape(k, -1)).reshape(cols.shape[:3] + (c, r, r))
    top, left, bottom, right = pads
    padded = (shape[0], shape[1], shape[2] + top + bottom, shape[3] + left + right)
    return _crop(_unwindow(dcols.transpose(0, 3, 1, 2, 4, 5), padded, stride), pads, shape)


def _pool_general(x, geometry):
    """Max or average pooling of any kernel, stride and padding; output and cache."""
    mode, kernel, stride, pads, count_pads = geometry
    if mode == "max":
        # -inf padding: a padded position is never a maximum.
        win = _windows(_pad(x, pads, -np.inf), kernel, stride)
        out = win.max(axis=(4, 5))
        return out, (x.shape, win == out[..., None, None])
    win = _windows(_pad(x, pads), kernel, stride)
    if count_pads:
        count = np.full(win.shape[2:4], float(kernel[0] * kernel[1]))
    else:
        ones = np.ones((1, 1) + x.shape[2:])
        count = _windows(_pad(ones, pads), kernel, stride).sum(axis=(4, 5))[0, 0]
    return win.sum(axis=(4, 5)) / count, (x.shape, count)


def _pool_general_gradient(geometry, cache, delta):
    mode, kernel, stride, pads, _ = geometry
    shape, aux = cache
    top, left, bottom, right = pads
    padded = (shape[0], shape[1], shape[2] + top + bottom, shape[3] + left + right)
    if mode == "max":
        # The gradient goes to the maxima (to all of them on a tie), as the 2x2 pool's does.
        d = delta[..., None, None] * aux
    else:
        d = np.broadcast_to((delta / aux)[..., None, None], delta.shape + tuple(kernel))
    return _crop(_unwindow(d, padded, stride), pads, shape)


def _bn_shape(x, n):
    return (1, n) if x.ndim == 2 else (1, n, 1, 1)


def _sign(v):
    """+1 where ``v >= 0``, else -1 (the hardware's convention: bit 1 at zero)."""
    return np.where(v >= 0, 1.0, -1.0)


def forward(layers, x, *, train=False, quantizers=None):
    """Logits of inputs ``x``, with what ``gradients`` needs.

    With ``train``, batch normalization uses (and folds into its running
    statistics) the batch's mean and variance. A quantized dense layer's
    cache is ``{"a": input, "wq", "masks": aux, "z": output}``.
    """
    caches = []
    for i, layer in enumerate(layers):
        kind = layer["kind"]
        if kind == "dense" and quantizers and i in quantizers:
            wq, aux = quantizers[i][0](layer)
            z = x @ wq.T + layer["b"]
            caches.append({"a": x, "wq": wq, "masks": aux, "z": z})
            x = z
        elif kind == "dense":
            caches.append(x)
            x = x @ layer["W"].T + layer["b"]
        elif kind == "conv" and conv_geometry(layer) != ((1, 1), (0, 0, 0, 0)):
            x, cache = _conv_strided(x, layer)
            caches.append(cache)
        elif kind == "conv":
            k, _, r, _ = layer["W"].shape
            cols = _im2col(x, r)
            caches.append((x.shape, cols))
            x = (cols @ layer["W"].reshape(k, -1).T + layer["b"]).transpose(0, 3, 1, 2)
        elif kind == "relu":
            caches.append(x > 0)
            x = np.maximum(x, 0)
        elif kind == "pool" and not _is_default_pool(pool_geometry(layer)):
            x, cache = _pool_general(x, pool_geometry(layer))
            caches.append(cache)
        elif kind == "pool":
            pooled, cropped = _pool(x)
            caches.append((x.shape, cropped, pooled))
            x = pooled
        elif kind == "flatten":
            caches.append(x.shape)
            x = x.reshape(len(x), -1)
        elif kind == "bn":
            shape = _bn_shape(x, len(layer["gamma"]))
            axes = (0,) if x.ndim == 2 else (0, 2, 3)
            if train:
                mean, var = x.mean(axis=axes), x.var(axis=axes)
                n = x.size // len(mean)
                keep, take, unbiased = layer.get("running", BN_RUNNING)
                layer["mean"] = keep * layer["mean"] + take * mean
                layer["var"] = keep * layer["var"] + \
                    (take * var * n / max(n - 1, 1) if unbiased else take * var)
            else:
                mean, var = layer["mean"], layer["var"]
            inv = 1 / np.sqrt(var + BN_EPS)
            xhat = (x - mean.reshape(shape)) * inv.reshape(shape)
            caches.append((xhat, inv, axes, shape))
            x = xhat * layer["gamma"].reshape(shape) + layer["beta"].reshape(shape)
        elif kind == "sign":
            h = x - layer["offset"] if "offset" in layer else x
            k = np.abs(h).mean(axis=1, keepdims=True) if layer["beta"] else 1.0
            caches.append((h, k))
            x = k * _sign(h)
        else:
            raise ValueError(f"unknown layer kind {kind!r}")
    return x, caches


def logits(layers, x, *, batch=1000, quantizers=None):
    """Inference logits, a batch at a time (im2col of a whole test set is large)."""
    return np.concatenate([forward(layers, x[i:i + batch], quantizers=quantizers)[0]
                           for i in range(0, len(x), batch)])


def predict(layers, x, *, quantizers=None):
    return logits(layers, x, quantizers=quantizers).argmax(axis=1)


def accuracy(layers, x, y, *, quantizers=None):
    return float(np.mean(predict(layers, x, quantizers=quantizers) == y))


def _softmax(z):
    p = np.exp(z - z.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


def loss_gradient(z, y, soft=None, temperature=1.0, alpha=0.0):
    """Gradient of the mean loss with respect to the logits ``z``.

    The loss is cross-entropy with the labels ``y``; with a teacher's logits
    ``soft``, it is ``(1 - alpha) CE + alpha T^2 KL(softmax(soft/T) ||
    softmax(z/T))`` (Hinton et al.): the ``T^2`` keeps the soft term's
    gradient the size of the hard one's whatever the temperature.
    """
    delta = _softmax(z)
    delta[np.arange(len(y)), y] -= 1
    if soft is not None and alpha:
        t = temperature
        delta = (1 - alpha) * delta + alpha * t * (_softmax(z / t) - _softmax(soft / t))
    return delta / len(y)


def gradients(layers, x, y, *, soft=None, temperature=1.0, alpha=0.0, quantizers=None):
    """``{layer index: {param: gradient}}`` of the mean loss over the batch."""
    z, caches = forward(layers, x, train=True, quantizers=quantizers)
    delta = loss_gradient(z, y, soft, temperature, alpha)
    grads = {}
    first = weighted(layers)[0]
    for i in reversed(range(len(layers))):
        layer, cache = layers[i], caches[i]
        kind = layer["kind"]
        if kind == "dense" and quantizers and i in quantizers:
            dwq = delta.T @ cache["a"]
            grads[i] = {"b": delta.sum(axis=0),
                        **quantizers[i][1](layer, cache["masks"], dwq)}
            delta = delta @ cache["wq"]
        elif kind == "dense":
            grads[i] = {"W": delta.T @ cache, "b": delta.sum(axis=0)}
            delta = delta @ layer["W"]
        elif kind == "conv":
            shape, cols = cache
            k, c, r, _ = layer["W"].shape
            dzf = delta.transpose(0, 2, 3, 1).reshape(-1, k)
            grads[i] = {"W": (dzf.T @ cols.reshape(-1, c * r * r)).reshape(layer["W"].shape),
                        "b": dzf.sum(axis=0)}
            if i > first and conv_geometry(layer) != ((1, 1), (0, 0, 0, 0)):
                delta = _conv_strided_input_gradient(layer, cache, dzf)
            elif i > first:
                dcols = (dzf @ layer["W"].reshape(k, -1)).reshape(cols.shape[:3] + (c, r, r))
                dx = np.zeros(shape)
                ho, wo = cols.shape[1:3]
                for u in range(r):
                    for v in range(r):
                        dx[:, :, u:u + ho, v:v + wo] += dcols[..., u, v].transpose(0, 3, 1, 2)
                delta = dx
        elif kind == "relu":
            delta = delta * cache
        elif kind == "pool" and not _is_default_pool(pool_geometry(layer)):
            delta = _pool_general_gradient(pool_geometry(layer), cache, delta)
        elif kind == "pool":
            shape, cropped, pooled = cache
            # The gradient goes to the maxima (to all of them on a tie).
            up = np.repeat(np.repeat(delta, 2, axis=2), 2, axis=3)
            mask = cropped == np.repeat(np.repeat(pooled, 2, axis=2), 2, axis=3)
            dx = np.zeros(shape)
            dx[:, :, :up.shape[2], :up.shape[3]] = up * mask
            delta = dx
        elif kind == "flatten":
            delta = delta.reshape(cache)
        elif kind == "sign":
            h, k = cache
            delta = delta * k * (np.abs(h) <= 1)
        elif kind == "bn":
            xhat, inv, axes, shape = cache
            grads[i] = {"gamma": (delta * xhat).sum(axis=axes), "beta": delta.sum(axis=axes)}
            dxhat = delta * layer["gamma"].reshape(shape)
            n = delta.size // len(inv)
            delta = inv.reshape(shape) / n * (
                n * dxhat - dxhat.sum(axis=axes).reshape(shape)
                - xhat * (dxhat * xhat).sum(axis=axes).reshape(shape))
        if i == first:
            break
    return grads


def fit(n, *, epochs, batch, seed, gradients, optimizer, evaluate=None, progress=None,
        label="train", template="{label}: epoch {epoch}/{epochs}{tail}"):
    """The training loop: ``epochs`` passes over ``n`` samples in mini-batches.

    Every epoch draws one permutation of the samples from one
    ``numpy.random.default_rng(seed)`` (the only random draws of training)
    and cuts it into batches of ``batch``, the last one shorter.

    Parameters
    ----------
    gradients : callable
        ``gradients(idx)``: ``{layer index: {param: gradient}}`` of the loss
        over the samples ``idx``.
    optimizer
        ``optimizer.start(epoch)`` before each epoch's batches (0-based),
        ``optimizer.step(grads)`` after each batch's gradients.
    evaluate : callable, optional
        ``evaluate()``: an accuracy measured after every epoch.
    progress : callable, optional
        Called after every epoch with ``template`` filled in (``tail`` is the
        measured accuracy, if any).

    Returns
    -------
    list of float
        ``evaluate()`` after every epoch (empty without ``evaluate``).
    """
    rng = np.random.default_rng(seed)
    history = []
    for epoch in range(epochs):
        order = rng.permutation(n)
        optimizer.start(epoch)
        for start in range(0, n, batch):
            optimizer.step(gradients(order[start:start + batch]))
        if evaluate is not None:
            history.append(evaluate())
        if progress:
            tail = f", test accuracy {100 * history[-1]:.2f}%" if history else ""
            progress(template.format(label=label, epoch=epoch + 1, epochs=epochs, tail=tail))
    return history


class Momentum:
    """Mini-batch SGD with momentum and weight decay, and the compression hooks.

    Per parameter ``p`` with gradient ``g``: ``g += weight_decay * p`` for
    weights ``W`` only, ``v = momentum * v - lr * g``, ``p += v``; the
    velocities start at zero and ``lr`` is multiplied by ``lr_decay`` at the
    start of every epoch but the first.

    Parameters
    ----------
    layers : list of dict
        The layers ``step``'s gradients index.
    masks : {layer index: bool array}, optional
        Weights that may be non-zero; the others stay zero (pruning): their
        gradients are dropped and the weights masked after each step.
    shared : {layer index: (indices, centroids)}, optional
        Train the codebook (in place) instead of the weights: a centroid's
        gradient is the sum of its weights' gradients (weight decay
        included), index 0 (pruned) stays zero, and ``W = centroids[indices]``
        (Deep Compression's fine-tuning).
    in_place : bool
        Update the parameter arrays in place (``sw.train.cnn`` always did:
        whoever holds them sees the training) rather than replace them.
    """

    def __init__(self, layers, *, lr, momentum=0.9, weight_decay=1e-4, lr_decay=1.0,
                 masks=None, shared=None, in_place=False):
        self.layers, self.lr, self.momentum = layers, lr, momentum
        self.weight_decay, self.lr_decay, self.in_place = weight_decay, lr_decay, in_place
        self.masks, self.shared = masks or {}, shared or {}
        self.velocity = {}

    def start(self, epoch):
        if epoch:
            self.lr *= self.lr_decay

    def step(self, grads):
        """Apply ``{layer index: {param: gradient}}``."""
        lr, momentum, masks, shared = self.lr, self.momentum, self.masks, self.shared
        for i, grad in grads.items():
            layer = self.layers[i]
            for key, g in grad.items():
                if key == "W":
                    g = g + self.weight_decay * layer["W"]
                    if i in shared:
                        indices, centroids = shared[i]
                        g = np.bincount(indices.ravel(), weights=g.ravel(),
                                        minlength=len(centroids))
                        g[0] = 0  # the zero entry stays zero
                        v = self.velocity.setdefault((i, "C"), np.zeros_like(centroids))
                        v *= momentum
                        v -= lr * g
                        centroids += v
                        layer["W"] = centroids[indices]
                        continue
                    if i in masks:
                        g = g * masks[i]
                v = self.velocity.setdefault((i, key), np.zeros_like(layer[key]))
                v *= momentum
                v -= lr * g
                if self.in_place:
                    layer[key] += v
                else:
                    layer[key] = layer[key] + v
                if key == "W" and i in masks:
                    layer["W"] = layer["W"] * masks[i]


def train(layers, x, y, *, epochs, lr=0.05, momentum=0.9, batch=64, weight_decay=1e-4,
          lr_decay=1.0, seed=0, masks=None, shared=None, soft=None, temperature=1.0, alpha=0.0,
          quantizers=None, evaluate=None, progress=None, label="train"):
    """Train ``layers`` in place; return the per-epoch test accuracies.

    ``fit`` with ``Momentum``'s steps on the gradients of ``gradients``.

    Parameters
    ----------
    lr_decay : float
        The learning rate is multiplied by this after every epoch.
    masks : {layer index: bool array}, optional
        Weights that may be non-zero; the others stay zero (pruning).
    shared : {layer index: (indices, centroids)}, optional
        Train the codebook instead of the weights: a centroid's gradient is the
        sum of its weights' gradients, index 0 (pruned) stays zero, and
        ``W = centroids[indices]`` (Deep Compression's fine-tuning).
    soft : array (len(x), classes), optional
        A teacher's logits for every training input (distillation, with
        ``temperature`` and ``alpha``; see ``loss_gradient``).
    quantizers : {layer index: (quantize, straight_through)}, optional
        Dense layers that compute with quantized weights (see above).
    evaluate : (x_test, y_test), optional
        Accuracy measured after every epoch (returned).
    """
    optimizer = Momentum(layers, lr=lr, momentum=momentum, weight_decay=weight_decay,
                         lr_decay=lr_decay, masks=masks, shared=shared)

    def batch_gradients(idx):
        return gradients(layers, x[idx], y[idx], soft=None if soft is None else soft[idx],
                         temperature=temperature, alpha=alpha, quantizers=quantizers)

    return fit(len(x), epochs=epochs, batch=batch, seed=seed, gradients=batch_gradients,
               optimizer=optimizer,
               evaluate=None if evaluate is None else
               lambda: accuracy(layers, *evaluate, quantizers=quantizers),
               progress=progress, label=label)
