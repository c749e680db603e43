"""eiegen generate|sim dense: the dense engine as a core of the command line."""

import json

import numpy as np

from sw.formats import model as model_file
from sw.formats.synthetic import random_inputs, random_model
from sw.golden.eie import infer

# The network and engine of tests/sw/flows/test_dense.py's "1x1" case, so the
# Verilator build (memories loaded at run time) is shared.
SIZES = [9, 7, 3]


def model_path(tmp_path):
    path = tmp_path / "m.npz"
    model_file.save(random_model(3, SIZES, 2), path)
    return str(path)


def test_generate_dense(cli, tmp_path):
    status, out, err = cli("generate", "dense", "--lanes", "2", "--width", "4", "--model",
                           model_path(tmp_path), "--out", str(tmp_path / "gen"))
    assert status == 0, err
    assert "module eiegen_dense" in (tmp_path / "gen" / "dense.v").read_text()
    info = json.loads((tmp_path / "gen" / "dense.json").read_text())
    assert info["config"]["lanes"] == 2 and info["config"]["width"] == 4
    assert info["baked_model"] and "2x4 MAC array" in out


def test_sim_dense_matches_the_golden_model(cli, save, tmp_path):
    path = model_path(tmp_path)
    x = random_inputs(3, 3, SIZES[0])
    report = tmp_path / "r.json"
    status, out, err = cli("sim", "dense", "--lanes", "1", "--width", "1", "--model", path,
                           "--inputs", save(tmp_path, "x.npy", x), "--out",
                           str(tmp_path / "y.npy"), "--runtime-load", "--in-stall", "0.3",
                           "--report", str(report))
    assert status == 0, err
    y = np.load(tmp_path / "y.npy")
    assert np.array_equal(y, infer(model_file.load(path), x))
    assert json.loads(report.read_text())["mismatches"] == 0 and "0 mismatches" in out


def test_dense_refuses_impossible_parameters(cli, tmp_path):
    status, _, err = cli("generate", "dense", "--lanes", "3", "--width", "4", "--model",
                         model_path(tmp_path), "--out", str(tmp_path / "gen"))
    assert status != 0 and len(err.strip().splitlines()) == 1
    assert "width 4 must be a multiple of the lane count 3" in err
    assert not (tmp_path / "gen").exists()


def test_dense_refuses_zero_lanes_in_one_line(cli, tmp_path):
    status, _, err = cli("generate", "dense", "--lanes", "0", "--model", model_path(tmp_path),
                         "--out", str(tmp_path / "gen"))
    assert status != 0 and len(err.strip().splitlines()) == 1
    assert "lane count must be an integer from 1 to 64, not 0" in err
