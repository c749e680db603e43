"""cocotb benches of the generated XNOR and ternary arrays in Verilator, against sw.golden.lowbit.

pytest varies the hardware (one generated Verilog and one cached Verilator
build per configuration); each configuration then sees random and extreme
stimuli under random stalls, the seed in the test id.
"""

import numpy as np
import pytest

from hw.adder_tree import AdderTree
from sw.flows import ternary
from sw.flows import xnor
from sw.spec.numerics import signed_range

from sw.flows.testbench.amaranth import run_stream

XNOR_CONFIGS = {
    "2x8-raw-acc9": dict(lanes=2, width=8, max_inputs=40, acc_bits=9),
    "4x32-raw": dict(lanes=4, width=32),
    "3x7-sign-comb": dict(lanes=3, width=7, sign=True, tree_regs_every=0),
    "2x64-sign-regs2": dict(lanes=2, width=64, sign=True, tree_regs_every=2),
}

TERNARY_CONFIGS = {
    "raw-4x4": dict(lanes=4, width=4, scaled=False),
    "scaled-3x5-relu": dict(lanes=3, width=5, relu=True),
    "scaled-limit-comb": dict(lanes=2, width=4, max_inputs=37, shift=0, out_bits=21,
                              tree_regs_every=0),
    "scaled-luts-16bit": dict(lanes=2, width=4, act_bits=16, scale_bits=12, dsp_multipliers=1,
                              max_inputs=256, shift=11, out_bits=16),
}


def xnor_layer_data(rng, m, n, batch, extremes):
    if extremes:
        # Whole rows of agreement and of disagreement: Y = +N and -N.
        w = rng.choice([0, 1], (m, 1)) * np.ones((1, n), dtype=np.int64)
        x = np.vstack([w[0], 1 - w[0], rng.integers(0, 2, n)])[:batch]
        return w, x
    return rng.integers(0, 2, (m, n)), rng.integers(0, 2, (batch, n))


@pytest.mark.parametrize("config", XNOR_CONFIGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_xnor_random_layers_with_stalls(config, seed):
    params = XNOR_CONFIGS[config]
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 12)), int(rng.integers(1, params.get("max_inputs", 150)))
    w, x = xnor_layer_data(rng, m, n, 3, extremes=seed == 2)
    thresholds = None
    if params.get("sign"):
        # Thresholds inside, at and beyond the reachable range [-N, N].
        reachable = int(rng.integers(-n, n + 1))
        thresholds = rng.choice([-n - 3, -n, 0, 1, n, n + 1, n + 5, reachable], m)
    y, report = xnor.run(params, w, x, thresholds=thresholds, seed=seed, in_stall=0.3,
                         out_stall=0.4)
    assert report["mismatches"] == 0
    assert y.shape == (3, m)


def test_xnor_bias_at_the_accumulator_limit():
    # A 9-bit accumulator holds [-256, 255]: bias + N = 255 and bias - N = -256.
    params = XNOR_CONFIGS["2x8-raw-acc9"]
    n = 40
    w = np.array([[1] * n, [0] * n, [1, 0] * (n // 2)])
    x = np.array([[1] * n, [0] * n, [0, 1] * (n // 2)])
    bias = np.array([255 - n, -256 + n, 0])
    _, report = xnor.run(params, w, x, bias, seed=3, in_stall=0.2, out_stall=0.2)
    assert report["mismatches"] == 0
    with pytest.raises(ValueError, match=r"bias \+ N holds 256, outside the 9-bit signed range"
                                         r".*raise --acc-bits"):
        xnor.run(params, w, x, bias + 1)


@pytest.mark.parametrize("config", TERNARY_CONFIGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_ternary_random_layers_with_stalls(config, seed):
    params = TERNARY_CONFIGS[config]
    core = ternary.build_core(params)
    p = core.params
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 12)), int(rng.integers(1, min(40, p["max_inputs"])))
    a_lo, a_hi = signed_range(p["act_bits"])
    b_lo, b_hi = signed_range(p["bias_bits"])
    s_lo, s_hi = signed_range(p["scale_bits"])
    if seed == 2:  # corners: the largest sums of both signs, extreme scales and biases
        x = rng.choice([a_lo, a_hi, 0, -1], (3, n))
        w = rng.choice([-1, 1], (m, 1)) * np.ones((1, n), dtype=np.int64)
        b = rng.choice([b_lo, b_hi], m)
        scales = rng.choice([s_lo, s_hi, 0], (m, 2))
    else:
        x = rng.integers(a_lo, a_hi + 1, (3, n))
        w = rng.integers(-1, 2, (m, n))
        b = rng.integers(b_lo, b_hi + 1, m)
        scales = rng.integers(s_lo, s_hi + 1, (m, 2))
    y, report = ternary.run(params, w, x, b, scales if p["scaled"] else None, seed=seed,
                            in_stall=0.3, out_stall=0.4)
    assert report["mismatches"] == 0
    assert y.shape == (3, m)


def test_ternary_scaled_sum_at_its_limit():
    # Every input at -128 under the scale -128: the largest sum the
    # accumulator was sized for, output unshifted and unsaturated.
    params = TERNARY_CONFIGS["scaled-limit-comb"]
    core = ternary.build_core(params)
    n = 37
    w = np.array([[1] * n, [-1] * n, [0] * n])
    x = np.stack([np.full(n, -128), np.full(n, 127)])
    b = np.array([32767, -32768, 5])
    scales = np.array([[-128, 0], [0, -128], [127, 127]])
    y, report = ternary.run(params, w, x, b, scales, seed=4, in_stall=0.2, out_stall=0.2)
    assert report["mismatches"] == 0
    assert y[0, 0] == 128 * 128 * n + 32767  # the golden model, spelled out by hand
    assert core.params["acc_bits"] == 21


def test_full_throughput_without_stalls():
    rng = np.random.default_rng(5)
    w, x = rng.integers(0, 2, (8, 128)), rng.integers(0, 2, (4, 128))
    _, report = xnor.run(XNOR_CONFIGS["4x32-raw"], w, x)
    assert report["mismatches"] == 0
    # One beat per cycle: beats, plus the pipeline's fill, plus the reset cycles.
    assert report["cycles"] <= report["beats"] + report["latency_cycles"] + 2
    w = rng.integers(-1, 2, (8, 16))
    x = rng.integers(-128, 128, (4, 16))
    _, report = ternary.run(TERNARY_CONFIGS["raw-4x4"], w, x)
    assert report["mismatches"] == 0
    assert report["cycles"] <= report["beats"] + report["latency_cycles"] + 2


def test_checkers_catch_a_wrong_answer(monkeypatch):
    # The comparisons must be able to fail: against golden models that are
    # off by one bit or one unit, every output is a mismatch.
    real_x, real_t = xnor.xnor_layer, ternary.ternary_layer
    monkeypatch.setattr(xnor, "xnor_layer", lambda *a, **k: 1 - real_x(*a, **k))
    monkeypatch.setattr(ternary, "ternary_layer", lambda *a, **k: real_t(*a, **k) + 1)
    rng = np.random.default_rng(6)
    _, report = xnor.run(XNOR_CONFIGS["3x7-sign-comb"], rng.integers(0, 2, (2, 9)),
                         rng.integers(0, 2, (2, 9)))
    assert report["mismatches"] == report["outputs"] == 4
    _, report = ternary.run(TERNARY_CONFIGS["raw-4x4"], rng.integers(-1, 2, (2, 3)),
                            rng.integers(-9, 9, (2, 3)))
    assert report["mismatches"] == report["outputs"] == 4


@pytest.mark.parametrize("terms,regs_every", [(1, 1), (7, 1), (16, 2), (33, 0)])
def test_popcount_tree_counts(terms, regs_every):
    # An adder tree of unsigned one-bit terms is a popcount, in Amaranth's simulator.
    rng = np.random.default_rng(terms)
    dut = AdderTree(2, terms, 1, regs_every=regs_every, signed=False)
    values = [rng.integers(0, 2, (2, terms)).tolist() for _ in range(12)] \
        + [[[1] * terms, [0] * terms]]
    out = run_stream(dut, [{"terms": v, "tag": 0} for v in values], len(values), seed=terms)
    assert [[o.sums[l] for l in range(2)] for o in out] == [[sum(r) for r in v] for v in values]


@pytest.mark.parametrize("make,message", [
    (lambda: xnor.build_core(dict(max_inputs=64, acc_bits=7)),
     "accumulator width 7 cannot hold an XNOR dot product of --max-inputs 64 bits: it needs "
     "at least 8 bits"),
    (lambda: xnor.build_core(dict(max_inputs=64, acc_bits=8, sign=True)),
     "needs at least 9 bits"),
    (lambda: xnor.build_core(dict(width=0)), "width must be an integer from 1 to 1024, not 0"),
    (lambda: ternary.build_core(dict(scaled=False, relu=True)), "ReLU needs the scaled mode"),
    (lambda: ternary.build_core(dict(acc_bits=20)), "accumulator width 20 can overflow"),
    (lambda: ternary.build_core(dict(scale_bits=1)), "scale width must be an integer from 2"),
])
def test_impossible_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


@pytest.mark.parametrize("run,message", [
    (lambda: xnor.run({}, np.array([[0, 2]]), np.array([[1, 0]])),
     r"weights holds 2 at \[0, 1\]: bits are 0 \(for -1\) and 1 \(for \+1\)"),
    (lambda: xnor.run({}, np.array([[0, 1]]), np.array([[1, -1]])), "inputs holds -1 at"),
    (lambda: xnor.run({}, np.array([[0, 1]]), np.array([[1, 0, 1]])),
     "inputs have 3 features but weights have 2 columns"),
    (lambda: xnor.run({}, np.array([[0, 1]]), np.array([[1, 0]]), thresholds=np.array([1])),
     "thresholds need the sign output: drop --raw"),
    (lambda: ternary.run({}, np.array([[0, 2]]), np.array([[1, 0]]), scales=np.array([1, 1])),
     r"weights holds 2 at \[0, 1\]: ternary weights are -1, 0 and \+1"),
    (lambda: ternary.run({}, np.array([[0, 1]]), np.array([[1, 0]])),
     "the scaled mode needs the scales Wp and Wn"),
    (lambda: ternary.run({}, np.array([[0, 1]]), np.array([[1, 0]]), scales=np.ones((2, 2), int)),
     r"scales have shape \(2, 2\), expected \(2,\) for the layer or \(1, 2\)"),
    (lambda: ternary.run({}, np.array([[0, 1]]), np.array([[1, 0]]), scales=np.array([1, 300])),
     "scales holds 300, outside the 8-bit signed range"),
])
def test_bad_layers_are_refused(run, message):
    with pytest.raises(ValueError, match=message):
        run()
