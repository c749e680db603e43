"""The compression experiments' pieces: sequential networks, BN folding, low rank,
distillation, DSD, Deep Compression of conv networks, and a low-rank layer on
the EIE engine in Verilator. Tiny settings (sklearn digits, few epochs)."""

import copy

import numpy as np
import pytest

from sw.compress.bnfold import check_fold, fold
from sw.compress.dsd import dsd, sparsity_masks
from sw.compress.experiments import fresh, model_data
from sw.train import cnn
from sw.train import nn
from sw.compress.lowrank import (conv_responses, equal_size_masks, factor_conv, factor_dense,
                                 lowrank, rank_for_energy)
from sw.compress.networks import deep_compress, eie_model


def _loss(layers, x, y):
    z, _ = nn.forward(copy.deepcopy(layers), x, train=True)
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return -np.mean(np.log(p[np.arange(len(y)), y]))


@pytest.fixture(scope="module")
def small_cnn():
    rng = np.random.default_rng(0)
    net = cnn.init((2, 9, 9), {"convs": [(4, 3), (6, 2)], "hidden": [12], "classes": 5}, seed=1)
    for layer in net["convs"] + net["fcs"]:
        layer["b"] = rng.normal(0, 0.1, layer["b"].shape)
    return net, rng.normal(size=(7, 2, 9, 9)), rng.integers(0, 5, 7)


@pytest.fixture(scope="module")
def digits_cnn():
    """digits-cnn trained a few epochs with BN (running statistics far from 0 and 1)."""
    data, x, y, xt = model_data("digits-cnn")
    layers = fresh("digits-cnn", seed=0, bn=True)
    nn.train(layers, x, y, epochs=3, lr=0.05)
    return layers, x, y, xt, data.y_test


# ---------------------------------------------------------------- sequential networks

def test_sequential_network_is_the_cnn(small_cnn):
    # sw.train.nn builds on sw.train.cnn: the same network gives the same logits and gradients.
    net, x, y = small_cnn
    layers = nn.from_cnn(net)
    assert np.array_equal(nn.forward(layers, x)[0], cnn.forward(net, x)[0])
    ours = nn.gradients(layers, x, y)
    theirs = cnn._gradients(net, x, y)
    for i, ref in zip(nn.weighted(layers), theirs["convs"] + theirs["fcs"]):
        assert np.allclose(ours[i]["W"], ref["W"], rtol=1e-12, atol=1e-15)
        assert np.allclose(ours[i]["b"], ref["b"], rtol=1e-12, atol=1e-15)


def test_batch_norm_gradients_match_finite_differences(small_cnn):
    net, x, y = small_cnn
    rng = np.random.default_rng(3)
    layers = nn.with_bn(nn.from_cnn(net))
    assert [l["kind"] for l in layers].count("bn") == 3  # not after the classifier
    for layer in layers:
        if layer["kind"] == "bn":
            layer["gamma"] = rng.normal(1, 0.2, layer["gamma"].shape)
            layer["beta"] = rng.normal(0, 0.2, layer["beta"].shape)
    grads = nn.gradients(copy.deepcopy(layers), x, y)
    checked = set()
    for i, g in grads.items():
        for key, gk in g.items():
            for _ in range(2):
                at = tuple(rng.integers(0, s) for s in gk.shape)
                moved = []
                for step in (1e-6, -1e-6):
                    trial = copy.deepcopy(layers)
                    trial[i][key][at] += step
                    moved.append(_loss(trial, x, y))
                assert gk[at] == pytest.approx((moved[0] - moved[1]) / 2e-6, rel=1e-4, abs=1e-8)
            checked.add((layers[i]["kind"], key))
    assert checked == {("conv", "W"), ("conv", "b"), ("dense", "W"), ("dense", "b"),
                       ("bn", "gamma"), ("bn", "beta")}


def test_distillation_gradient_matches_finite_differences():
    rng = np.random.default_rng(4)
    z, soft, y = rng.normal(size=(5, 4)), rng.normal(size=(5, 4)) * 3, rng.integers(0, 4, 5)
    t, alpha = 3.0, 0.7

    def log_softmax(a):
        a = a - a.max(axis=1, keepdims=True)
        return a - np.log(np.exp(a).sum(axis=1, keepdims=True))

    def loss(z):
        hard = -np.mean(log_softmax(z)[np.arange(5), y])
        q = np.exp(log_softmax(soft / t))
        kl = np.mean((q * (np.log(q) - log_softmax(z / t))).sum(axis=1))
        return (1 - alpha) * hard + alpha * t * t * kl

    g = nn.loss_gradient(z, y, soft, t, alpha)
    for at in [(0, 0), (2, 3), (4, 1)]:
        step = np.zeros_like(z)
        step[at] = 1e-6
        assert g[at] == pytest.approx((loss(z + step) - loss(z - step)) / 2e-6, rel=1e-5)
    # Without a teacher's weight the loss is plain cross-entropy.
    assert np.array_equal(nn.loss_gradient(z, y, soft, t, 0.0), nn.loss_gradient(z, y))


# ---------------------------------------------------------------- BN folding

def test_folding_changes_no_prediction(digits_cnn):
    layers, x, _, xt, _ = digits_cnn
    folded = fold(layers)
    assert [l["kind"] for l in folded].count("bn") == 0
    assert not any(np.allclose(l["mean"], 0) for l in layers if l["kind"] == "bn")
    for inputs in (x, xt):
        check = check_fold(layers, folded, inputs)
        assert check["changed_predictions"] == 0
        assert check["max_logit_difference"] < 1e-12


def test_fold_check_catches_a_wrong_fold(digits_cnn):
    # Folding without the running mean is wrong: the checker must see it.
    layers, _, _, xt, _ = digits_cnn
    wrong = copy.deepcopy(layers)
    for layer in wrong:
        if layer["kind"] == "bn":
            layer["mean"] = np.zeros_like(layer["mean"])
    check = check_fold(layers, fold(wrong), xt)
    assert check["changed_predictions"] > 0 and check["max_logit_difference"] > 1e-3


def test_fold_refuses_a_bn_layer_after_no_weighted_layer():
    layers = [{"kind": "relu"}, {"kind": "bn", "gamma": np.ones(2), "beta": np.zeros(2),
                                 "mean": np.zeros(2), "var": np.ones(2)}]
    with pytest.raises(ValueError, match="layer 1: batch normalization must follow a dense "
                                         "or conv layer"):
        fold(layers)


# ---------------------------------------------------------------- low rank

def test_rank_for_energy():
    assert rank_for_energy([9, 1], 0.9) == 1
    assert rank_for_energy([9, 1], 0.91) == 2
    assert rank_for_energy([4, 3, 2, 1], 1.0) == 4
    with pytest.raises(ValueError, match=r"the energy budget is a fraction in \(0, 1\], not 0"):
        rank_for_energy([1], 0)


def test_dense_factors_are_the_truncated_svd():
    rng = np.random.default_rng(5)
    layer = {"kind": "dense", "W": rng.normal(size=(12, 20)), "b": rng.normal(size=12)}
    first, second = factor_dense(layer, 12)  # full rank: exact
    assert np.allclose(second["W"] @ first["W"], layer["W"])
    assert np.array_equal(second["b"], layer["b"]) and not first["b"].any()
    first, second = factor_dense(layer, 5)
    assert first["W"].shape == (5, 20) and second["W"].shape == (12, 5)
    s = np.linalg.svd(layer["W"], compute_uv=False)
    # Eckart-Young: the error of the best rank-5 approximation is the dropped singular values.
    assert np.linalg.norm(layer["W"] - second["W"] @ first["W"]) == \
        pytest.approx(np.sqrt((s[5:] ** 2).sum()))


@pytest.mark.parametrize("method", ["responses", "svd"])
def test_full_rank_conv_factors_compute_the_same_layer(digits_cnn, method):
    layers, x, *_ = digits_cnn
    plain = fold(layers)
    i = nn.weighted(plain)[1]
    responses = conv_responses(plain, i, x[:50]) if method == "responses" else None
    d = plain[i]["W"].shape[0]
    first, second = factor_conv(plain[i], d, responses)
    assert first["W"].shape[0] == d and second["W"].shape == (d, d, 1, 1)
    inputs = nn.forward(plain[:i], x[:20])[0]
    expected = nn.forward([plain[i]], inputs)[0]
    assert np.allclose(nn.forward([first, second], inputs)[0], expected, atol=1e-10)


def test_response_subspace_reconstructs_responses_better_than_filter_svd(digits_cnn):
    # Zhang et al.'s point: at equal rank, the responses' own subspace loses less of them.
    layers, x, *_ = digits_cnn
    plain = fold(layers)
    i = nn.weighted(plain)[1]
    inputs = nn.forward(plain[:i], x[:200])[0]
    y = nn.forward([plain[i]], inputs)[0]
    errors = {}
    for method in ("responses", "svd"):
        responses = conv_responses(plain, i, x[:200]) if method == "responses" else None
        approx = nn.forward(list(factor_conv(plain[i], 4, responses)), inputs)[0]
        errors[method] = np.linalg.norm(approx - y)
    assert errors["responses"] < errors["svd"]


def test_lowrank_network_and_equal_size_pruning(digits_cnn):
    layers, x, *_ = digits_cnn
    plain = fold(layers)
    factored, rows = lowrank(plain, 0.6, x=x[:100])
    ws = nn.weighted(plain)
    assert [r["layer"] for r in rows] == ws
    assert rows[-1]["rank"] is None and not rows[-1]["factored"]  # the classifier stays
    done = [r for r in rows if r["factored"]]
    assert done, "an energy of 0.6 should factor some layer"
    for r in done:
        a, b = (factored[j] for j in r["at"])
        assert a["W"].shape[0] == r["rank"] and b["W"].shape[:2] == (r["shape"][0], r["rank"])
        assert a["W"].size + b["W"].size == r["weights"] < r["dense_weights"]
    masks = equal_size_masks(plain, rows)
    for r in done:
        # Equal bytes: 32-bit weights against 32-bit weights with 4-bit relative indices.
        assert masks[r["layer"]].sum() == r["weights"] * 32 // 36
    with pytest.raises(ValueError, match="the responses method needs training inputs x"):
        lowrank(plain, 0.6)


# ---------------------------------------------------------------- DSD and Deep Compression

def test_dsd_sparse_phase_keeps_its_zeros():
    data, x, y, xt = model_data("digits-mlp")
    layers = fresh("digits-mlp", seed=0)
    nn.train(layers, x, y, epochs=2)
    masks = sparsity_masks(layers, 0.5)
    assert all(abs(m.mean() - 0.5) < 0.01 for m in masks.values())
    report = dsd(layers, x, y, xt, data.y_test, sparsity=0.5, epochs=(1, 0))
    assert report["density"] == pytest.approx(0.5, abs=0.01)
    for i, m in masks.items():
        assert not layers[i]["W"][~m].any()
    assert report["redense"] == report["sparse"]  # no re-dense epochs: nothing changed
    with pytest.raises(ValueError, match=r"the sparsity is a fraction in \[0, 1\), not 1"):
        sparsity_masks(layers, 1)


def test_deep_compression_of_a_conv_network(digits_cnn):
    layers, x, y, xt, yt = digits_cnn
    net = fold(layers)
    result = deep_compress(net, x, y, xt, yt, qualities=[0.3, 0.8, 0.8, 0.5],
                           index_bits=[8, 8, 5, 5], rounds=1, retrain_epochs=1)
    for k, i in enumerate(nn.weighted(net)):
        idx, cb = result["indices"][k], result["codebooks"][k]
        bits = [8, 8, 5, 5][k]
        assert idx.max() < 1 << bits and cb[0] == 0
        assert np.array_equal(net[i]["W"], cb[idx])  # the fine-tuned codebook is the weights
        assert len(np.unique(net[i]["W"][idx != 0])) <= (1 << bits) - 1
        assert result["layers"][k]["index_bits"] == bits
    t = result["total"]
    assert t["dense_bytes"] == sum(r["dense_bytes"] for r in result["layers"])
    assert result["ratio"] == t["dense_bytes"] / t["huffman_bytes"]
    assert 0 < result["density"] < 1
    assert set(result["accuracy"]) == {"dense", "pruned", "shared_before_finetune", "shared"}


# ---------------------------------------------------------------- a low-rank layer on EIE

def test_low_rank_layer_runs_on_the_eie_engine_as_two_layers():
    """64 -> 32 factored to rank 8 is 64 -> 8 (no ReLU) -> 32, then -> 10: three
    EIE layers, bit-exact in Verilator (the engine of test_eie.py's "4pe" case)."""
    from sw.flows import eie as eie_sim
    from sw.golden.eie import infer
    from sw.compress.share import share_layer
    data, x, y, xt = model_data("digits-mlp")
    arch = {"convs": [], "hidden": [32], "classes": 10}
    layers = fresh("digits-mlp", seed=0, arch=arch)
    nn.train(layers, x, y, epochs=4)
    factored, rows = lowrank(layers, 0.6, method="svd")
    assert rows[0]["factored"] and rows[0]["rank"] < 32
    indices, codebooks = [], []
    for k, i in enumerate(nn.weighted(factored)):
        idx, cb = share_layer(factored[i]["W"], np.ones(factored[i]["W"].shape, bool), 4, seed=k)
        factored[i]["W"] = cb[idx]
        indices.append(idx)
        codebooks.append(cb)
    model = eie_model("lowrank-digits", factored, indices, codebooks, data.x_train[:300],
                      input_frac=data.input_frac, pes=4)
    assert [l.relu for l in model.layers] == [False, True, False]
    raw = data.x_test[:6]
    golden, acts = infer(model, raw, trace=True)
    assert (acts[1] < 0).any()  # the linear factor's negative outputs reach the next layer
    engine = dict(pes=4, queue_depth=4, nnz_depth=2048, ptr_depth=256, max_cols=96,
                  rows_per_pe=24, bias_depth=64, max_layers=3)
    out, report = eie_sim.run(model, raw, runtime_load=True, seed=3, in_stall=0.2,
                              out_stall=0.2, **engine)
    assert report["mismatches"] == 0
    assert np.array_equal(out, golden)
    # The fixed-point network still classifies like the float one it came from.
    agree = np.mean(infer(model, data.x_test).argmax(axis=1) == nn.predict(factored, xt))
    assert agree > 0.95
