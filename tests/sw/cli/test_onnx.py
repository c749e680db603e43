"""eiegen compress --onnx, golden and sim network: a user's ONNX file, end to end."""

import json

import numpy as np
import onnx
import pytest

from sw.formats.onnx_export import export_onnx
from sw.train import nn
from sw.train.datasets import load


@pytest.fixture(scope="module")
def digits():
    d = load("digits")
    return (d.scaled(d.x_train).reshape(-1, 1, 8, 8).astype(np.float32), d.y_train,
            d.scaled(d.x_test).reshape(-1, 1, 8, 8).astype(np.float32), d.y_test)


@pytest.fixture(scope="module")
def onnx_cnn(digits, tmp_path_factory):
    """A CNN eiegen trains, exported as PyTorch would: SAME padding, a stride-2
    convolution, BN after it, max pooling, Gemm transB=1, a final Softmax."""
    x, y, _, _ = digits
    rng = np.random.default_rng(0)
    layers = [{"kind": "conv", "W": rng.normal(0, 0.4, (6, 1, 3, 3)), "b": np.zeros(6),
               "pads": (1, 1, 1, 1)}, {"kind": "relu"},
              {"kind": "conv", "W": rng.normal(0, 0.2, (8, 6, 3, 3)), "b": np.zeros(8),
               "stride": (2, 2), "pads": (1, 1, 1, 1)},
              {"kind": "bn", "gamma": np.ones(8), "beta": np.zeros(8), "mean": np.zeros(8),
               "var": np.ones(8)}, {"kind": "relu"},
              {"kind": "pool", "mode": "max", "kernel": (2, 2), "stride": (2, 2)},
              {"kind": "flatten"},
              {"kind": "dense", "W": rng.normal(0, 0.2, (10, 32)), "b": np.zeros(10)}]
    nn.train(layers, x, y, epochs=6, lr=0.05, seed=0)
    path = tmp_path_factory.mktemp("onnx") / "cnn.onnx"
    onnx.save(export_onnx(layers, (1, 8, 8), name="digits-cnn", softmax=True), path)
    return path


def test_compress_golden_and_sim_network(cli, save, tmp_path, digits, onnx_cnn):
    x, y, xt, yt = digits
    files = {name: save(tmp_path, f"{name}.npy", a) for name, a in
             (("x", x), ("y", y), ("xt", xt), ("yt", yt), ("few", xt[:3]))}
    net, report = tmp_path / "net.npz", tmp_path / "r.json"
    status, out, err = cli("compress", "--onnx", str(onnx_cnn), "--data", files["x"],
                           "--labels", files["y"], "--eval-data", files["xt"],
                           "--eval-labels", files["yt"], "--pes", "2", "--out", str(net),
                           "--report", str(report))
    assert status == 0, err
    assert "Softmax" in out and "fine-tuning" in out  # notes and progress
    r = json.loads(report.read_text())
    acc = r["accuracy"]
    assert acc["fixed_point"] >= acc["float"] - 0.01 and r["compression_ratio"] > 1
    assert r["accuracy_measured_on"] == f"the evaluation set ({len(xt)} samples)"

    status, out, err = cli("inspect", str(net))
    assert status == 0 and "conv" in out and "pool" in out, err
    y_golden = tmp_path / "golden.npy"
    status, out, err = cli("golden", str(net), "--inputs", files["xt"], "--out", str(y_golden))
    assert status == 0, err
    logits = np.load(y_golden)
    assert np.mean(logits.argmax(axis=1) == yt) == acc["fixed_point"]

    y_rtl, sim_report = tmp_path / "rtl.npy", tmp_path / "sim.json"
    status, out, err = cli("sim", "network", "--model", str(net), "--inputs", files["few"],
                           "--out", str(y_rtl), "--report", str(sim_report),
                           "--conv-core", "mac")
    assert status == 0, err
    assert np.array_equal(np.load(y_rtl), logits[:3])
    s = json.loads(sim_report.read_text())
    assert s["mismatches"] == 0 and [l["core"] for l in s["layers"]] == ["mac", "mac", "eie"]


def refused(cli, tmp_path, message, *argv):
    out = tmp_path / "net.npz"
    status, _, err = cli(*argv, "--out", str(out))
    assert status != 0 and not out.exists()
    assert len(err.strip().splitlines()) == 1 and err.startswith("eiegen: error:"), err
    assert message in err, err


def test_bad_files_and_data_are_refused_in_one_line(cli, save, tmp_path, digits, onnx_cnn):
    x = save(tmp_path, "x.npy", digits[0][:50])
    (tmp_path / "junk.onnx").write_bytes(b"this is not a protobuf \xff\xfe")
    refused(cli, tmp_path, "not an ONNX model", "compress", "--onnx",
            str(tmp_path / "junk.onnx"), "--data", x)
    data = onnx_cnn.read_bytes()
    (tmp_path / "cut.onnx").write_bytes(data[:len(data) // 2])
    refused(cli, tmp_path, "cut.onnx", "compress", "--onnx", str(tmp_path / "cut.onnx"),
            "--data", x)
    refused(cli, tmp_path, "no such file", "compress", "--onnx", str(tmp_path / "none.onnx"),
            "--data", x)
    refused(cli, tmp_path, "--onnx needs --data", "compress", "--onnx", str(onnx_cnn))
    refused(cli, tmp_path, "--labels goes with --onnx", "compress", "--model", "digits-mlp",
            "--labels", x)
    wrong = save(tmp_path, "wrong.npy", digits[0][:50, :, :7])
    refused(cli, tmp_path, "data must have shape (N, 1, 8, 8)", "compress", "--onnx",
            str(onnx_cnn), "--data", wrong)
    text = save(tmp_path, "text.npy", np.full((20, 1, 8, 8), "a"))
    refused(cli, tmp_path, "must hold numbers", "compress", "--onnx", str(onnx_cnn),
            "--data", text)
    labels = save(tmp_path, "labels.npy", np.zeros(49, dtype=int))
    refused(cli, tmp_path, "labels must have shape (50,)", "compress", "--onnx",
            str(onnx_cnn), "--data", x, "--labels", labels)
    graph = onnx.load(onnx_cnn)
    graph.graph.node[1].op_type = "Sigmoid"
    onnx.save(graph, tmp_path / "sigmoid.onnx")
    refused(cli, tmp_path, "(Sigmoid)", "compress", "--onnx", str(tmp_path / "sigmoid.onnx"),
            "--data", x)


def test_onnx_mlp_without_labels_runs_on_the_eie_engine(cli, save, tmp_path, digits):
    """Keras-style MatMul + Add at opset 9, float inputs, no labels: sim eie takes it."""
    x, y, xt, _ = digits
    rng = np.random.default_rng(2)
    layers = [{"kind": "flatten"},
              {"kind": "dense", "W": rng.normal(0, 0.2, (24, 64)), "b": np.zeros(24)},
              {"kind": "relu"},
              {"kind": "dense", "W": rng.normal(0, 0.2, (10, 24)), "b": np.zeros(10)}]
    nn.train(layers, x, y, epochs=3, lr=0.05, seed=0)
    onnx.save(export_onnx(layers, (1, 8, 8), dense="matmul", opset=9), tmp_path / "mlp.onnx")
    net, report = tmp_path / "mlp.npz", tmp_path / "r.json"
    status, out, err = cli("compress", "--onnx", str(tmp_path / "mlp.onnx"), "--data",
                           save(tmp_path, "x.npy", x), "--pes", "4", "--out", str(net),
                           "--report", str(report))
    assert status == 0, err
    assert "converted" in out and "without retraining" in out
    r = json.loads(report.read_text())
    assert not r["retrained"] and r["accuracy_against"] == "the float network's predictions"
    few = save(tmp_path, "few.npy", xt[:5])
    status, out, err = cli("sim", "eie", "--model", str(net), "--inputs", few, "--out",
                           str(tmp_path / "y.npy"))
    assert status == 0, err
    status, _, err = cli("golden", str(net), "--inputs", few, "--out", str(tmp_path / "g.npy"))
    assert status == 0, err
    assert np.array_equal(np.load(tmp_path / "y.npy"), np.load(tmp_path / "g.npy"))
