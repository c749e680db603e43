"""The LeNet-5-like CNN: training is right, and its conv layers run on the tile
in Verilator bit-exact with the golden model."""

import numpy as np
import pytest

from sw.flows import winograd as winograd_sim
from sw.train import cnn
from sw.train.datasets import load


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(0)
    arch = {"convs": [(2, 3), (3, 2)], "hidden": [5], "classes": 3}
    net = cnn.init((2, 9, 9), arch, seed=1)
    x = rng.normal(size=(4, 2, 9, 9))
    y = rng.integers(0, 3, 4)
    grads = cnn._gradients(net, x, y)

    def loss():
        logits = cnn.forward(net, x)[0]
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        return -np.mean(np.log(p[np.arange(4), y]))
    for group in ("convs", "fcs"):
        for layer, grad in zip(net[group], grads[group]):
            for key in ("W", "b"):
                flat, g = layer[key].reshape(-1), grad[key].reshape(-1)
                for idx in rng.choice(len(flat), min(4, len(flat)), replace=False):
                    old = flat[idx]
                    flat[idx] = old + 1e-6
                    up = loss()
                    flat[idx] = old - 1e-6
                    down = loss()
                    flat[idx] = old
                    assert abs((up - down) / 2e-6 - g[idx]) < 1e-5


@pytest.fixture(scope="module")
def trained():
    return cnn.lenet5_mnist(epochs=1)


def test_fixed_point_keeps_the_accuracy(trained):
    _, _, report = trained
    assert report["float"] > 0.85
    assert abs(report["fixed_point"] - report["float"]) <= 0.01


def test_conv_layers_on_the_tile_are_bit_exact(trained):
    _, q, _ = trained
    data = load("mnist")
    x = cnn.fixed_inputs(data.x_test[:3])
    logits, report = winograd_sim.run_cnn(dict(m=2, r=3, max_channels=8), q, x,
                                          seed=1, in_stall=0.1, out_stall=0.1)
    assert report["mismatches"] == 0
    assert [r["mismatches"] for r in report["layers"]] == [0, 0]
    assert np.array_equal(logits, cnn.infer_fixed(q, x))
    assert report["multiplies"] < report["direct_multiplies"]
