"""cocotb benches of the generated Winograd tile in Verilator.

The spatial-domain tile is compared with direct correlation (sw.golden.conv), which
shares nothing with the transforms; the Winograd-domain tile (pruned, ReLU)
with the Winograd-domain layer in exact integers. pytest varies the
hardware, the seed (in the test id) the stimulus and the stalls.
"""

import numpy as np
import pytest

from hw.winograd import WinogradTile
from sw.flows import winograd as winograd_sim
from sw.golden.winograd import filter_transform, prune_winograd
from sw.spec.numerics import signed_range
from sw.spec.winograd import cook_toom

SPARSE_KEEP = [[1, 1, 0, 1], [1, 1, 1, 0], [0, 1, 1, 1], [1, 0, 1, 1]]
CONFIGS = {
    "f23": dict(m=2, r=3, max_channels=8),
    "f43": dict(m=4, r=3, max_channels=8),
    "f32-narrow-luts": dict(m=3, r=2, act_bits=4, weight_bits=5, max_channels=3,
                            dsp_multipliers=4),
    "f23-sparse-relu": dict(m=2, r=3, domain="winograd", relu=True, keep=SPARSE_KEEP,
                            weight_bits=10, max_channels=4),
}


def random_layer(rng, core, c, k, h, w, extremes=False):
    p, t = core.params, core.transforms
    a_lo, a_hi = signed_range(p["act_bits"])
    w_lo, w_hi = signed_range(p["weight_bits"])
    side = t.r if p["domain"] == "spatial" else t.n
    if extremes:
        x = rng.choice([a_lo, a_hi], (c, h, w))
        wt = rng.choice([w_lo, w_hi], (k, c, side, side))
    else:
        x = rng.integers(a_lo, a_hi + 1, (c, h, w))
        wt = rng.integers(w_lo, w_hi + 1, (k, c, side, side))
    if p["domain"] == "winograd":
        wt = wt * (np.array(p["keep"]) != 0)
    return x, wt


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_layers_with_stalls(config, seed):
    params = CONFIGS[config]
    core = WinogradTile(**params)
    rng = np.random.default_rng(seed)
    r = core.transforms.r
    # Seed 2: every channel the accumulator was sized for, extreme values only.
    c = core.params["max_channels"] if seed == 2 else int(rng.integers(1, 4))
    h, w = r + int(rng.integers(0, 7)), r + int(rng.integers(0, 7))
    x, wt = random_layer(rng, core, c, 2, h, w, extremes=seed == 2)
    y, report = winograd_sim.run(params, x, wt, seed=seed, in_stall=0.3, out_stall=0.4)
    assert report["mismatches"] == 0
    assert y.shape == (2, h - r + 1, w - r + 1)


def test_pruned_transformed_filters_with_relu():
    # Realistic sparse weights: spatial filters transformed, then pruned to
    # the mask's positions and by magnitude, as Liu et al. train them.
    params = CONFIGS["f23-sparse-relu"]
    t = cook_toom(2, 3)
    rng = np.random.default_rng(7)
    u = prune_winograd(filter_transform(rng.integers(-40, 40, (3, 4, 3, 3)), t), 0.5)
    u = u * np.array(SPARSE_KEEP)
    x = rng.integers(-128, 128, (4, 10, 9))
    _, report = winograd_sim.run(params, x, u, seed=7, in_stall=0.2, out_stall=0.2)
    assert report["mismatches"] == 0


def test_full_throughput_without_stalls():
    params = CONFIGS["f23"]
    rng = np.random.default_rng(5)
    x, w = random_layer(rng, WinogradTile(**params), 2, 3, 8, 8)
    _, report = winograd_sim.run(params, x, w)
    assert report["mismatches"] == 0
    # One beat per cycle: beats, the pipeline's fill, the reset cycles.
    assert report["cycles"] <= report["beats"] + report["latency_cycles"] + 2


def test_checker_catches_a_wrong_answer(monkeypatch):
    real = winograd_sim.correlate2d
    monkeypatch.setattr(winograd_sim, "correlate2d", lambda *a: real(*a) + 1)
    params = CONFIGS["f23"]
    x, w = random_layer(np.random.default_rng(6), WinogradTile(**params), 1, 1, 4, 5)
    _, report = winograd_sim.run(params, x, w)
    assert report["mismatches"] == report["outputs"] == 6


def test_multiplier_counts():
    assert WinogradTile(m=2, r=3).multipliers == 16
    assert WinogradTile(m=4, r=3).multipliers == 36
    assert WinogradTile(m=2, r=3, domain="winograd", keep=SPARSE_KEEP).multipliers == 12


BAD = [
    (dict(m=7), r"output tile size m must be an integer from 2 to 6, not 7 \(option --m\)"),
    (dict(r=1), r"filter size r must be an integer from 2 to 7, not 1 \(option --r\)"),
    (dict(m=4, r=6), r"F\(4x4, 6x6\) needs 9 interpolation points"),
    (dict(domain="frequency"), "domain must be 'spatial' or 'winograd'"),
    (dict(relu=True), "need --domain winograd"),
    (dict(keep=SPARSE_KEEP), "need --domain winograd"),
    (dict(domain="winograd", keep=[[0] * 4] * 4), "keeps nothing"),
    (dict(domain="winograd", keep=[[1] * 3] * 3), "mask must be 4x4"),
    (dict(act_bits=1), "activation width must be an integer from 2 to 32"),
    (dict(act_bits=32, weight_bits=32, m=6), "outputs would need .* bits, over the limit"),
    (dict(max_channels=0), "maximum channel count must be an integer from 1"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_parameters(case):
    params, message = BAD[case]
    with pytest.raises(ValueError, match=message):
        WinogradTile(**params)


LAYER_ERRORS = [
    ((1, 2, 2), (1, 1, 3, 3), r"the image \(2x2\) is smaller than the 3x3 filter"),
    ((2, 5, 5), (1, 2, 5, 5), r"weights must have shape \(K, C, 3, 3\)"),
    ((9, 5, 5), (1, 9, 3, 3), "9 input channels, over the tile's maximum 8: raise --max-channels"),
]


@pytest.mark.parametrize("case", range(len(LAYER_ERRORS)))
def test_bad_layers(case):
    xs, ws, message = LAYER_ERRORS[case]
    core = WinogradTile(**CONFIGS["f23"])
    with pytest.raises(ValueError, match=message):
        winograd_sim.check_layer(core, np.ones(xs, dtype=np.int64), np.ones(ws, dtype=np.int64))


def test_weights_at_pruned_positions_are_refused():
    core = WinogradTile(**CONFIGS["f23-sparse-relu"])
    with pytest.raises(ValueError, match="non-zero at positions the tile has no multiplier"):
        winograd_sim.check_layer(core, np.ones((1, 5, 5), dtype=np.int64),
                                 np.ones((1, 1, 4, 4), dtype=np.int64))
