"""``eiegen explore`` from the command line, synthesis included, on a local
cluster of worker processes: a small network's weights, two PE counts on the
iCE40 UP5K and two clocks.

An engine holding 256 entries fits; its one synthesis serves both clocks,
and the clock it cannot reach is a result with its reason. An engine of 8
entries cannot hold the model: a result with its reason too, not a crash,
found before any synthesis.
"""

import json

import numpy as np

SPACE = """
[compression]
quality = [0.5]

[hardware]
pes = [1]
nnz_depth = [256, 8]
target = ["ice40-up5k"]
clock_mhz = [10, 500]

[measure]
cycle_samples = 4
rtl_points = 0
"""


def test_explore_synthesizes_and_reports_what_does_not_fit(cli, tmp_path):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "w.npz", W0=rng.normal(0, 1, (12, 16)), b0=rng.normal(0, 0.1, 12),
             W1=rng.normal(0, 1, (4, 12)), b1=rng.normal(0, 0.1, 4))
    np.save(tmp_path / "cal.npy", rng.integers(0, 256, (40, 16)))
    (tmp_path / "space.toml").write_text(SPACE)
    out = tmp_path / "out"
    argv = ["explore", "--weights", str(tmp_path / "w.npz"), "--calibration",
            str(tmp_path / "cal.npy"), "--space", str(tmp_path / "space.toml"),
            "--out", str(out), "--workers", "2"]
    status, stdout, err = cli(*argv)
    assert status == 0, err
    points = json.loads((out / "points.json").read_text())["points"]
    by = {(p["hardware"]["nnz_depth"], p["hardware"]["clock_mhz"]): p for p in points}
    met, missed = by[256, 10], by[256, 500]
    assert met["status"] == "ok", met["reason"]
    assert 0 < met["luts"] < 5280 and met["dsps"] == 1 and 10 < met["fmax_mhz"] < 500
    assert met["latency_us"] == met["cycles"] / met["fmax_mhz"]
    assert missed["status"] == "fails timing"
    assert f"Fmax {met['fmax_mhz']} MHz is under the 500 MHz clock" in missed["reason"]
    assert {k: missed[k] for k in ("luts", "fmax_mhz")} == {k: met[k] for k in ("luts", "fmax_mhz")}
    for clock in (10, 500):
        small = by[8, clock]
        assert small["status"] == "does not fit" and small["luts"] is None
        assert "entries on a PE, over the engine's 8" in small["reason"], small["reason"]
    # One synthesis a configuration: one in the cache, though four points asked.
    assert len(list((out / "cache").glob("synthesize-*.npz"))) == 1
    assert "Pareto front: accuracy against LUTs" in stdout
    assert (out / "pareto.png").is_file()
    # Run again: everything from the cache, no cluster started, the same points.
    status, again, err = cli(*argv)
    assert status == 0, err
    assert "Dask cluster" not in again
    rerun = json.loads((out / "points.json").read_text())["points"]
    assert [{k: v for k, v in p.items() if k != "cost_s"} for p in rerun] == \
        [{k: v for k, v in p.items() if k != "cost_s"} for p in points]
