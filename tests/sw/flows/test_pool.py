"""cocotb benches of the generated pooling unit in Verilator, against
pool2d(tail(...)) of sw.golden.pool.

Two hardware configurations, so two Verilator builds: a 3 x 3 window and a
window of one position (a conv layer without pooling). Every layer below
changes only what travels in the beats (shift, ReLU, mode, kernel, stride,
padding), so each configuration's build serves all of its layers. The seed
is in the test id.
"""

import numpy as np
import pytest

from sw.flows import pool
from sw.flows.stream import latency_job, run_beats

#: 3 x 3 windows; narrow activations, so wide accumulators saturate.
WINDOW9 = dict(window=9, acc_bits=18, bias_bits=12, act_bits=6, max_shift=10)
#: A conv layer with no pooling: bias, requantize and ReLU alone.
WINDOW1 = dict(window=1, acc_bits=18, bias_bits=12, act_bits=6, max_shift=10)

LAYERS = {
    "max-2x2-s2": dict(mode="max", kernel=(2, 2), stride=(2, 2), relu=False),
    "max-3x3-s2-padded-relu": dict(mode="max", kernel=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1),
                                   relu=True),
    "max-3x3-s3-padded": dict(mode="max", kernel=(3, 3), stride=(3, 3), pads=(0, 0, 2, 2),
                              relu=False),
    "avg-3x3-s3-real-count": dict(mode="avg", kernel=(3, 3), stride=(3, 3), pads=(1, 0, 1, 2),
                                  relu=False, count_pads=False),
    "avg-3x3-s1-count-pads-relu": dict(mode="avg", kernel=(3, 3), stride=(1, 1),
                                       pads=(1, 1, 1, 1), relu=True, count_pads=True),
    "avg-2x3-s(1,2)-count-pads": dict(mode="avg", kernel=(2, 3), stride=(1, 2),
                                      pads=(0, 1, 1, 1), relu=False, count_pads=True),
}


def random_accumulators(rng, shape, spread):
    """Raw correlations and biases: ``spread`` bits of range, far beyond the activations."""
    return (rng.integers(-(1 << spread), 1 << spread, size=shape),
            rng.integers(-(1 << 11), 1 << 11, size=shape[1]))


@pytest.mark.parametrize("layer", LAYERS)
@pytest.mark.parametrize("seed", [1])
def test_layers_with_stalls(layer, seed):
    rng = np.random.default_rng(seed + len(layer))
    acc, bias = random_accumulators(rng, (2, 3, 7, 8), 13)
    y, report = pool.run(WINDOW9, acc, bias, shift=7, seed=seed, in_stall=0.3, out_stall=0.4,
                         **LAYERS[layer])
    assert report["mismatches"] == 0
    assert report["outputs"] == y.size == report["beats"]
    assert y.shape[:2] == (2, 3)


@pytest.mark.parametrize("seed", [2])
def test_saturating_accumulators_both_ways(seed):
    # Accumulators at their limits, the bias at its own: far outside 6-bit
    # activations after the shift. Channel 0 is all at the bottom, channel 1
    # all at the top, the others mixed with small values.
    rng = np.random.default_rng(seed)
    acc = rng.choice([-(1 << 17), (1 << 17) - 1, 0, -1], size=(1, 4, 6, 6))
    acc[:, 0], acc[:, 1] = -(1 << 17), (1 << 17) - 1
    bias = np.array([-(1 << 11), (1 << 11) - 1, 0, 5])
    for mode in ("max", "avg"):
        y, report = pool.run(WINDOW9, acc, bias, shift=3, relu=False, mode=mode, kernel=(3, 3),
                             stride=(3, 3), seed=seed, in_stall=0.2, out_stall=0.2)
        assert report["mismatches"] == 0
        assert {-32, 31} <= set(y.reshape(-1).tolist())


def test_full_throughput_and_measured_latency():
    # No stalls: one output a cycle after the pipeline fills; the bench
    # checks the measured latency against the unit's.
    rng = np.random.default_rng(4)
    acc, bias = random_accumulators(rng, (1, 2, 9, 9), 12)
    y, report = pool.run(WINDOW9, acc, bias, shift=9, relu=True, mode="avg", kernel=(3, 3),
                         stride=(3, 3))
    core = pool.build_core(WINDOW9)
    assert report["mismatches"] == 0
    assert latency_job(core) == {"cycles": core.latency, "last_bit": None}
    assert report["latency_cycles"] == core.latency == 10
    assert report["cycles"] <= report["beats"] + core.latency + 2


def test_layers_back_to_back_in_one_stream():
    # Shift, ReLU, mode and window travel in each beat: two different layers'
    # beats in one stream, each output against its own layer's golden model.
    rng = np.random.default_rng(5)
    core = pool.build_core(WINDOW9)
    layers = [dict(shift=3, relu=True, mode="max", kernel=(2, 2), stride=(2, 2),
                   pads=(0, 0, 1, 1), count_pads=False),
              dict(shift=8, relu=False, mode="avg", kernel=(3, 3), stride=(2, 2),
                   pads=(1, 1, 1, 1), count_pads=True)]
    beats, expect = [], []
    for layer in layers:
        acc, bias = random_accumulators(rng, (1, 2, 5, 5), 14)
        beats += pool.fit_beats(pool.windows(acc, bias, **layer), core.window)
        expect += pool.golden(acc, bias, act_bits=core.act_bits, **layer).reshape(-1).tolist()
    results, _ = run_beats(core, pool.TOP, beats, len(beats), seed=5, in_stall=0.3,
                           out_stall=0.3)
    assert results == expect


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("shift", [0, 5, 10])
def test_window_of_one_is_the_conv_tail(relu, shift):
    rng = np.random.default_rng(shift + relu)
    acc, bias = random_accumulators(rng, (2, 3, 4, 5), 16)
    y, report = pool.run(WINDOW1, acc, bias, shift=shift, relu=relu, seed=shift,
                         in_stall=0.3, out_stall=0.3)
    assert report["mismatches"] == 0
    assert y.shape == acc.shape


@pytest.mark.parametrize("kwargs,message", [
    (dict(kernel=(4, 3)), "the 4x3 pooling window has 12 positions, over the unit's 9: "
                          "raise --window"),
    (dict(shift=11), "requantize shift must be an integer from 0 to the unit's 10, not 11: "
                     "raise --max-shift"),
    (dict(acc=np.full((1, 1, 3, 3), 1 << 17)), r"accumulators holds 131072, outside the 18-bit "
                                               r"signed range \[-131072, 131071\]"),
    (dict(mode="min"), "pooling mode must be 'max' or 'avg', not 'min'"),
])
def test_run_refuses(kwargs, message):
    args = dict(acc=np.zeros((1, 1, 5, 5), dtype=np.int64), bias=np.zeros(1, dtype=np.int64),
                shift=0, relu=False)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        pool.run(WINDOW9, args.pop("acc"), args.pop("bias"), **args)


def test_windows_mark_padding():
    # A 2 x 2 image, 2 x 2 windows padded one row and column at the top left:
    # the first window holds one real position, the last four.
    acc = np.array([[[[1, 2], [3, 4]]]])
    beats = pool.windows(acc, np.array([7]), shift=1, relu=True, mode="avg", kernel=(2, 2),
                         stride=(1, 1), pads=(1, 1, 0, 0), count_pads=False)
    assert beats[0] == {"acc": [0, 0, 0, 1], "mask": 0b1000, "count": 1, "bias": 7, "shift": 1,
                        "avg": 1, "relu": 1}
    assert [b["mask"] for b in beats] == [0b1000, 0b1100, 0b1010, 0b1111]
    assert beats[3]["acc"] == [1, 2, 3, 4]
    assert pool.fit_beats(beats[:1], 6)[0]["acc"] == [0, 0, 0, 1, 0, 0]
    with pytest.raises(ValueError, match="^accumulators must hold integers, not float64$"):
        pool.windows(acc * 1.0, np.array([7]), shift=1, relu=True, mode="avg", kernel=(2, 2),
                     stride=(1, 1), pads=(0, 0, 0, 0), count_pads=False)
