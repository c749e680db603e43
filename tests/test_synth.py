"""Out-of-context synthesis and place-and-route with the YoWASP tools."""

import json

import pytest

from sw.cli import main


@pytest.mark.parametrize("target", ["ice40-up5k", "ecp5-85f"])
def test_synth_report(tmp_path, target):
    report = tmp_path / "r.json"
    assert main(["synth", "mac", "--lanes", "1", "--width", "2", "--target", target,
                 "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["target"] == target
    assert r["dsps"] == 2  # both 8x8 multipliers land in DSP blocks on either family
    assert r["luts"] > 0 and r["ffs"] > 0 and r["brams"] == 0
    assert r["fmax_mhz"] > 10


def test_spram_engine_maps_to_spram(tmp_path):
    # The iCE40 organization: each PE's sparse matrix and the activation
    # buffers must land in SB_SPRAM256KA (not block RAM, which is too small).
    report = tmp_path / "r.json"
    assert main(["synth", "eie", "--target", "ice40-up5k", "--pes", "1", "--spram",
                 "--sequential-scan", "--entries-per-word", "2", "--nnz-depth", "8192",
                 "--ptr-depth", "64", "--max-cols", "32", "--rows-per-pe", "16",
                 "--bias-depth", "32", "--max-layers", "2", "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["sprams"] == 2
