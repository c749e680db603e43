"""Binary and ternary MLPs: quantizers, BN folding, and whole networks in Verilator.

The networks are small (784-64-10, three epochs on the 4,000 MNIST training
digits) so the test stays cheap; ``eiegen bench lowbit`` runs LeNet-300-100
sized ones on more digits.
"""

import numpy as np
import pytest

from sw.flows import lowbit_networks as lowbit_sim
from sw.golden.lowbit import binary_infer, ternary_infer
from sw.train.datasets import load
from sw.train.lowbit import forward, init, quantize, start_from, to_binary_net, train_all

DIGITS = 30


@pytest.fixture(scope="module")
def trained():
    nets, table = train_all(sizes=(784, 64, 10), epochs=3, lowbit_epochs=3, augment=False,
                            kinds=["xnor", "ttq"])
    return nets, {row["name"]: row["accuracy"] for row in table}, load("mnist")


def test_quantizers_follow_their_papers():
    layer = init([6, 4], 0)[0]
    w = layer["W"]
    bwn, _ = quantize("bwn", layer)
    assert np.allclose(np.abs(bwn), np.abs(w).mean(axis=1, keepdims=True))
    assert np.array_equal(np.sign(bwn), np.where(w >= 0, 1, -1))
    twn, _ = quantize("twn", layer)
    delta = 0.7 * np.abs(w).mean()
    assert np.array_equal(twn != 0, np.abs(w) > delta)
    assert np.allclose(np.abs(twn[twn != 0]), np.abs(w[np.abs(w) > delta]).mean())
    layer.update(wp=0.3, wn=0.2)
    ttq, _ = quantize("ttq", layer)
    cut = 0.05 * np.abs(w).max()
    assert np.array_equal(ttq, np.where(w > cut, 0.3, np.where(w < -cut, -0.2, 0)))


def test_training_beats_chance_and_folding_keeps_decisions(trained):
    nets, acc, data = trained
    assert acc["float"] > 0.8 and acc["XNOR-Net, no beta (BNN)"] > 0.75 and acc["TTQ"] > 0.8
    # BN folded into integer thresholds: the hidden layer's bits are the
    # float network's signs, every one of them.
    logits, caches = forward(nets["xnor"], data.scaled(data.x_test))
    y, acts = binary_infer(nets["xnor-int"], data.x_test, trace=True)
    assert np.array_equal(acts[1], (caches[0]["h"] >= 0).astype(int))
    # The last layer's float bias only breaks ties between outputs (Y has
    # the parity of N); rounded to an integer it breaks fewer.
    assert np.mean(logits.argmax(axis=1) == y.argmax(axis=1)) > 0.95
    with pytest.raises(ValueError, match="only an xnor network becomes a binary network"):
        to_binary_net(start_from(nets["float"], "twn"))


def test_binary_mlp_runs_whole_in_verilator(trained):
    nets, acc, data = trained
    net = nets["xnor-int"]
    y, report = lowbit_sim.run_binary(net, data.x_test[:DIGITS], data.y_test[:DIGITS],
                                      lanes=4, width=32, seed=1, in_stall=0.2, out_stall=0.2)
    assert report["mismatches"] == 0
    assert report["accuracy"] == report["golden_accuracy"] > 0.7
    assert [l["mismatches"] for l in report["layers"]] == [0, 0]


def test_ternary_mlp_runs_whole_in_verilator(trained):
    nets, acc, data = trained
    net = nets["ttq-int"]
    assert {int(v) for w in net.weights for v in np.unique(w)} <= {-1, 0, 1}
    y, report = lowbit_sim.run_ternary(net, data.x_test[:DIGITS], data.y_test[:DIGITS],
                                       lanes=4, width=16, seed=2, in_stall=0.2, out_stall=0.2)
    assert report["mismatches"] == 0
    assert report["accuracy"] == report["golden_accuracy"] > 0.7


def test_network_checker_catches_a_wrong_network(trained, monkeypatch):
    nets, _, data = trained
    real = lowbit_sim.ternary_infer
    monkeypatch.setattr(lowbit_sim, "ternary_infer", lambda *a, **k: real(*a, **k) + 1)
    _, report = lowbit_sim.run_ternary(nets["ttq-int"], data.x_test[:3], lanes=4, width=16)
    assert report["mismatches"] == report["outputs"] == 30
    assert np.array_equal(real(nets["ttq-int"], data.x_test[:3]),
                          ternary_infer(nets["ttq-int"], data.x_test[:3]))
