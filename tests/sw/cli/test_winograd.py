"""``eiegen generate|sim|synth winograd``: happy paths and every error path."""

import json

import numpy as np
import pytest

from sw.golden.conv import correlate2d
from sw.golden.winograd import filter_transform, winograd_conv
from sw.spec.winograd import cook_toom


@pytest.fixture
def layer(save, tmp_path):
    rng = np.random.default_rng(0)
    return (save(tmp_path, "x.npy", rng.integers(-128, 128, (3, 9, 8))),
            save(tmp_path, "w.npy", rng.integers(-128, 128, (2, 3, 3, 3))))


def test_generate_writes_verilog_and_description(cli, tmp_path):
    status, out, err = cli("generate", "winograd", "--m", "4", "--r", "3",
                               "--out", str(tmp_path / "gen"))
    assert status == 0, err
    assert "module eiegen_winograd" in (tmp_path / "gen" / "winograd.v").read_text()
    info = json.loads((tmp_path / "gen" / "winograd.json").read_text())
    assert info["multipliers"] == 36 and info["multiplies_per_output"] == 2.25
    assert info["transforms"]["divisor"] == 576
    assert "36 multipliers" in out


def test_sim_is_the_exact_correlation(cli, tmp_path, layer):
    x, w = layer
    report = tmp_path / "r.json"
    status, out, err = cli("sim", "winograd", "--m", "2", "--r", "3",
                               "--max-channels", "4", "--inputs", x, "--weights", w,
                               "--out", str(tmp_path / "y.npy"), "--report", str(report),
                               "--in-stall", "0.3", "--out-stall", "0.2", "--seed", "3")
    assert status == 0, err
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (2, 7, 6)
    assert np.array_equal(y, correlate2d(np.load(x), np.load(w)))
    r = json.loads(report.read_text())
    assert r["mismatches"] == 0 and r["multiplies"] < r["direct_multiplies"]


def test_sim_winograd_domain_pruned_with_relu(save, cli, tmp_path):
    rng = np.random.default_rng(1)
    keep = np.ones((4, 4), dtype=int)
    keep[0, 3] = keep[3, 0] = 0
    t = cook_toom(2, 3, [0, 1, -1])
    u = filter_transform(rng.integers(-20, 20, (2, 2, 3, 3)), t) * keep
    x = save(tmp_path, "x.npy", rng.integers(-128, 128, (2, 6, 6)))
    status, _, err = cli("sim", "winograd", "--domain", "winograd",
                             "--winograd-relu", "--weight-bits", "12", "--max-channels", "2",
                             "--keep", save(tmp_path, "k.npy", keep), "--points", "0,1,-1",
                             "--inputs", x, "--weights", save(tmp_path, "u.npy", u),
                             "--out", str(tmp_path / "y.npy"))
    assert status == 0, err
    expect = winograd_conv(np.load(x), u, t, domain="winograd", relu=True)
    assert np.array_equal(np.load(tmp_path / "y.npy"), expect)


BAD = {
    "image smaller than filter": ([], lambda t, save: save(t, "x.npy", np.ones((3, 2, 8), int)),
                                  None, r"the image \(2x8\) is smaller than the 3x3 filter"),
    "unsupported m": (["--m", "9"], None, None,
                      r"output tile size m must be an integer from 2 to 6, not 9"),
    "unsupported r": (["--r", "1"], None, None, r"filter size r must be an integer from 2"),
    "too many points": (["--m", "6", "--r", "5"], None, None, "needs 10 interpolation points"),
    "filters wrong shape": ([], None, lambda t, save: save(t, "w.npy", np.ones((2, 3, 5, 5), int)),
                            r"weights must have shape \(K, C, 3, 3\)"),
    "filters 3-D": ([], None, lambda t, save: save(t, "w.npy", np.ones((2, 3, 3), int)),
                    r"weights must have shape \(K, C, 3, 3\)"),
    "channel mismatch": ([], None, lambda t, save: save(t, "w.npy", np.ones((2, 4, 3, 3), int)),
                         "weights have 4 input channels but inputs have 3"),
    "values too wide": (["--act-bits", "6"], None, None,
                        r"inputs holds .*, outside the 6-bit signed range"),
    "weights too wide": ([], None, lambda t, save: save(t, "w.npy", np.full((2, 3, 3, 3), 300)),
                         r"weights holds 300, outside the 8-bit signed range"),
    "float inputs": ([], lambda t, save: save(t, "x.npy", np.ones((3, 9, 8))), None,
                     "inputs must hold integers"),
    "too many channels": (["--max-channels", "2"], None, None,
                          "3 input channels, over the tile's maximum 2: raise --max-channels"),
    "relu in spatial": (["--winograd-relu"], None, None, "need --domain winograd"),
    "bad points": (["--points", "0,1,x"], None, None, "--points takes comma-separated numbers"),
    "repeated points": (["--points", "0,1,1"], None, None, "points must be distinct"),
    "bad mask": (["--domain", "winograd", "--keep", "MASK"], None, None,
                 "must hold only 0 and 1"),
    "stall": (["--out-stall", "1"], None, None, r"--out-stall: must be a probability"),
    "missing file": ([], lambda t, save: str(t / "nope.npy"), None,
                     "inputs file .*nope.npy not found"),
}


@pytest.mark.parametrize("case", BAD)
def test_sim_rejects(save, sim_refused, tmp_path, layer, case):
    extra, make_x, make_w, message = BAD[case]
    x = make_x(tmp_path, save) if make_x else layer[0]
    w = make_w(tmp_path, save) if make_w else layer[1]
    extra = [save(tmp_path, "m.npy", np.full((4, 4), 2)) if a == "MASK" else a for a in extra]
    sim_refused(message, "winograd", *extra, "--inputs", x, "--weights", w)


def test_generate_and_synth_reject_bad_parameters(cli, tmp_path):
    status, _, err = cli("generate", "winograd", "--m", "5", "--r", "5",
                             "--out", str(tmp_path / "gen"))
    assert status != 0 and "F(5x5, 5x5) needs 9 interpolation points" in err
    assert not (tmp_path / "gen").exists()
    status, _, err = cli("synth", "winograd", "--r", "9", "--target", "ecp5-85f")
    assert status != 0 and "filter size r must be an integer from 2 to 7, not 9" in err
