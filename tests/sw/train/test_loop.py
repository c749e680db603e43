"""The one training loop (``sw.train.nn``): batch order, momentum steps, the
compression hooks, the teacher, and the trainers that run through it."""

import copy

import numpy as np
import pytest

from sw.train import cnn, mlp, nn


class _Recorder:
    """An optimizer that keeps what ``fit`` hands it."""

    def __init__(self):
        self.epochs, self.batches = [], []

    def start(self, epoch):
        self.epochs.append(epoch)

    def step(self, grads):
        self.batches.append(grads)


def _digits_like(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 6)), rng.integers(0, 3, n)


# ---------------------------------------------------------------- fit

def test_fit_visits_every_sample_once_an_epoch_in_batches():
    rec = _Recorder()
    history = nn.fit(10, epochs=2, batch=4, seed=3, gradients=lambda idx: list(idx),
                     optimizer=rec)
    assert history == [] and rec.epochs == [0, 1]
    assert [len(b) for b in rec.batches] == [4, 4, 2, 4, 4, 2]
    for epoch in (rec.batches[:3], rec.batches[3:]):
        assert sorted(i for b in epoch for i in b) == list(range(10))
    assert rec.batches[:3] != rec.batches[3:]  # a new order every epoch


def test_fit_is_deterministic_for_a_seed():
    def order(seed):
        rec = _Recorder()
        nn.fit(12, epochs=3, batch=5, seed=seed, gradients=lambda idx: list(idx), optimizer=rec)
        return rec.batches
    assert order(7) == order(7)
    assert order(7) != order(8)


def test_fit_evaluates_and_reports_every_epoch():
    said, scores = [], iter([0.5, 0.25])
    history = nn.fit(3, epochs=2, batch=2, seed=0, gradients=lambda idx: {},
                     optimizer=_Recorder(), evaluate=lambda: next(scores), progress=said.append,
                     label="run")
    assert history == [0.5, 0.25]
    assert said == ["run: epoch 1/2, test accuracy 50.00%", "run: epoch 2/2, test accuracy 25.00%"]
    said.clear()
    nn.fit(3, epochs=1, batch=2, seed=0, gradients=lambda idx: {}, optimizer=_Recorder(),
           progress=said.append, label="CNN", template="{label} epoch {epoch}/{epochs}")
    assert said == ["CNN epoch 1/1"]


# ---------------------------------------------------------------- Momentum

def _dense(w, b=(0.0,)):
    return {"kind": "dense", "W": np.array(w, dtype=float), "b": np.array(b, dtype=float)}


def test_momentum_step_with_weight_decay_on_weights_only():
    layers = [_dense([[2.0, -4.0]], [3.0])]
    opt = nn.Momentum(layers, lr=1.0, momentum=0.5, weight_decay=0.25)
    grads = {"W": np.array([[1.0, 1.0]]), "b": np.array([1.0])}
    opt.step({0: dict(grads)})
    # g = 1 + 0.25 W; v = -g; W += v. The bias has no decay.
    assert np.array_equal(layers[0]["W"], [[0.5, -4.0]])
    assert np.array_equal(layers[0]["b"], [2.0])
    opt.step({0: dict(grads)})
    # v = 0.5 v - g: the second step carries half the first.
    assert np.array_equal(layers[0]["W"], [[0.5 - 0.75 - 1.125, -4.0 - 0.0 - 0.0]])
    assert np.array_equal(layers[0]["b"], [2.0 - 0.5 - 1.0])


def test_learning_rate_decays_after_the_first_epoch():
    opt = nn.Momentum([], lr=0.5, lr_decay=0.5)
    opt.start(0)
    assert opt.lr == 0.5
    opt.start(1)
    opt.start(2)
    assert opt.lr == 0.125


def test_masked_weights_stay_zero_after_a_step():
    layers = [_dense([[1.0, 0.0], [0.0, 2.0]], [0.0, 0.0])]
    mask = np.array([[True, False], [False, True]])
    opt = nn.Momentum(layers, lr=1.0, momentum=0.9, weight_decay=0.0, masks={0: mask})
    for _ in range(3):
        opt.step({0: {"W": np.full((2, 2), -1.0), "b": np.zeros(2)}})
    w = layers[0]["W"]
    assert np.array_equal(w[~mask], [0.0, 0.0])
    assert np.all(w[mask] > [1.0, 2.0])
    # The dropped gradients build no velocity either.
    assert np.array_equal(opt.velocity[(0, "W")][~mask], [0.0, 0.0])


def test_centroid_gradients_are_grouped_by_cluster():
    indices = np.array([[1, 1], [2, 0]])
    centroids = np.array([0.0, 10.0, 20.0])
    layers = [_dense(centroids[indices], [0.0, 0.0])]
    opt = nn.Momentum(layers, lr=1.0, momentum=0.0, weight_decay=0.0,
                      shared={0: (indices, centroids)})
    opt.step({0: {"W": np.array([[1.0, 2.0], [3.0, 4.0]]), "b": np.zeros(2)}})
    # Cluster 1 gets 1 + 2, cluster 2 gets 3; the zero entry ignores its 4.
    assert np.array_equal(centroids, [0.0, 7.0, 17.0])  # trained in place
    assert np.array_equal(layers[0]["W"], [[7.0, 7.0], [17.0, 0.0]])


def test_in_place_steps_update_the_callers_arrays():
    w = np.array([[1.0]])
    layers = [{"kind": "dense", "W": w, "b": np.zeros(1)}]
    nn.Momentum(layers, lr=1.0, weight_decay=0.0, in_place=True).step(
        {0: {"W": np.array([[1.0]]), "b": np.zeros(1)}})
    assert layers[0]["W"] is w and np.array_equal(w, [[0.0]])
    nn.Momentum(layers, lr=1.0, weight_decay=0.0).step(
        {0: {"W": np.array([[1.0]]), "b": np.zeros(1)}})
    assert layers[0]["W"] is not w and np.array_equal(w, [[0.0]])


# ---------------------------------------------------------------- the teacher

def test_a_teacher_changes_the_loss_gradient_and_the_training():
    rng = np.random.default_rng(1)
    z, soft, y = rng.normal(size=(4, 3)), rng.normal(size=(4, 3)), rng.integers(0, 3, 4)
    plain = nn.loss_gradient(z, y)
    assert not np.allclose(nn.loss_gradient(z, y, soft, 2.0, 0.5), plain)
    assert np.array_equal(nn.loss_gradient(z, y, soft, 2.0, 0.0), plain)
    x, y = _digits_like()
    start = nn.from_cnn(cnn.init((1, 2, 3), {"convs": [], "hidden": [5], "classes": 3}, 0))
    alone, taught = copy.deepcopy(start), copy.deepcopy(start)
    nn.train(alone, x, y, epochs=1, batch=8)
    nn.train(taught, x, y, epochs=1, batch=8, soft=rng.normal(size=(len(x), 3)),
             temperature=2.0, alpha=0.5)
    assert not np.array_equal(alone[-1]["W"], taught[-1]["W"])


# ---------------------------------------------------------------- the trainers

def test_the_mlp_trainer_is_the_sequential_one():
    x, y = _digits_like()
    layers = mlp.init([6, 5, 4, 3], 2)
    seq = mlp._sequential(copy.deepcopy(layers))
    masks = [np.abs(l["W"]) > 0.3 for l in layers]
    mlp.train(layers, x, y, epochs=2, batch=8, seed=4, masks=masks)
    nn.train(seq, x, y, epochs=2, batch=8, seed=4, masks=dict(zip(nn.weighted(seq), masks)))
    for layer, i in zip(layers, nn.weighted(seq)):
        assert np.array_equal(layer["W"], seq[i]["W"]) and np.array_equal(layer["b"], seq[i]["b"])
        assert set(layer) == {"W", "b"}  # no trace of the view
    acts = mlp.forward(layers, x)
    assert len(acts) == 4 and acts[0] is x
    assert np.array_equal(acts[-1], nn.forward(seq, x)[0])


def test_the_mlp_trainer_fine_tunes_shared_codebooks_in_place():
    x, y = _digits_like()
    layers = mlp.init([6, 4, 3], 1)
    indices = np.where(np.abs(layers[0]["W"]) > 0.2, 1 + (layers[0]["W"] > 0), 0)
    codebook = np.array([0.0, -0.5, 0.5])
    layers[0]["W"] = codebook[indices]
    mlp.train(layers, x, y, epochs=1, batch=8, lr=0.01, shared=[(indices, codebook), None])
    assert codebook[0] == 0 and not np.array_equal(codebook, [0.0, -0.5, 0.5])
    assert np.array_equal(layers[0]["W"], codebook[indices])


def test_the_cnn_trainer_trains_its_arrays_in_place():
    rng = np.random.default_rng(0)
    x, y = rng.random((12, 1, 6, 6)), rng.integers(0, 3, 12)
    arch = {"convs": [(2, 3)], "hidden": [4], "classes": 3}
    net = cnn.init((1, 6, 6), arch, seed=0)
    arrays = [layer["W"] for layer in net["convs"] + net["fcs"]]
    before = [a.copy() for a in arrays]
    seq = nn.from_cnn(net)
    said = []
    cnn.train(net, x, y, epochs=1, batch=5, seed=2, progress=said.append)
    assert said == ["CNN epoch 1/1"]
    assert all(l["W"] is a for l, a in zip(net["convs"] + net["fcs"], arrays))
    assert not any(np.array_equal(a, b) for a, b in zip(arrays, before))
    nn.train(seq, x, y, epochs=1, batch=5, seed=2)
    for i, a in zip(nn.weighted(seq), arrays):
        assert np.array_equal(seq[i]["W"], a)


def test_cnn_gradients_are_the_sequential_stack_s():
    rng = np.random.default_rng(5)
    net = cnn.init((2, 7, 7), {"convs": [(3, 2)], "hidden": [4], "classes": 3}, seed=1)
    x, y = rng.normal(size=(3, 2, 7, 7)), rng.integers(0, 3, 3)
    ours = cnn._gradients(net, x, y)
    layers = nn.from_cnn(net)
    theirs = nn.gradients(layers, x, y)
    for g, i in zip(ours["convs"] + ours["fcs"], nn.weighted(layers), strict=True):
        assert np.array_equal(g["W"], theirs[i]["W"]) and np.array_equal(g["b"], theirs[i]["b"])


@pytest.mark.parametrize("share", [False, True])
def test_from_cnn_copies_or_shares(share):
    net = cnn.init((1, 6, 6), {"convs": [(2, 3)], "hidden": [], "classes": 3}, seed=0)
    layers = nn.from_cnn(net, share=share)
    assert [l["kind"] for l in layers] == ["conv", "relu", "pool", "flatten", "dense"]
    assert (layers[0]["W"] is net["convs"][0]["W"]) == share
    assert np.array_equal(layers[4]["W"], net["fcs"][0]["W"])


# ---------------------------------------------------------------- quantizer hooks, sign

def test_a_quantized_dense_layer_computes_and_learns_through_its_hooks():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(5, 4)), rng.integers(0, 3, 5)
    latent = [{"kind": "dense", "W": rng.normal(size=(6, 4)), "b": rng.normal(size=6)},
              {"kind": "relu"},
              {"kind": "dense", "W": rng.normal(size=(3, 6)), "b": rng.normal(size=3)}]
    seen = []

    def quantize(layer):
        return np.sign(layer["W"]), "aux"

    def straight_through(layer, aux, dwq):
        seen.append((aux, dwq))
        return {"W": 3 * dwq}
    hooks = {0: (quantize, straight_through)}
    plain = copy.deepcopy(latent)
    plain[0]["W"] = np.sign(latent[0]["W"])  # what the hooked layer computes with
    assert np.array_equal(nn.forward(latent, x, quantizers=hooks)[0], nn.forward(plain, x)[0])
    ours, theirs = nn.gradients(latent, x, y, quantizers=hooks), nn.gradients(plain, x, y)
    assert seen[0][0] == "aux" and np.array_equal(seen[0][1], theirs[0]["W"])
    assert np.array_equal(ours[0]["W"], 3 * theirs[0]["W"])
    assert np.array_equal(ours[0]["b"], theirs[0]["b"])
    assert np.array_equal(ours[2]["W"], theirs[2]["W"])


def test_sign_layers_binarize_and_pass_gradients_inside_one():
    x = np.array([[0.0, 1.0, 0.5, 0.5]])
    assert np.array_equal(nn.forward([{"kind": "sign", "beta": False, "offset": 0.5}], x)[0],
                          [[-1.0, 1.0, 1.0, 1.0]])
    # beta: scaled by the sample's mean |x - offset| = (0.5 + 0.5 + 0 + 0) / 4.
    assert np.array_equal(nn.forward([{"kind": "sign", "beta": True, "offset": 0.5}], x)[0],
                          [[-0.25, 0.25, 0.25, 0.25]])
    # Inputs beyond [-1, 1] stop the gradient: here the first hidden unit's.
    layers = [{"kind": "dense", "W": np.array([[4.0], [0.5]]), "b": np.zeros(2)},
              {"kind": "sign", "beta": False},
              {"kind": "dense", "W": np.array([[1.0, 1.0], [0.0, 0.0]]), "b": np.zeros(2)}]
    grads = nn.gradients(layers, np.array([[1.0]]), np.array([0]))
    assert grads[0]["W"][0, 0] == 0 and grads[0]["W"][1, 0] != 0


def test_lowbit_networks_train_through_the_stack():
    from sw.train import lowbit
    x, y = _digits_like(30)
    float_net = {"kind": "float", "beta": False, "layers": lowbit.init([6, 5, 3], 0)}
    seq = mlp._sequential(float_net["layers"])
    ours = lowbit._gradients(float_net, x, y)
    theirs = nn.gradients(seq, x, y)
    for g, i in zip(ours, nn.weighted(seq), strict=True):
        assert set(g) == {"W", "b"}
        assert np.array_equal(g["W"], theirs[i]["W"]) and np.array_equal(g["b"], theirs[i]["b"])
    xnor = lowbit.start_from(float_net, "xnor")
    grads = lowbit._gradients(xnor, x, y)
    assert set(grads[0]) == {"W", "b", "gamma", "beta"} and not grads[0]["b"].any()
    assert set(grads[1]) == {"W", "b"}
    assert not np.array_equal(xnor["layers"][0]["mean"], float_net["layers"][0]["mean"])
    bwn = lowbit.start_from(float_net, "bwn")
    lowbit.train(bwn, x, y, epochs=1, lr=0.5, batch=10)
    assert all(np.abs(layer["W"]).max() <= 1 for layer in bwn["layers"])  # latent weights clipped
