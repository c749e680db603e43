"""cocotb benches of the generated MAC array in Verilator, against sw.golden.dense.

pytest varies the hardware (one generated Verilog and one cached Verilator
build per configuration); each configuration then sees several stimuli and
stall patterns, the seed in the test id.
"""

import json

import numpy as np
import pytest

from sw.errors import ToolchainError
from sw.flows import mac
from sw.flows.stream import run_beats
from sw.flows.toolchain import simulate, to_verilog
from sw.spec.numerics import signed_range

CONFIGS = {
    "one-lane": dict(lanes=1, width=3),
    "4x4-relu": dict(lanes=4, width=4, relu=True),
    "3x5-raw": dict(lanes=3, width=5, requant=False),
    "narrow-2bit": dict(lanes=2, width=2, act_bits=2, weight_bits=2, shift=1, out_bits=2),
    "wide-24bit-raw": dict(lanes=2, width=3, act_bits=24, weight_bits=24, max_inputs=64,
                           requant=False),
    "comb-tree-sat": dict(lanes=2, width=7, tree_regs_every=0, shift=2, out_bits=6),
    "half-in-luts": dict(lanes=4, width=4, dsp_multipliers=5, weight_bits=6, act_bits=9),
    "tree-regs-2": dict(lanes=5, width=8, tree_regs_every=2, max_inputs=64, relu=True,
                        shift=9, out_bits=10),
}


def random_layer(rng, params, m, n, batch, extremes=False):
    core = mac.build_core(params)
    p = core.params
    a_lo, a_hi = signed_range(p["act_bits"])
    w_lo, w_hi = signed_range(p["weight_bits"])
    b_lo, b_hi = signed_range(p["bias_bits"])
    if extremes:
        # Corners only: the largest products, both signs, and the bias limits.
        x = rng.choice([a_lo, a_hi, 0, -1], (batch, n))
        w = rng.choice([w_lo, w_hi], (m, n))
        b = rng.choice([b_lo, b_hi], m)
    else:
        x = rng.integers(a_lo, a_hi + 1, (batch, n))
        w = rng.integers(w_lo, w_hi + 1, (m, n))
        b = rng.integers(b_lo, b_hi + 1, m)
    return w, x, b


@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_layers_with_stalls(config, seed):
    params = CONFIGS[config]
    rng = np.random.default_rng(seed)
    m, n = int(rng.integers(1, 12)), int(rng.integers(1, 30))
    w, x, b = random_layer(rng, params, m, n, batch=3, extremes=seed == 2)
    y, report = mac.run(params, w, x, b, seed=seed, in_stall=0.3, out_stall=0.4)
    assert report["mismatches"] == 0
    assert y.shape == (3, m)


@pytest.mark.parametrize("seed", [3])
def test_accumulator_at_its_limit(seed):
    # max_inputs products of the most negative numbers: the largest sum the
    # accumulator was sized for, in raw mode so nothing hides it.
    params = dict(lanes=2, width=4, max_inputs=37, requant=False)
    core = mac.build_core(params)
    n = core.params["max_inputs"]
    w = np.full((3, n), -128)
    x = np.stack([np.full(n, -128), np.full(n, 127), -np.full(n, -128) - 1])
    b = np.array([32767, -32768, 0])
    y, report = mac.run(params, w, x, b, seed=seed, in_stall=0.2, out_stall=0.2)
    assert report["mismatches"] == 0


def test_saturation_both_ways():
    params = dict(lanes=2, width=4, shift=0, out_bits=8)
    w = np.array([[127] * 4, [-128] * 4, [1, 0, 0, 0]])
    x = np.array([[127] * 4, [-5, 3, 0, 1]])
    _, report = mac.run(params, w, x, seed=4)
    assert report["mismatches"] == 0


def test_full_throughput_without_stalls():
    params = dict(lanes=4, width=4)
    rng = np.random.default_rng(5)
    w, x, b = random_layer(rng, params, 8, 16, batch=4)
    _, report = mac.run(params, w, x, b)
    assert report["mismatches"] == 0
    # One beat per cycle: beats, plus the pipeline's fill, plus the reset cycles.
    assert report["cycles"] <= report["beats"] + report["latency_cycles"] + 2


def test_checker_catches_a_wrong_answer(monkeypatch):
    # The comparison must be able to fail: against a golden model that is off
    # by one, every output is a mismatch.
    real = mac.dense_layer
    monkeypatch.setattr(mac, "dense_layer", lambda *a, **k: real(*a, **k) + 1)
    params = CONFIGS["one-lane"]
    w, x, b = random_layer(np.random.default_rng(6), params, 2, 3, batch=2)
    _, report = mac.run(params, w, x, b)
    assert report["mismatches"] == report["outputs"] == 4


def test_bench_fails_when_outputs_never_come(tmp_path):
    core = mac.build_core(CONFIGS["one-lane"])
    job = {"inputs": [], "outputs": 1, "seed": 0, "in_stall": 0, "out_stall": 0,
           "result": str(tmp_path / "result.json"), "max_cycles": 50}
    (tmp_path / "job.json").write_text(json.dumps(job))
    with pytest.raises(ToolchainError, match="bench failed"):
        simulate(to_verilog(core, mac.TOP), mac.TOP, "sw.flows.testbench.stream", workdir=tmp_path,
                 env={"EIEGEN_JOB": str(tmp_path / "job.json")})
    assert "gave up after 50 cycles" in (tmp_path / "sim.log").read_text()


@pytest.mark.parametrize("error", [1, -1])
def test_bench_refuses_a_wrong_latency(tmp_path, error):
    # Every run measures the latency and requires it to be the core's own:
    # the same design stating one cycle more, or one less, fails the bench.
    from hw.mac import MacArray

    class Misstated(MacArray):
        @property
        def latency(self):
            return super().latency + error

    core = Misstated(**CONFIGS["one-lane"])
    w, x, b = random_layer(np.random.default_rng(8), CONFIGS["one-lane"], 2, 5, batch=2)
    beats = mac.tile(w, x, b, core.params["lanes"], core.params["width"])
    with pytest.raises(ToolchainError, match="bench failed"):
        run_beats(core, mac.TOP, beats, 4, seed=8, in_stall=0.3, out_stall=0.4,
                  workdir=tmp_path)
    assert (f"but its latency says {core.latency}") in (tmp_path / "sim.log").read_text()
