"""The eiegen command line: the happy paths and every error path.

Errors must be one line on stderr, a non-zero exit status, and nothing written.
"""

import json

import numpy as np
import pytest

from sw.cli import main
from sw.golden.dense import dense_layer


@pytest.fixture
def layer(save, tmp_path):
    rng = np.random.default_rng(0)
    return (save(tmp_path, "w.npy", rng.integers(-128, 128, (6, 10))),
            save(tmp_path, "x.npy", rng.integers(-128, 128, (3, 10))))


def test_generate_writes_verilog_and_description(cli, tmp_path):
    status, out, err = cli("generate", "mac", "--lanes", "3", "--width", "5",
                               "--out", str(tmp_path / "gen"))
    assert status == 0, err
    verilog = (tmp_path / "gen" / "mac.v").read_text()
    assert "module eiegen_mac" in verilog
    info = json.loads((tmp_path / "gen" / "mac.json").read_text())
    assert info["params"]["lanes"] == 3 and info["multipliers"] == 15
    assert {p["name"] for p in info["ports"]} >= {"clk", "rst", "i__payload", "o__valid"}
    assert info["latency_cycles"] == 1 + 3 + 1 + 1


def test_sim_raw_is_the_exact_product(cli, tmp_path, layer):
    w, x = layer
    report = tmp_path / "r.json"
    status, out, err = cli("sim", "mac", "--lanes", "4", "--width", "4", "--raw",
                               "--weights", w, "--inputs", x, "--out", str(tmp_path / "y.npy"),
                               "--report", str(report), "--in-stall", "0.3", "--seed", "7")
    assert status == 0, err
    y = np.load(tmp_path / "y.npy")
    assert np.array_equal(y, dense_layer(np.load(x), np.load(w), requant=False))
    r = json.loads(report.read_text())
    assert r["mismatches"] == 0 and r["cycles"] > 0


def test_sim_requantized_with_bias_and_relu(save, cli, tmp_path, layer):
    w, x = layer
    b = save(tmp_path, "b.npy", np.arange(-3000, 3000, 1000))
    status, _, err = cli("sim", "mac", "--relu", "--shift", "6", "--weights", w,
                             "--inputs", x, "--bias", b, "--out", str(tmp_path / "y.npy"))
    assert status == 0, err
    expect = dense_layer(np.load(x), np.load(w), np.load(b), shift=6, out_bits=8, relu=True)
    assert np.array_equal(np.load(tmp_path / "y.npy"), expect)


BAD_SIM = {
    "lanes zero": (["--lanes", "0"], "lane count must be an integer from 1 to 256, not 0"),
    "act bits": (["--act-bits", "40"], "activation width must be an integer from 2 to 32"),
    "acc too small": (["--acc-bits", "10"], "accumulator width 10 can overflow"),
    "raw and relu": (["--raw", "--relu"], "--raw and --relu contradict"),
    "too many inputs": (["--max-inputs", "8"], "the layer has 10 inputs, over the array's "
                                               "maximum 8: raise --max-inputs"),
    "stall": (["--in-stall", "1.5"], r"--in-stall: must be a probability in \[0, 1\), not 1.5"),
    "narrow weights": (["--weight-bits", "4"], "weights holds .*, outside the 4-bit signed"),
}


@pytest.mark.parametrize("case", BAD_SIM)
def test_sim_rejects_bad_options(sim_refused, layer, case):
    extra, message = BAD_SIM[case]
    w, x = layer
    sim_refused(message, "mac", *extra, "--weights", w, "--inputs", x)


BAD_FILES = {
    "float weights": (lambda t, save: save(t, "w.npy", np.ones((6, 10))), None,
                      "weights must hold integers"),
    "1-D weights": (lambda t, save: save(t, "w.npy", np.ones(10, dtype=int)), None,
                    "weights must be a 2-D array"),
    "shape mismatch": (None, lambda t, save: save(t, "x.npy", np.ones((3, 9), dtype=int)),
                       "inputs have 9 features but weights have 10 columns"),
    "missing file": (lambda t, save: str(t / "nope.npy"), None,
                     "weights file .*nope.npy not found"),
    "corrupt file": (lambda t, save: (t / "bad.npy").write_bytes(b"garbage") and str(t / "bad.npy"),
                     None, r"is not a .npy array \(no .npy header\)"),
    "pickled objects": (lambda t, save: save(t, "w.npy", np.array([[{}]], dtype=object)), None,
                        "holds Python objects, which eiegen does not load"),
    "too wide": (None, lambda t, save: save(t, "x.npy", np.full((3, 10), 300)),
                 r"inputs holds 300, outside the 8-bit signed range .*: widen the format "
                 r"\(--act-bits\) or rescale the data"),
}


@pytest.mark.parametrize("case", BAD_FILES)
def test_sim_rejects_bad_files(save, cli, tmp_path, layer, case):
    make_w, make_x, message = BAD_FILES[case]
    w = make_w(tmp_path, save) if make_w else layer[0]
    x = make_x(tmp_path, save) if make_x else layer[1]
    out = tmp_path / "y.npy"
    status, _, err = cli("sim", "mac", "--weights", w, "--inputs", x, "--out", str(out))
    assert status != 0
    assert len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err), err
    assert not out.exists()


def test_sim_output_folder_must_exist(cli, tmp_path, layer):
    w, x = layer
    status, _, err = cli("sim", "mac", "--weights", w, "--inputs", x,
                             "--out", str(tmp_path / "no" / "y.npy"))
    assert status != 0 and "does not exist" in err


def test_bad_bias_shape(save, cli, tmp_path, layer):
    w, x = layer
    b = save(tmp_path, "b.npy", np.zeros(5, dtype=int))
    status, _, err = cli("sim", "mac", "--weights", w, "--inputs", x, "--bias", b,
                             "--out", str(tmp_path / "y.npy"))
    assert status != 0 and "bias has shape (5,), expected (6,)" in err


def test_generate_rejects_impossible_parameters(cli, tmp_path):
    out = tmp_path / "gen"
    status, _, err = cli("generate", "mac", "--width", "300", "--out", str(out))
    assert status != 0 and "width must be an integer from 1 to 256, not 300" in err
    assert not out.exists()


def test_unknown_target_is_one_line(cli):
    status, _, err = cli("synth", "mac", "--target", "virtex")
    assert status == 2
    assert len(err.strip().splitlines()) == 1 and "invalid choice: 'virtex'" in err


def test_unknown_core_and_verb(cli):
    status, _, err = cli("generate", "fft", "--out", "x")
    assert status == 2 and len(err.strip().splitlines()) == 1
    status, _, err = cli("frobnicate")
    assert status == 2 and len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- compression verbs

@pytest.fixture(scope="module")
def digits_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "d.npz"
    assert main(["compress", "--model", "digits-mlp", "--out", str(path), "--pes", "4"]) == 0
    return path


def test_compress_inspect_golden(save, cli, tmp_path, digits_file):
    report = tmp_path / "r.json"
    status, out, err = cli("compress", "--model", "digits-mlp", "--out",
                               str(tmp_path / "m.npz"), "--report", str(report))
    assert status == 0, err
    r = json.loads(report.read_text())
    assert r["compression_ratio"] > 1 and r["accuracy"]["fixed_point"] is not None
    assert "epoch" in out  # progress output
    status, out, err = cli("inspect", str(digits_file))
    assert status == 0 and "64 -> 48 -> 32 -> 10" in out and "4 PEs" in out
    from sw.train.datasets import load
    x = save(tmp_path, "x.npy", load("digits").x_test[:20])
    status, out, err = cli("golden", str(digits_file), "--inputs", x, "--out",
                               str(tmp_path / "y.npy"), "--report", str(tmp_path / "g.json"))
    assert status == 0, err
    from sw.formats import model as model_file
    from sw.golden.eie import infer
    assert np.array_equal(np.load(tmp_path / "y.npy"),
                          infer(model_file.load(digits_file), np.load(x)))
    g = json.loads((tmp_path / "g.json").read_text())
    assert len(g["layers"]) == 3 and 0 < g["layers"][0]["load_balance_efficiency"] <= 1


def test_compress_user_weights(cli, tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "w.npz"
    np.savez(path, W0=rng.normal(0, 0.1, (16, 24)), b0=np.zeros(16),
             W1=rng.normal(0, 0.1, (4, 16)), b1=np.zeros(4))
    status, _, err = cli("compress", "--weights", str(path), "--quality", "1,0.5",
                             "--out", str(tmp_path / "m.npz"))
    assert status == 0, err


BAD_COMPRESS = {
    "nan weights": ({"W0": np.full((2, 3), np.nan), "b0": np.zeros(2)}, [], "W0 holds NaN"),
    "no chain": ({"W0": np.ones((2, 3)), "b0": np.zeros(2), "W1": np.ones((2, 5)),
                  "b1": np.zeros(2)}, [], "W1 takes 5 inputs but W0 gives 2"),
    "missing bias": ({"W0": np.ones((2, 3))}, [], "has W0 but no b0"),
    "no weights": ({"x": np.ones(3)}, [], "holds no W0"),
    "index bits": ({"W0": np.ones((2, 3)), "b0": np.zeros(2)}, ["--index-bits", "0"],
                   "index width must be an integer from 1 to 8"),
    "bad quality": ({"W0": np.ones((2, 3)), "b0": np.zeros(2)}, ["--quality", "a,b"],
                    "--quality takes comma-separated numbers"),
}


@pytest.mark.parametrize("case", BAD_COMPRESS)
def test_compress_rejects(cli, tmp_path, case):
    arrays, extra, message = BAD_COMPRESS[case]
    np.savez(tmp_path / "w.npz", **arrays)
    out = tmp_path / "m.npz"
    status, _, err = cli("compress", "--weights", str(tmp_path / "w.npz"), *extra,
                             "--out", str(out))
    assert status != 0 and len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err), err
    assert not out.exists()


def test_golden_rejects(save, cli, tmp_path, digits_file):
    x = save(tmp_path, "x.npy", np.zeros((2, 63), dtype=int))
    status, _, err = cli("golden", str(digits_file), "--inputs", x, "--out",
                             str(tmp_path / "y.npy"))
    assert status != 0 and "inputs must have shape (B, 64)" in err
    (tmp_path / "bad.npz").write_bytes(b"\x00" * 10)
    status, _, err = cli("inspect", str(tmp_path / "bad.npz"))
    assert status != 0 and "not a readable eiegen model file" in err
    assert len(err.strip().splitlines()) == 1


# ---------------------------------------------------------------- EIE verbs

def test_generate_eie_with_and_without_a_model(cli, tmp_path, digits_file):
    status, out, err = cli("generate", "eie", "--pes", "2", "--out",
                               str(tmp_path / "empty"))
    assert status == 0, err
    info = json.loads((tmp_path / "empty" / "eie.json").read_text())
    assert info["config"]["pes"] == 2 and not info["baked_model"]
    assert "module eiegen_eie" in (tmp_path / "empty" / "eie.v").read_text()
    status, out, err = cli("generate", "eie", "--model", str(digits_file), "--out",
                               str(tmp_path / "baked"))
    assert status == 0, err
    assert json.loads((tmp_path / "baked" / "eie.json").read_text())["baked_model"]


def test_sim_eie_matches_golden(save, cli, tmp_path, digits_file):
    from sw.train.datasets import load
    x = save(tmp_path, "x.npy", load("digits").x_test[:12])
    status, out, err = cli("sim", "eie", "--model", str(digits_file), "--inputs", x,
                               "--out", str(tmp_path / "y.npy"), "--report",
                               str(tmp_path / "r.json"), "--out-stall", "0.3")
    assert status == 0, err
    from sw.formats import model as model_file
    from sw.golden.eie import infer
    assert np.array_equal(np.load(tmp_path / "y.npy"),
                          infer(model_file.load(digits_file), np.load(x)))
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["mismatches"] == 0 and r["cycles"] == r["model_cycles"]


def test_golden_counts_the_cycles_of_the_engine_it_names(save, cli, tmp_path):
    """The cycle model behind ``eiegen golden --report`` follows the
    organization it is given (here the iCE40 one, which takes a few cycles
    fewer than the block-RAM one on these digits): the RTL takes exactly its
    cycles."""
    from sw.train.datasets import load
    model_file = str(tmp_path / "d2.npz")
    assert main(["compress", "--model", "digits-mlp", "--out", model_file, "--pes", "2"]) == 0
    x = save(tmp_path, "x.npy", load("digits").x_test[:6])
    organization = ["--queue-depth", "1", "--sequential-scan", "--spram"]
    status, sim_out, err = cli("sim", "eie", "--model", model_file, "--inputs", x,
                               "--out", str(tmp_path / "y.npy"), "--report",
                               str(tmp_path / "r.json"), "--entries-per-word", "2",
                               *organization)
    assert status == 0, err
    status, golden_out, err = cli("golden", model_file, "--inputs", x, "--out",
                             str(tmp_path / "g.npy"), "--report", str(tmp_path / "g.json"),
                             *organization)
    assert status == 0, err
    rtl = json.loads((tmp_path / "r.json").read_text())
    model = json.loads((tmp_path / "g.json").read_text())
    assert model["sequential_scan"] and model["spram"]
    assert rtl["mismatches"] == 0 and rtl["cycles"] == model["cycles"]
    # Both print and report each layer's cycles per inference (of 6 digits).
    assert [l["cycles_per_inference"] for l in model["layers"]] == \
        [l["cycles_per_inference"] for l in rtl["layers"]]
    assert [l["cycles"] / 6 for l in rtl["layers"]] == \
        [l["cycles_per_inference"] for l in rtl["layers"]]
    sim_line = next(line for line in sim_out.splitlines() if "cycles per inference (layers" in line)
    sim_layers = sim_line.split("(layers ")[1].split(")")[0].split(", ")
    golden_layers = [line.split(": ")[1].split(" cycles per inference")[0]
                     for line in golden_out.splitlines() if line.startswith("layer ")]
    assert golden_layers == sim_layers and len(sim_layers) == 3


def test_paper_layers_go_with_the_eie_bench_only(cli, tmp_path):
    status, out, err = cli("bench", "lowbit", "--paper-layers", "--out", str(tmp_path))
    assert status == 1
    assert err == "eiegen: error: --paper-layers goes with eiegen bench eie, not lowbit\n"
    assert not (tmp_path / "benchmarks.md").exists()
    status, out, err = cli("bench", "mac", "--phases", "--out", str(tmp_path))
    assert status == 1
    assert err == "eiegen: error: --phases goes with eiegen bench eie, not mac\n"
    status, out, err = cli("bench", "eie", "--phases", "--paper-layers", "--out", str(tmp_path))
    assert status == 1
    assert err == "eiegen: error: --paper-layers and --phases are two benches: give one\n"
    assert not (tmp_path / "benchmarks.md").exists()


BAD_EIE = {
    "pe mismatch": (["--pes", "2"], "interleaved over 4 PEs but the engine has 2: recompress "
                                    "with --pes 2"),
    "too few entries": (["--nnz-depth", "8"], "over the engine's 8: raise --nnz-depth"),
    "too few rows": (["--rows-per-pe", "1"], "raise --rows-per-pe"),
    "queue": (["--queue-depth", "0"], "queue depth must be an integer from 1 to 64"),
}


@pytest.mark.parametrize("case", BAD_EIE)
def test_sim_eie_rejects(save, cli, tmp_path, digits_file, case):
    extra, message = BAD_EIE[case]
    x = save(tmp_path, "x.npy", np.zeros((2, 64), dtype=int))
    out = tmp_path / "y.npy"
    status, _, err = cli("sim", "eie", "--model", str(digits_file), *extra,
                             "--inputs", x, "--out", str(out))
    assert status != 0 and len(err.strip().splitlines()) == 1
    assert message in err, err
    assert not out.exists()


def test_sim_eie_rejects_bad_inputs_and_models(save, cli, tmp_path, digits_file):
    x = save(tmp_path, "x.npy", np.zeros((2, 65), dtype=int))
    status, _, err = cli("sim", "eie", "--model", str(digits_file), "--inputs", x,
                             "--out", str(tmp_path / "y.npy"))
    assert status != 0 and "inputs must have shape (B, 64)" in err
    (tmp_path / "m.npz").write_bytes(b"PK\x03\x04 truncated")
    status, _, err = cli("sim", "eie", "--model", str(tmp_path / "m.npz"),
                             "--inputs", x, "--out", str(tmp_path / "y.npy"))
    assert status != 0 and "not a readable eiegen model file" in err
    assert len(err.strip().splitlines()) == 1


def test_out_is_the_path_named_and_outputs_are_whole(save, cli, tmp_path):
    """--out y writes y (numpy alone would write y.npy); no temporary file stays."""
    from sw.formats import model as model_file
    from sw.formats.synthetic import random_inputs, random_model
    model_file.save(random_model(0, [12, 8, 4], 2), tmp_path / "m")
    x = save(tmp_path, "x.npy", random_inputs(0, 3, 12))
    status, _, err = cli("golden", str(tmp_path / "m"), "--inputs", x, "--out",
                         str(tmp_path / "y"), "--report", str(tmp_path / "r"))
    assert status == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "r", "x.npy", "y"]
    assert np.load(tmp_path / "y").shape == (3, 4)
    assert json.loads((tmp_path / "r").read_text())["samples"] == 3
