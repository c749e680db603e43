"""The dense engine (MAC array, whole networks) in Verilator against the golden model."""

import numpy as np
import pytest

from hw.dense_config import DenseConfig
from sw.flows import dense as dense_sim
from sw.flows.dense_image import build_dense_image, dense_config_for
from sw.golden.eie import infer

from sw.formats.synthetic import random_inputs, random_model

CASES = {
    # name: (lanes, width, layer sizes, extra model options)
    "2x4": (2, 4, [37, 50, 23, 9], {}),
    "2x4-saturating": (2, 4, [30, 17, 5], {"saturate": True}),
    "1x1": (1, 1, [9, 7, 3], {}),
    "4x8-odd": (4, 8, [21, 13, 6], {}),
}


@pytest.mark.parametrize("case", CASES)
def test_random_networks_bit_exact_with_stalls(case):
    lanes, width, sizes, extra = CASES[case]
    model = random_model(3, sizes, 2, **extra)
    x = random_inputs(3, 3, sizes[0])
    y, report = dense_sim.run(model, x, lanes=lanes, width=width, runtime_load=True, seed=3,
                              in_stall=0.3, out_stall=0.4)
    assert report["mismatches"] == 0
    assert y.shape == (3, sizes[-1])
    # One beat a cycle: each layer's cycles are its beats plus a fixed few.
    beats = [-(-r // lanes) * -(-c // width) for c, r in zip(sizes, sizes[1:])]
    assert all(b <= c / 3 <= b + 12 for b, c in zip(beats, report["layer_cycles"]))


def test_saturating_case_saturates():
    model = random_model(3, [30, 17, 5], 2, saturate=True)
    y = infer(model, random_inputs(3, 3, 30))
    assert (np.abs(y) == (1 << 15) - 1).any() or (y == -(1 << 15)).any()


def test_baked_model_runs_without_a_load():
    model = random_model(4, [20, 11, 4], 2)
    x = random_inputs(4, 2, 20)
    y, report = dense_sim.run(model, x, lanes=2, width=4, seed=4)
    assert report["mismatches"] == 0 and not report["runtime_load"]


@pytest.mark.parametrize("options, message", [
    (dict(lanes=3, width=4), "width 4 must be a multiple of the lane count 3"),
    (dict(lanes=0), "lane count must be an integer from 1 to 64"),
    (dict(act_bits=30), "activation width must be an integer from 2 to 24"),
])
def test_parameters_are_validated(options, message):
    with pytest.raises(ValueError, match=message):
        DenseConfig(**options).validate()


def test_image_rejects_what_does_not_fit():
    model = random_model(5, [37, 50, 9], 2)
    # 2 x 4 beats: 25 groups x 10 chunks, then 5 x 13.
    with pytest.raises(ValueError, match="the weights take 315 words, over the engine's 10: "
                                         "raise --weight-words"):
        build_dense_image(model, dense_config_for(model, weight_words=10))
    with pytest.raises(ValueError, match="2 layers, over the engine's 1: raise --max-layers"):
        build_dense_image(model, dense_config_for(model, max_layers=1))
    with pytest.raises(ValueError, match="weights are 16 bits, wider than the engine's 8"):
        build_dense_image(model, dense_config_for(model, weight_bits=8))


def test_checker_catches_a_wrong_answer(monkeypatch):
    # The comparison must be able to fail: against a golden model that is off
    # by one, every output is a mismatch.
    real = dense_sim.infer
    monkeypatch.setattr(dense_sim, "infer", lambda *a, **k: real(*a, **k) + 1)
    lanes, width, sizes, extra = CASES["1x1"]
    model = random_model(3, sizes, 2, **extra)
    y, report = dense_sim.run(model, random_inputs(3, 2, sizes[0]), lanes=lanes, width=width,
                              runtime_load=True)
    assert report["mismatches"] == report["outputs"] == 2 * sizes[-1]
