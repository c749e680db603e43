"""The eiegen command line for the XNOR and ternary arrays: happy paths and error paths.

Errors must be one line on stderr, a non-zero exit status, and nothing written.
"""

import json

import numpy as np
import pytest

from sw.golden.lowbit import ternary_layer, xnor_layer



@pytest.fixture
def binary(save, tmp_path):
    rng = np.random.default_rng(0)
    return (save(tmp_path, "w.npy", rng.integers(0, 2, (6, 70))),
            save(tmp_path, "x.npy", rng.integers(0, 2, (3, 70))))


@pytest.fixture
def tern(save, tmp_path):
    rng = np.random.default_rng(1)
    return (save(tmp_path, "tw.npy", rng.integers(-1, 2, (6, 20))),
            save(tmp_path, "tx.npy", rng.integers(-128, 128, (3, 20))))


@pytest.mark.parametrize("core,latency", [("xnor", 3 + 1), ("ternary", 3 + 1 + 2)])
def test_generate(cli, tmp_path, core, latency):
    status, out, err = cli("generate", core, "--lanes", "3", "--width", "8",
                               "--out", str(tmp_path / "gen"))
    assert status == 0, err
    assert f"module eiegen_{core}" in (tmp_path / "gen" / f"{core}.v").read_text()
    info = json.loads((tmp_path / "gen" / f"{core}.json").read_text())
    assert info["core"] == core and info["params"]["lanes"] == 3
    assert info["latency_cycles"] == latency and info["peak_macs_per_cycle"] == 24


def test_sim_xnor_raw_and_sign(save, cli, tmp_path, binary):
    w, x = binary
    report = tmp_path / "r.json"
    # Configurations as in test_lowbit_verilator.py, so the Verilator builds are shared.
    status, _, err = cli("sim", "xnor", "--raw", "--width", "32", "--weights", w,
                             "--inputs", x, "--out", str(tmp_path / "y.npy"), "--report",
                             str(report), "--in-stall", "0.3", "--seed", "7")
    assert status == 0, err
    y = np.load(tmp_path / "y.npy")
    assert np.array_equal(y, xnor_layer(np.load(x), np.load(w)))
    assert np.array_equal(y, (2 * np.load(x) - 1) @ (2 * np.load(w) - 1).T)  # the definition
    r = json.loads(report.read_text())
    assert r["mismatches"] == 0 and r["cycles"] > 0
    t = save(tmp_path, "t.npy", np.array([-70, -3, 0, 2, 70, 71]))
    status, _, err = cli("sim", "xnor", "--lanes", "3", "--width", "7",
                             "--tree-regs-every", "0", "--weights", w, "--inputs", x,
                             "--thresholds", t, "--out", str(tmp_path / "s.npy"),
                             "--out-stall", "0.4")
    assert status == 0, err
    assert np.array_equal(np.load(tmp_path / "s.npy"), (y >= np.load(t)).astype(int))


def test_sim_ternary_raw_and_scaled(save, cli, tmp_path, tern):
    w, x = tern
    status, _, err = cli("sim", "ternary", "--raw", "--width", "4", "--weights", w,
                             "--inputs", x,
                             "--out", str(tmp_path / "y.npy"), "--in-stall", "0.2")
    assert status == 0, err
    assert np.array_equal(np.load(tmp_path / "y.npy"), np.load(x) @ np.load(w).T)
    s = save(tmp_path, "s.npy", np.array([100, 80]))
    b = save(tmp_path, "b.npy", np.arange(-3000, 3000, 1000))
    status, _, err = cli("sim", "ternary", "--relu", "--lanes", "3", "--width", "5",
                             "--weights", w, "--inputs", x, "--scales", s, "--bias", b, "--out", str(tmp_path / "z.npy"))
    assert status == 0, err
    expect = ternary_layer(np.load(x), np.load(w), np.load(b), np.tile([100, 80], (6, 1)),
                           shift=7, out_bits=8, relu=True)
    assert np.array_equal(np.load(tmp_path / "z.npy"), expect)


BAD = {
    "xnor non-binary weights": ("xnor", lambda t, w, x, save: (save(t, "v.npy", 2 * np.load(w)), x),
                                [], r"weights holds 2 at \[\d+, \d+\]: bits are 0"),
    "xnor non-binary inputs": ("xnor", lambda t, w, x, save: (w, save(t, "v.npy", -np.load(x))),
                               [], "inputs holds -1 at"),
    "xnor float inputs": ("xnor", lambda t, w, x, save: (w, save(t, "v.npy", np.load(x) * 1.0)),
                          [], "inputs must hold integers"),
    "xnor shapes": ("xnor", lambda t, w, x, save: (w, save(t, "v.npy", np.load(x)[:, :69])), [],
                    "inputs have 69 features but weights have 70 columns"),
    "xnor popcount too wide": ("xnor", None, ["--acc-bits", "8"],
                               "accumulator width 8 cannot hold an XNOR dot product of "
                               "--max-inputs 1024 bits against a threshold: it needs at least "
                               "13 bits"),
    "xnor too long": ("xnor", None, ["--max-inputs", "64"],
                      "the layer has 70 inputs, over the array's maximum 64"),
    "xnor thresholds raw": ("xnor", None, ["--raw", "--thresholds", "T"],
                            "thresholds need the sign output: drop --raw"),
    "xnor thresholds shape": ("xnor", None, ["--thresholds", "T5"],
                              r"thresholds has shape \(5,\), expected \(6,\)"),
    "ternary weight 2": ("ternary", lambda t, w, x, save: (save(t, "v.npy", 2 * np.load(w)), x),
                         ["--raw"], r"weights holds -?2 at .*ternary weights are -1, 0 and \+1"),
    "ternary no scales": ("ternary", None, [], "the scaled mode needs the scales Wp and Wn"),
    "ternary scales shape": ("ternary", None, ["--scales", "S3"],
                             r"scales have shape \(3,\), expected \(2,\)"),
    "ternary scales and raw": ("ternary", None, ["--raw", "--scales", "S"],
                               "scales need the scaled mode: drop --raw"),
    "ternary raw relu": ("ternary", None, ["--raw", "--relu"], "--raw and --relu contradict"),
    "ternary inputs too wide": ("ternary", None, ["--raw", "--act-bits", "4"],
                                "inputs holds .*, outside the 4-bit signed range"),
    "ternary acc too small": ("ternary", None, ["--raw", "--acc-bits", "12"],
                              "accumulator width 12 can overflow"),
    "ternary width": ("ternary", None, ["--width", "0"], "width must be an integer from 1 to 256"),
}


@pytest.mark.parametrize("case", BAD)
def test_sim_rejects(save, sim_refused, tmp_path, binary, tern, case):
    core, make, extra, message = BAD[case]
    w, x = binary if core == "xnor" else tern
    if make:
        w, x = make(tmp_path, w, x, save)
    files = {"T": save(tmp_path, "t.npy", np.zeros(6, dtype=int)),
             "T5": save(tmp_path, "t5.npy", np.zeros(5, dtype=int)),
             "S": save(tmp_path, "s.npy", np.array([1, 1])),
             "S3": save(tmp_path, "s3.npy", np.array([1, 1, 1]))}
    extra = [files.get(arg, arg) for arg in extra]
    sim_refused(message, core, *extra, "--weights", w, "--inputs", x)


def test_generate_rejects_and_writes_nothing(cli, tmp_path):
    out = tmp_path / "gen"
    status, _, err = cli("generate", "xnor", "--width", "2000", "--out", str(out))
    assert status != 0 and "width must be an integer from 1 to 1024, not 2000" in err
    assert not out.exists()


def test_synth_xnor(tmp_path):
    from sw.cli import main
    report = tmp_path / "r.json"
    assert main(["synth", "xnor", "--lanes", "1", "--width", "8", "--max-inputs", "64",
                 "--target", "ice40-up5k", "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["dsps"] == 0 and r["luts"] > 0 and r["fmax_mhz"] > 10
