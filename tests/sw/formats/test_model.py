"""Model files of whole networks (version 2): round trip, version 1, validation."""

import json

import numpy as np
import pytest

from sw.formats import model as model_file
from sw.formats.csc import encode_layer
from sw.formats.model import CompressedModel, ConvLayer, FlattenLayer, Layer, PoolLayer
from sw.golden.network import infer


def small_network():
    """conv 3x1x3x3 (SAME, stride 2) -> avg pool 2x2 (padded) -> flatten -> dense 4."""
    rng = np.random.default_rng(0)
    codebook = np.concatenate([[0], np.arange(1, 16) - 8])
    conv = ConvLayer(rng.integers(0, 16, (3, 1, 3, 3)), codebook,
                     rng.integers(-50, 50, 3), weight_frac=4, in_frac=6, out_frac=5, relu=True,
                     stride=(2, 2), pads=(1, 1, 1, 1))
    pool = PoolLayer("avg", (2, 2), (2, 2), (1, 1, 0, 0), count_pads=True)
    idx = rng.integers(0, 4, (4, 3 * 3 * 3)) * (rng.random((4, 27)) < 0.5)
    dense = Layer(encode_layer(idx, 2, 4), np.array([0, 3, -2, 1] + [0] * 12),
                  rng.integers(-100, 100, 4), weight_frac=3, in_frac=5, out_frac=4, relu=False)
    return CompressedModel(name="net", pes=2, index_bits=4, z_bits=4, act_bits=8,
                           codebook_bits=8, bias_bits=16, input_frac=6, input_shift=0,
                           layers=[conv, pool, FlattenLayer(), dense], input_kind="float",
                           input_shape=(1, 9, 9))


def test_round_trip_keeps_every_layer(tmp_path):
    model = small_network()
    assert [s for s in model.shapes()] == [(1, 9, 9), (3, 5, 5), (3, 3, 3), (27,), (4,)]
    model_file.save(model, tmp_path / "m.npz")
    again = model_file.load(tmp_path / "m.npz")
    assert (again.input_kind, again.input_shape, again.shapes()) == \
        ("float", (1, 9, 9), model.shapes())
    a, b = model.layers[1], again.layers[1]
    assert (b.mode, b.kernel, b.stride, b.pads, b.count_pads) == \
        (a.mode, a.kernel, a.stride, a.pads, a.count_pads)
    x = np.random.default_rng(1).normal(0, 0.5, (5, 1, 9, 9))
    assert np.array_equal(infer(model, x), infer(again, x))


def as_version_1(arrays):
    """The arrays of a fully connected version 2 file as a version 1 file's (in place)."""
    meta = json.loads(str(arrays["meta"]))
    meta["version"] = 1
    for key in ("input_kind", "input_shape"):
        del meta[key]
    for info in meta["layers"]:
        del info["kind"]
    arrays["meta"] = np.array(json.dumps(meta))
    return arrays


def test_version_1_files_still_load(tmp_path):
    from sw.formats.synthetic import random_model
    model = random_model(0, [12, 8, 4], pes=2)
    model_file.save(model, tmp_path / "v2.npz")
    np.savez(tmp_path / "v1.npz", **as_version_1(dict(np.load(tmp_path / "v2.npz"))))
    old = model_file.load(tmp_path / "v1.npz")
    assert old.input_kind == "raw" and old.input_shape == (12,) and old.is_mlp
    raw = np.random.default_rng(2).integers(0, 256, (3, 12))
    assert np.array_equal(infer(old, raw), infer(model, raw))


def corrupt(tmp_path, edit):
    model_file.save(small_network(), tmp_path / "good.npz")
    arrays = dict(np.load(tmp_path / "good.npz"))
    meta = json.loads(str(arrays["meta"]))
    edit(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(tmp_path / "bad.npz", **arrays)
    return tmp_path / "bad.npz"


BAD = {
    "input kind": (lambda a, m: m.update(input_kind="pixels"), "input kind 'pixels' is not"),
    "layer kind": (lambda a, m: m["layers"][1].update(kind="lstm"), "layer 1 kind 'lstm'"),
    "conv indices": (lambda a, m: a.update({"l0.indices": a["l0.indices"][:, :, :2]}),
                     r"layer 0 indices have shape \(3, 1, 2, 3\)"),
    "conv index": (lambda a, m: a["l0.indices"].__setitem__((0, 0, 0, 0), 16),
                   "index 16 is outside its 16-entry codebook"),
    "stride": (lambda a, m: m["layers"][0].update(stride=[0, 2]), "stride must be 2 integers"),
    "pool pads": (lambda a, m: m["layers"][1].update(pads=[2, 0, 0, 0]), "reach a whole"),
    "pool mode": (lambda a, m: m["layers"][1].update(mode="min"), "mode 'min'"),
    "chain": (lambda a, m: m["layers"][2].update(kind="pool", mode="max", kernel=[1, 1],
                                                 stride=[1, 1], pads=[0, 0, 0, 0],
                                                 count_pads=False),
              "layer 3 takes 27 inputs but layer 2 gives 3x3x3"),
    "no outputs": (lambda a, m: (m.update(input_shape=[1, 2, 2]),
                                 m["layers"][0].update(pads=[0, 0, 0, 0])),
                   r"layer 0 \(conv\) leaves no outputs"),
    "input shape": (lambda a, m: m.update(input_shape="9x9"), "input shape must be"),
    "missing field": (lambda a, m: m["layers"][0].pop("stride"), r"layer 0 \(conv\) lacks"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_network_files_are_refused_in_one_line(tmp_path, case):
    edit, message = BAD[case]
    with pytest.raises(model_file.ModelFileError, match=message) as error:
        model_file.load(corrupt(tmp_path, edit))
    assert "\n" not in str(error.value)
