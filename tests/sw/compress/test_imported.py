"""Compression of a user's float network on the user's data (sw.compress.imported)."""

import numpy as np
import pytest

from sw.compress.imported import compress_network
from sw.formats import model as model_file
from sw.golden.network import infer
from sw.train import nn
from sw.train.datasets import load


@pytest.fixture(scope="module")
def digits():
    d = load("digits")
    return (d.scaled(d.x_train).reshape(-1, 1, 8, 8), d.y_train,
            d.scaled(d.x_test).reshape(-1, 1, 8, 8), d.y_test)


def cnn_layers(seed=0):
    """A small CNN of the imported kinds: SAME padding, a 3x3 stride-3 max pool, a
    stride-2 convolution, a padded average pool."""
    rng = np.random.default_rng(seed)

    def conv(k, c, r, **extra):
        return {"kind": "conv", "W": rng.normal(0, np.sqrt(2 / (c * r * r)), (k, c, r, r)),
                "b": np.zeros(k), **extra}
    return [conv(6, 1, 3, pads=(1, 1, 1, 1)), {"kind": "relu"},
            {"kind": "pool", "mode": "max", "kernel": (3, 3), "stride": (3, 3),
             "pads": (0, 0, 1, 1)},
            conv(12, 6, 2, stride=(2, 2), pads=(0, 0, 1, 1)), {"kind": "relu"},
            {"kind": "pool", "mode": "avg", "kernel": (2, 2), "stride": (1, 1),
             "pads": (1, 1, 0, 0)},
            {"kind": "flatten"},
            {"kind": "dense", "W": rng.normal(0, 0.3, (10, 12 * 2 * 2)), "b": np.zeros(10)}]


@pytest.fixture(scope="module")
def trained_cnn(digits):
    x, y, xt, yt = digits
    layers = cnn_layers()
    nn.train(layers, x, y, epochs=6, lr=0.05, seed=0)
    return layers


def test_cnn_with_labels_keeps_its_accuracy(digits, trained_cnn, tmp_path):
    x, y, xt, yt = digits
    model, report = compress_network(trained_cnn, (1, 8, 8), x, labels=y, eval_x=xt,
                                     eval_labels=yt, name="digits-cnn")
    acc = report["accuracy"]
    assert set(acc) >= {"float", "pruned", "shared", "fixed_point"}
    assert acc["float"] > 0.8
    assert acc["fixed_point"] >= acc["float"] - 0.01
    assert report["retrained"] and report["finetuned"] and report["compression_ratio"] > 1
    assert report["accuracy_against"] == "labels"
    assert [l.kind for l in model.layers] == ["conv", "pool", "conv", "pool", "flatten",
                                              "dense"]
    assert [l.relu for l in model.layers if l.kind != "pool" and l.kind != "flatten"] == \
        [True, True, False]
    model_file.save(model, tmp_path / "m.npz")
    again = model_file.load(tmp_path / "m.npz")
    assert again.input_kind == "float" and again.input_shape == (1, 8, 8)
    assert np.array_equal(infer(again, xt[:50]), infer(model, xt[:50]))
    predictions = infer(again, xt).reshape(len(xt), -1).argmax(axis=1)
    assert np.mean(predictions == yt) == acc["fixed_point"]


def test_without_labels_no_retraining_and_a_held_out_split(digits, trained_cnn):
    x, _, _, _ = digits
    messages = []
    model, report = compress_network(trained_cnn, (1, 8, 8), x, progress=messages.append)
    assert not report["retrained"] and not report["finetuned"]
    assert report["accuracy_against"] == "the float network's predictions"
    assert "20% of the data held out" in report["accuracy_measured_on"]
    assert report["calibration_samples"] == len(x) - round(0.2 * len(x))
    assert any("no retraining: no labels" in m for m in messages)
    # The quality search keeps the float network's predictions on the calibration data.
    assert report["accuracy"]["pruned"] >= 0.97


def test_mlp_flattened_input(digits):
    x, y, xt, yt = digits
    rng = np.random.default_rng(1)
    layers = [{"kind": "flatten"},
              {"kind": "dense", "W": rng.normal(0, 0.2, (32, 64)), "b": np.zeros(32)},
              {"kind": "relu"}, {"kind": "dense", "W": rng.normal(0, 0.2, (10, 32)),
                                 "b": np.zeros(10)}]
    nn.train(layers, x, y, epochs=4, lr=0.05, seed=0)
    model, report = compress_network(layers, (1, 8, 8), x, labels=y, eval_x=xt,
                                     eval_labels=yt, qualities=[0.5, 0.3])
    assert model.is_mlp and model.input_shape == (1, 8, 8)
    assert report["qualities"] == [0.5, 0.3]
    # An MLP's inputs may also come flattened.
    assert np.array_equal(infer(model, xt[:9]), infer(model, xt[:9].reshape(9, 64)))


@pytest.mark.parametrize("edit, kwargs, message", [
    (None, dict(x=np.zeros((20, 1, 8, 7))), r"data must have shape \(N, 1, 8, 8\)"),
    (None, dict(labels=np.zeros(5, dtype=int)), r"labels must have shape \(100,\)"),
    (None, dict(labels=np.full(100, 10)), "class 10, outside the model's 10 outputs"),
    (None, dict(eval_labels=np.zeros(3, dtype=int)), "evaluation labels need"),
    (None, dict(x=np.full((20, 1, 8, 8), np.nan)), "NaN or infinite"),
    (None, dict(qualities=[1.0]), "1 pruning qualities given for 3 weighted layers"),
    (None, dict(conv_index_bits=9), "convolution index width must be an integer from 1 to 8"),
    (None, dict(act_bits=2), "activation width must be an integer from 4 to 24"),
    (lambda l: l.insert(7, {"kind": "pool"}), {}, "pooling must follow a convolution"),
    (lambda l: l.__setitem__(4, {"kind": "bn"}), {}, "cannot be compressed"),
])
def test_refusals(digits, edit, kwargs, message):
    layers = cnn_layers()
    if edit:
        edit(layers)
    args = dict(x=digits[0][:100])
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        compress_network(layers, (1, 8, 8), **args)
