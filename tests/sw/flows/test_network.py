"""Whole networks on generated cores in Verilator, layer after layer, against the
golden model: convolutions on the Winograd tile or the MAC array, their tails on
the pooling unit, fully connected layers on the EIE engine."""

import numpy as np
import pytest

from sw.compress.imported import compress_network
from sw.flows import network
from sw.golden.network import infer


def random_cnn(seed=0):
    """8x8 -> conv 3x3 SAME -> max 3x3/3 (padded) -> conv 3x3 stride 2 -> padded average
    (padding counted) -> flatten -> dense 16 -> ReLU -> dense 10."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.normal(0, np.sqrt(2 / np.prod(shape[1:])), shape)
    return [{"kind": "conv", "W": w(4, 1, 3, 3), "b": rng.normal(0, 0.1, 4),
             "pads": (1, 1, 1, 1)}, {"kind": "relu"},
            {"kind": "pool", "mode": "max", "kernel": (3, 3), "stride": (3, 3),
             "pads": (0, 0, 1, 1)},
            {"kind": "conv", "W": w(6, 4, 3, 3), "b": rng.normal(0, 0.1, 6), "stride": (2, 2),
             "pads": (1, 1, 1, 1)}, {"kind": "relu"},
            {"kind": "pool", "mode": "avg", "kernel": (2, 2), "stride": (1, 1),
             "pads": (1, 1, 0, 0), "count_pads": True},
            {"kind": "flatten"},
            {"kind": "dense", "W": w(16, 24), "b": rng.normal(0, 0.1, 16)}, {"kind": "relu"},
            {"kind": "dense", "W": w(10, 16), "b": rng.normal(0, 0.1, 10)}]


@pytest.fixture(scope="module")
def cnn_model():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 1, (60, 1, 8, 8))
    model, _ = compress_network(random_cnn(), (1, 8, 8), x, qualities=[0.5] * 4, pes=2,
                                act_bits=12, codebook_bits=10, bias_bits=24)
    return model, rng.normal(0, 1, (3, 1, 8, 8))


@pytest.mark.parametrize("conv_core", network.CONV_CORES)
def test_cnn_runs_whole_and_exact(cnn_model, conv_core):
    model, x = cnn_model
    y, report = network.run(model, x, conv_core=conv_core, out_stall=0.2, seed=3)
    assert report["mismatches"] == 0
    assert np.array_equal(y, infer(model, x))
    assert [l["core"] for l in report["layers"]] == [conv_core, conv_core, "eie"]
    assert all(l["cycles"] > 0 for l in report["layers"])


def test_stages_and_refusals(cnn_model):
    model, _ = cnn_model
    assert [(kind, first) for kind, first, _ in network.stages(model)] == \
        [("conv", 0), ("conv", 2), ("flatten", 4), ("dense", 5)]
    with pytest.raises(ValueError, match="conv core must be winograd or mac"):
        network.check(model, "fft")
    with pytest.raises(ValueError, match="--winograd-m must be a tile size"):
        network.check(model, "winograd", 0)


def test_a_7x7_convolution_runs_on_the_largest_winograd_tile():
    """r = 7 needs F(2, 7) (n = 8, the tile's limit): asked for m = 4, the flow takes 2."""
    rng = np.random.default_rng(4)
    layers = [{"kind": "conv", "W": rng.normal(0, 0.1, (3, 2, 7, 7)), "b": rng.normal(0, 0.1, 3),
               "pads": (3, 3, 3, 3)}, {"kind": "relu"},
              {"kind": "pool", "mode": "avg", "kernel": (3, 3), "stride": (3, 3)},
              {"kind": "flatten"}, {"kind": "dense", "W": rng.normal(0, 0.3, (4, 27)),
                                    "b": np.zeros(4)}]
    model, _ = compress_network(layers, (2, 9, 9), rng.normal(0, 1, (30, 2, 9, 9)),
                                qualities=[0.3, 0.3], pes=1, act_bits=10, codebook_bits=8,
                                bias_bits=20)
    assert network.conv_params(model, "winograd", model.layers[0], winograd_m=4)["m"] == 2
    x = rng.normal(0, 1, (2, 2, 9, 9))
    y, report = network.run(model, x, winograd_m=4, in_stall=0.3, seed=5)
    assert report["mismatches"] == 0 and np.array_equal(y, infer(model, x))
