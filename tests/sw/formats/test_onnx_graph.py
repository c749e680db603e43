"""The ONNX importer (``sw.formats.onnx_graph``): graphs of eiegen networks in
the forms PyTorch and Keras export them, the onnx package's own backend test
cases and PyTorch-exported files, every refusal; each import is compared with
``onnx.reference.ReferenceEvaluator`` (or the stored expected output)."""

import copy
import importlib
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx.reference import ReferenceEvaluator

from sw.formats.onnx_export import export_onnx
from sw.formats.onnx_graph import ImportedNetwork, OnnxImportError, import_model, load_onnx
from sw.train import cnn, nn

# ---------------------------------------------------------------- helpers


def _reference(model, x, input_name="input"):
    return ReferenceEvaluator(model).run(None, {input_name: x.astype(np.float32)})[0]


def _assert_matches(layers, ref, x):
    """``nn.logits`` of the import equals the reference to float32 rounding."""
    ours = nn.logits(layers, x.astype(np.float64))
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-4 * np.abs(ref).max())
    assert np.array_equal(ours.argmax(axis=1), ref.argmax(axis=1))


def _check(model, x, reference=None):
    """Import ``model``, compare with the reference of ``reference`` (default
    the model itself); return the import."""
    imported = import_model(model)
    assert imported.input_shape == x.shape[1:]
    for layer in imported.layers:
        assert layer["kind"] in ("dense", "conv", "relu", "pool", "flatten")
    _assert_matches(imported.layers, _reference(reference or model, x), x)
    return imported


def _node(model, name):
    return next(n for n in model.graph.node if n.name == name)


def _set(model, name, drop=(), **attrs):
    """A copy with node ``name``'s attributes ``drop`` removed and ``attrs`` set."""
    model = copy.deepcopy(model)
    node = _node(model, name)
    keep = [a for a in node.attribute if a.name not in drop and a.name not in attrs]
    del node.attribute[:]
    node.attribute.extend(keep + [helper.make_attribute(k, v) for k, v in attrs.items()])
    return model


def _insert_after(model, tensor, nodes, out):
    """A copy with ``nodes`` (consuming ``tensor``, producing ``out``) spliced in
    after the node that produces ``tensor``."""
    model = copy.deepcopy(model)
    graph = model.graph
    for n in graph.node:
        for k, name in enumerate(n.input):
            if name == tensor:
                n.input[k] = out
    for o in graph.output:
        if o.name == tensor:
            o.name = out
    at = next(i for i, n in enumerate(graph.node) if tensor in n.output) + 1
    for k, n in enumerate(nodes):
        graph.node.insert(at + k, n)
    return model


def _add_init(model, name, array):
    model.graph.initializer.append(numpy_helper.from_array(np.asarray(array), name))


def _mlp(seed=0, sizes=(20, 16, 5)):
    rng = np.random.default_rng(seed)
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append({"kind": "dense", "W": rng.normal(0, 1 / np.sqrt(n_in), (n_out, n_in)),
                       "b": rng.normal(0, 0.3, n_out)})
        if i < len(sizes) - 2:
            layers.append({"kind": "relu"})
    return layers


def _lenet(seed=0, shape=(1, 12, 12)):
    """``sw.train.cnn``'s architecture, biases made non-zero."""
    layers = nn.from_cnn(cnn.init(shape, {"convs": [(4, 3)], "hidden": [10], "classes": 5},
                                  seed))
    rng = np.random.default_rng(seed + 100)
    for layer in nn.weighted(layers):
        layers[layer]["b"] = rng.normal(0, 0.3, layers[layer]["b"].shape)
    return layers


def _geometry_cnn(count_pads=False, seed=0, changes=None):
    """A stride-2 padded conv, a 3x3/stride-3 max pool then Relu, a 2x2 conv
    padded at the end, a padded average pool: (2, 20, 20) -> 5 classes.
    ``changes``: ``{layer index: {key: value}}`` applied before the dense
    layer is sized."""
    rng = np.random.default_rng(seed)
    layers = [
        {"kind": "conv", "W": rng.normal(0, 0.4, (4, 2, 3, 3)), "b": rng.normal(0, 0.3, 4),
         "stride": (2, 2), "pads": (1, 1, 1, 1)},
        {"kind": "pool", "mode": "max", "kernel": (3, 3), "stride": (3, 3)},
        {"kind": "relu"},
        {"kind": "conv", "W": rng.normal(0, 0.4, (3, 4, 2, 2)), "b": rng.normal(0, 0.3, 3),
         "pads": (0, 0, 1, 1)},
        {"kind": "relu"},
        {"kind": "pool", "mode": "avg", "kernel": (2, 2), "stride": (1, 1),
         "pads": (1, 1, 0, 0), "count_pads": count_pads},
        {"kind": "flatten"},
    ]
    for i, update in (changes or {}).items():
        layers[i].update(update)
    features = nn.forward(layers, np.zeros((1, 2, 20, 20)))[0].shape[1]
    return layers + [{"kind": "dense", "W": rng.normal(0, 0.3, (5, features)),
                      "b": rng.normal(0, 0.3, 5)}]


def _with_random_bn(layers, seed=0):
    layers = nn.with_bn(layers)
    rng = np.random.default_rng(seed)
    for layer in layers:
        if layer["kind"] == "bn":
            n = len(layer["gamma"])
            layer.update(gamma=rng.uniform(0.5, 2, n), beta=rng.normal(0, 0.5, n),
                         mean=rng.normal(0, 0.5, n), var=rng.uniform(0.2, 3, n))
    return layers


def _inputs(shape, n=6, seed=1):
    return np.random.default_rng(seed).normal(size=(n, *shape))


# ---------------------------------------------------------------- networks


@pytest.mark.parametrize("dense", ["gemm", "matmul"])
def test_mlp(dense):
    # A leading Flatten of (N, 20) inputs changes nothing: no layer.
    model = export_onnx([{"kind": "flatten"}] + _mlp(), (20,), dense=dense)
    imported = _check(model, _inputs((20,)))
    assert [l["kind"] for l in imported.layers] == ["dense", "relu", "dense"]
    assert imported.input_name == "input" and imported.name == "eiegen"
    assert imported.opset == 13
    assert _node(model, "flatten0").op_type == "Flatten"
    for ours, theirs in zip(imported.layers, _mlp()):
        if ours["kind"] == "dense":
            np.testing.assert_allclose(ours["W"], theirs["W"], rtol=1e-6)
            np.testing.assert_allclose(ours["b"], theirs["b"], rtol=1e-6)


def test_lenet_from_sw_train_cnn():
    model = export_onnx(_lenet(), (1, 12, 12))
    imported = _check(model, _inputs((1, 12, 12)))
    assert [l["kind"] for l in imported.layers] == [l["kind"] for l in _lenet()]


def test_gemm_alpha_beta_and_untransposed_b():
    layers = _mlp()
    model = export_onnx(layers, (20,))
    node = _node(model, "dense0")
    w = numpy_helper.to_array(next(t for t in model.graph.initializer if t.name == node.input[1]))
    model.graph.initializer.remove(next(t for t in model.graph.initializer
                                        if t.name == node.input[1]))
    _add_init(model, node.input[1], (w.T / 2).astype(np.float32))  # B as (in, out), halved
    model = _set(model, "dense0", transB=0, alpha=2.0, beta=0.5)
    _check(model, _inputs((20,)))


@pytest.mark.parametrize("count_pads", [False, True])
def test_strided_padded_conv_and_pools(count_pads):
    model = export_onnx(_geometry_cnn(count_pads), (2, 20, 20))
    imported = _check(model, _inputs((2, 20, 20)))
    assert imported.layers[5]["count_pads"] is count_pads
    assert imported.layers[0]["stride"] == (2, 2) and imported.layers[1]["kernel"] == (3, 3)


_SAME_PADS = {"SAME_UPPER": (0, 0, 1, 1), "SAME_LOWER": (1, 1, 0, 0), "VALID": (0, 0, 0, 0)}


@pytest.mark.parametrize("auto_pad", ["SAME_UPPER", "SAME_LOWER", "VALID"])
def test_conv_auto_pad(auto_pad):
    # Both convs need a total padding of 1 for SAME (20 at stride 2 with a
    # 3-kernel, 3 with a 2-kernel): at the end for UPPER, the start for LOWER.
    pads = _SAME_PADS[auto_pad]
    layers = _geometry_cnn(changes={0: {"pads": pads}, 3: {"pads": pads}})
    model = export_onnx(layers, (2, 20, 20))
    for name in ("conv0", "conv3"):
        model = _set(model, name, drop=("pads",), auto_pad=auto_pad)
    imported = _check(model, _inputs((2, 20, 20)))
    assert imported.layers[0]["pads"] == imported.layers[3]["pads"] == pads


@pytest.mark.parametrize("auto_pad, max_pool", [
    # The max pool at stride 2 (10 -> 5) pads 1: at the end for UPPER. For
    # LOWER it is a 2x2 pool at stride 1 (10 -> 10, pads 1 at the start): the
    # reference evaluator's MaxPool gets SAME_LOWER wrong when the stride is
    # above 1 (the odd pad at the end, or a window short), against the
    # operator's specification and its own AveragePool; the importer follows
    # the specification.
    ("SAME_UPPER", {"stride": (2, 2), "pads": (0, 0, 1, 1)}),
    ("SAME_LOWER", {"kernel": (2, 2), "stride": (1, 1), "pads": (1, 1, 0, 0)}),
])
def test_pool_auto_pad(auto_pad, max_pool):
    # The average pool (5 -> 5 or 10 -> 10) pads 1: at the end for UPPER, the start for LOWER.
    avg_pads = _SAME_PADS[auto_pad]
    layers = _geometry_cnn(changes={1: max_pool, 5: {"pads": avg_pads}})
    model = export_onnx(layers, (2, 20, 20))
    for name in ("pool1", "pool5"):
        model = _set(model, name, drop=("pads",), auto_pad=auto_pad)
    imported = _check(model, _inputs((2, 20, 20)))
    assert imported.layers[1]["pads"] == max_pool["pads"]
    assert imported.layers[5]["pads"] == avg_pads


@pytest.mark.parametrize("dense", ["gemm", "matmul"])
def test_batch_normalization_folded_after_conv_and_dense(dense):
    layers = _with_random_bn(_lenet())
    assert [l["kind"] for l in layers].count("bn") == 2
    # Opset 15: the reference evaluator's BatchNormalization-9 (opsets 9 to
    # 13) uses the batch's statistics whenever momentum has its default.
    model = export_onnx(layers, (1, 12, 12), dense=dense, opset=15, bn=1e-2)
    imported = _check(model, _inputs((1, 12, 12)))
    assert sum("BatchNormalization" in n and "epsilon 0.01" in n for n in imported.notes) == 2
    assert len(imported.layers) == len(_lenet())


def test_dropout_and_identity_are_skipped():
    model = export_onnx(_lenet(), (1, 12, 12))
    _add_init(model, "ratio", np.array(0.5, dtype=np.float32))
    _add_init(model, "training", np.array(False))
    model = _insert_after(model, "relu1_out", [
        helper.make_node("Dropout", ["relu1_out", "ratio", "training"], ["drop", "mask"],
                         name="drop")], "drop")
    model = _insert_after(model, "pool2_out", [
        helper.make_node("Identity", ["pool2_out"], ["same"], name="same")], "same")
    imported = _check(model, _inputs((1, 12, 12)))
    assert "Dropout 'drop' skipped (inference)" in imported.notes
    assert "Identity 'same' skipped" in imported.notes


@pytest.mark.parametrize("op", ["Softmax", "LogSoftmax"])
def test_final_softmax_is_dropped(op):
    model = export_onnx(_lenet(), (1, 12, 12), softmax=True)
    _node(model, "softmax").op_type = op
    x = _inputs((1, 12, 12))
    imported = import_model(model)
    assert f"{op} 'softmax' dropped: the argmax is unchanged" in imported.notes
    # The import's logits are the graph's before the softmax.
    _assert_matches(imported.layers, _reference(export_onnx(_lenet(), (1, 12, 12)), x), x)
    probs = _reference(model, x)
    assert np.array_equal(probs.argmax(axis=1), nn.predict(imported.layers, x))


def _pytorch_flatten(model, tensor="pool2_out"):
    """``x.view(x.size(0), -1)`` as torch.onnx exports it, instead of Flatten."""
    model = copy.deepcopy(model)
    graph = model.graph
    i = next(k for k, n in enumerate(graph.node) if n.op_type == "Flatten")
    out = graph.node[i].output[0]
    del graph.node[i]
    _add_init(model, "zero", np.array(0, dtype=np.int64))
    nodes = [
        helper.make_node("Shape", [tensor], ["shape"], name="Shape_1"),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], name="Gather_2", axis=0),
        helper.make_node("Constant", [], ["axes"], name="Constant_3",
                         value=numpy_helper.from_array(np.array([0], dtype=np.int64))),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"], name="Unsqueeze_4"),
        helper.make_node("Constant", [], ["minus1"], name="Constant_5",
                         value=numpy_helper.from_array(np.array([-1], dtype=np.int64))),
        helper.make_node("Concat", ["batch1", "minus1"], ["target"], name="Concat_6", axis=0),
        helper.make_node("Reshape", [tensor, "target"], [out], name="Reshape_7"),
    ]
    for k, n in enumerate(nodes):
        graph.node.insert(i + k, n)
    return model


@pytest.mark.parametrize("batch", [None, 1])
def test_pytorch_view_flatten(batch):
    model = _pytorch_flatten(export_onnx(_lenet(), (1, 12, 12), batch=batch))
    onnx.checker.check_model(model)
    x = _inputs((1, 12, 12), n=1 if batch else 5)
    imported = _check(model, x)
    assert [l["kind"] for l in imported.layers] == [l["kind"] for l in _lenet()]


@pytest.mark.parametrize("target", [[-1, 100], [0, -1], [1, -1]])
def test_reshape_flattens(target):
    model = export_onnx(_lenet(), (1, 12, 12), batch=1)
    node = _node(model, "flatten3")
    node.op_type = "Reshape"
    del node.attribute[:]
    _add_init(model, "target", np.array(target, dtype=np.int64))
    node.input.append("target")
    _check(model, _inputs((1, 12, 12), n=1))


def test_constant_nodes_and_folded_constants():
    """A weight from a Constant node, one computed from constants (Transpose
    of a Reshape): folded by the reference evaluator."""
    layers = _mlp()
    model = export_onnx(layers, (20,))
    graph = model.graph
    w0 = next(t for t in graph.initializer if t.name == "dense0.weight")
    w2 = next(t for t in graph.initializer if t.name == "dense2.weight")
    graph.initializer.remove(w0)
    graph.initializer.remove(w2)
    flat_t = numpy_helper.to_array(w2).T.reshape(-1)
    _add_init(model, "w2_flat_t", flat_t)
    _add_init(model, "w2_shape", np.array([16, 5], dtype=np.int64))
    for k, n in enumerate([
            helper.make_node("Constant", [], ["dense0.weight"], name="const_w0", value=w0),
            helper.make_node("Reshape", ["w2_flat_t", "w2_shape"], ["w2_t"], name="fold_1"),
            helper.make_node("Transpose", ["w2_t"], ["dense2.weight"], name="fold_2")]):
        graph.node.insert(k, n)
    _check(model, _inputs((20,)))


@pytest.mark.parametrize("bias_shape", [(4, 1, 1), (1, 4, 1, 1)])
def test_conv_bias_as_a_following_add(bias_shape):
    model = export_onnx(_lenet(), (1, 12, 12))
    conv = _node(model, "conv0")
    bias_name = conv.input.pop()
    bias = next(t for t in model.graph.initializer if t.name == bias_name)
    model.graph.initializer.remove(bias)
    _add_init(model, "conv_bias", numpy_helper.to_array(bias).reshape(bias_shape))
    model = _insert_after(model, "conv0_out", [
        helper.make_node("Add", ["conv0_out", "conv_bias"], ["biased"], name="bias_add")],
        "biased")
    imported = _check(model, _inputs((1, 12, 12)))
    assert "Add 'bias_add' folded into the bias of Conv 'conv0'" in imported.notes


@pytest.mark.parametrize("opset", [7, 8, 9])
@pytest.mark.parametrize("dense", ["gemm", "matmul"])
def test_old_opsets_are_converted(opset, dense):
    # IR 3 (opsets 7, 8) lists the initializers as graph inputs too.
    model = export_onnx(_lenet(), (1, 12, 12), dense=dense, opset=opset)
    assert opset > 8 or len(model.graph.input) > 1
    imported = _check(model, _inputs((1, 12, 12)))
    assert imported.opset == opset
    assert f"opset {opset} converted to opset 13 (onnx.version_converter)" in imported.notes


def test_old_opset_with_batch_normalization():
    layers = _with_random_bn(_lenet())
    model = export_onnx(layers, (1, 12, 12), opset=8, bn=1e-3)
    # The reference evaluator's BatchNormalization of opsets 7 to 13 is
    # wrong for inference: compare with the opset-15 export of the network.
    _check(model, _inputs((1, 12, 12)),
           reference=export_onnx(layers, (1, 12, 12), opset=15, bn=1e-3))


def test_opset_6_dropout_with_is_test():
    model = export_onnx(_mlp(), (20,), opset=7)
    model.opset_import[0].version = 6
    model = _insert_after(model, "relu1_out", [
        helper.make_node("Dropout", ["relu1_out"], ["dropped"], name="drop", is_test=1)],
        "dropped")
    imported = _check(model, _inputs((20,)), reference=export_onnx(_mlp(), (20,)))
    assert "Dropout 'drop' skipped (inference)" in imported.notes


def test_initializers_listed_as_inputs_are_not_data_inputs():
    model = export_onnx(_lenet(), (1, 12, 12))
    model.graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, t.dims)
                             for t in model.graph.initializer)
    _check(model, _inputs((1, 12, 12)))


@pytest.mark.parametrize("batch", [0, 1, 3])
def test_fixed_batch(batch):
    model = export_onnx(_lenet(), (1, 12, 12), batch=1)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = batch
    x = _inputs((1, 12, 12), n=max(batch, 1))
    imported = _check(model, x)
    assert any("fixed batch of 3" in n for n in imported.notes) == (batch == 3)


def test_load_onnx_names_the_network_after_the_file(tmp_path):
    model = export_onnx(_mlp(), (20,))
    model.graph.name = ""
    path = tmp_path / "digits_mlp.onnx"
    onnx.save(model, path)
    imported = load_onnx(path)
    assert isinstance(imported, ImportedNetwork) and imported.name == "digits_mlp"
    onnx.save(export_onnx(_mlp(), (20,), name="mlp"), path)
    assert load_onnx(str(path)).name == "mlp"


def test_imported_network_fine_tunes():
    """The import trains through nn.gradients (padded, strided layers)."""
    model = export_onnx(_geometry_cnn(True), (2, 20, 20))
    layers = import_model(model).layers
    x = _inputs((2, 20, 20), n=8)
    y = np.arange(8) % 5
    before = nn.gradients(layers, x, y)
    assert sorted(before) == [0, 3, 7]
    nn.train(layers, x, y, epochs=2, batch=4, lr=0.01)


# ---------------------------------------------------------------- onnx's own cases

_NODE_CASE_MODULES = ("conv", "maxpool", "averagepool", "gemm", "relu", "flatten", "matmul",
                      "reshape", "globalaveragepool", "globalmaxpool")

#: The cases of those modules the importer reads (all others are refused).
_NODE_CASES_READ = {
    "test_basic_conv_with_padding", "test_basic_conv_without_padding",
    "test_conv_with_strides_padding", "test_conv_with_strides_no_padding",
    "test_conv_with_strides_and_asymmetric_padding", "test_conv_with_autopad_same",
    "test_maxpool_2d_precomputed_pads", "test_maxpool_2d_precomputed_strides",
    "test_maxpool_2d_precomputed_same_upper", "test_maxpool_2d_default",
    "test_maxpool_2d_same_upper", "test_maxpool_2d_same_lower", "test_maxpool_2d_pads",
    "test_maxpool_2d_strides", "test_averagepool_2d_precomputed_pads",
    "test_averagepool_2d_precomputed_pads_count_include_pad",
    "test_averagepool_2d_precomputed_strides", "test_averagepool_2d_precomputed_same_upper",
    "test_averagepool_2d_default", "test_averagepool_2d_same_upper",
    "test_averagepool_2d_same_lower", "test_averagepool_2d_pads",
    "test_averagepool_2d_pads_count_include_pad", "test_averagepool_2d_strides",
    "test_gemm_default_zero_bias", "test_gemm_default_no_bias", "test_gemm_default_scalar_bias",
    "test_gemm_default_single_elem_vector_bias", "test_gemm_default_vector_bias",
    "test_gemm_transposeB", "test_gemm_alpha", "test_gemm_beta", "test_flatten_axis1",
    "test_flatten_default_axis", "test_flatten_negative_axis3", "test_matmul_2d",
    "test_reshape_reduced_dims", "test_globalaveragepool", "test_globalaveragepool_precomputed",
    "test_globalmaxpool", "test_globalmaxpool_precomputed",
}

_node_cases = {}


def _cases(module):
    """The backend test cases ``onnx.backend.test.case.node.{module}`` defines
    (importing it runs its exports, which append them to the package's list):
    the onnx wheel ships their generators, not the ``data/node`` files."""
    if module not in _node_cases:
        package = importlib.import_module("onnx.backend.test.case.node")
        start = len(package._NodeTestCases)
        importlib.import_module(f"onnx.backend.test.case.node.{module}")
        _node_cases[module] = package._NodeTestCases[start:]
    return _node_cases[module]


def _assert_one_line_refusal(error, model):
    """One line; a refusal of a node names it and one of the model's op types."""
    message = str(error)
    assert "\n" not in message and "Traceback" not in message
    named = re.search(r"node (#\d+|'[^']*') \((\w+)\): ", message)
    assert named or not re.search(r"(^|: )node ", message)
    if named:
        assert named.group(2) in {n.op_type for n in model.graph.node}


@pytest.mark.parametrize("module", _NODE_CASE_MODULES)
def test_onnx_backend_node_cases(module):
    read = []
    cases = _cases(module)
    assert cases
    for case in cases:
        model = copy.deepcopy(case.model)
        inputs, outputs = case.data_sets[0]
        graph = model.graph
        # The data input stays an input; the others become initializers.
        for value, array in list(zip(graph.input, inputs))[1:]:
            _add_init(model, value.name, array)
        del graph.input[1:]
        try:
            imported = import_model(model)
        except OnnxImportError as e:
            _assert_one_line_refusal(e, model)
            continue
        read.append(case.name)
        _assert_matches(imported.layers, np.asarray(outputs[0]), np.asarray(inputs[0]))
    assert set(read) == {c.name for c in cases} & _NODE_CASES_READ


_DATA = Path(onnx.__file__).parent / "backend" / "test" / "data"
_FILES = sorted(p.name for p in _DATA.glob("pytorch-*/*") if (p / "model.onnx").is_file())
#: PyTorch-exported files (opset 6 mostly) the importer reads.
_FILES_READ = {"test_AvgPool2d", "test_AvgPool2d_stride", "test_Conv2d_padding",
               "test_Conv2d_strided", "test_Linear", "test_Linear_no_bias", "test_MaxPool2d",
               "test_operator_conv", "test_operator_flatten"}


@pytest.mark.parametrize("name", _FILES)
def test_pytorch_exported_files(name):
    folder = next(_DATA.glob(f"pytorch-*/{name}"))
    try:
        imported = load_onnx(folder / "model.onnx")
    except OnnxImportError as e:
        assert name not in _FILES_READ
        assert str(e).startswith(f"{folder / 'model.onnx'}: ")
        _assert_one_line_refusal(e, onnx.load(folder / "model.onnx"))
        return
    assert name in _FILES_READ
    x = numpy_helper.to_array(onnx.load_tensor(folder / "test_data_set_0" / "input_0.pb"))
    y = numpy_helper.to_array(onnx.load_tensor(folder / "test_data_set_0" / "output_0.pb"))
    _assert_matches(imported.layers, y, x)


# ---------------------------------------------------------------- refusals


def _refused(model, *pieces):
    with pytest.raises(OnnxImportError) as e:
        import_model(model)
    message = str(e.value)
    assert "\n" not in message
    for piece in pieces:
        assert piece in message, message
    return message


def _graph(nodes, inits=(), inputs=None, outputs=("y",), opset=13):
    inputs = inputs or [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 6, 6])]
    graph = helper.make_graph(
        nodes, "g", inputs,
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        initializer=[numpy_helper.from_array(np.asarray(a, dtype=np.float32), n)
                     for n, a in inits])
    return helper.make_model(graph, opset_imports=[helper.make_operatorsetid("", opset)])


_W = ("w", np.ones((3, 2, 3, 3)))


def test_refuses_a_file_that_is_not_onnx(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("these are not the weights you are looking for\n" * 20)
    with pytest.raises(OnnxImportError, match=rf"^{path}: not an ONNX model"):
        load_onnx(path)


def test_refuses_a_truncated_file(tmp_path):
    path = tmp_path / "cut.onnx"
    path.write_bytes(export_onnx(_lenet(), (1, 12, 12)).SerializeToString()[:300])
    with pytest.raises(OnnxImportError, match=rf"^{path}: not an ONNX model") as e:
        load_onnx(path)
    assert "\n" not in str(e.value)


def test_refuses_a_missing_file(tmp_path):
    with pytest.raises(OnnxImportError, match=rf"^{tmp_path / 'none.onnx'}: no such file$"):
        load_onnx(tmp_path / "none.onnx")


def test_refusal_of_a_file_names_the_path(tmp_path):
    path = tmp_path / "lstm.onnx"
    onnx.save(_graph([helper.make_node("LSTM", ["x"], ["y"], name="n3")]), path)
    with pytest.raises(OnnxImportError, match=rf"^{path}: node 'n3' \(LSTM\): op type LSTM"):
        load_onnx(path)


def test_refuses_an_empty_graph():
    _refused(_graph([], outputs=("x",)), "the graph is empty (no nodes)")


def test_refuses_an_unsupported_op():
    message = _refused(_graph([helper.make_node("LSTM", ["x"], ["y"], name="n3")]))
    assert message == ("node 'n3' (LSTM): op type LSTM is not supported (supported: Gemm, "
                       "MatMul, Add, Conv, Relu, MaxPool, AveragePool, GlobalMaxPool, "
                       "GlobalAveragePool, Flatten, Reshape, BatchNormalization, Dropout, "
                       "Identity, Softmax, LogSoftmax, and constant nodes)")


def test_unnamed_nodes_are_named_by_index():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["c"]),
                    helper.make_node("Tanh", ["c"], ["y"])], [_W])
    _refused(model, "node #1 (Tanh): op type Tanh is not supported")
    # Also through the version converter, which inserts nodes of its own.
    _refused(_graph([helper.make_node("Conv", ["x", "w"], ["c"]),
                     helper.make_node("Tanh", ["c"], ["y"])], [_W], opset=8),
             "node #1 (Tanh)")


def test_refuses_a_second_data_input():
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, ["N", 4]) for n in "xz"]
    _refused(_graph([helper.make_node("Add", ["x", "z"], ["y"], name="add")], inputs=inputs),
             "second data input 'z'")


def test_refuses_a_residual_connection():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1] * 4),
                    helper.make_node("Relu", ["c"], ["r"], name="relu"),
                    helper.make_node("Add", ["r", "c"], ["y"], name="add_7")],
                   [("w", np.ones((2, 2, 3, 3)))])
    assert _refused(model) == ("node 'add_7' (Add): both inputs are computed tensors (a branch "
                               "or residual connection): eiegen runs a chain of layers")


def test_refuses_a_tensor_used_twice():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                    helper.make_node("Relu", ["c"], ["r"], name="relu"),
                    helper.make_node("MaxPool", ["c"], ["y"], name="pool", kernel_shape=[2, 2])],
                   [_W])
    _refused(model, "node 'pool' (MaxPool): input 'c' is also used by another node (a branch)")


def test_refuses_a_data_input_that_is_not_float():
    inputs = [helper.make_tensor_value_info("x", TensorProto.INT8, ["N", 4])]
    _refused(_graph([helper.make_node("Relu", ["x"], ["y"])], inputs=inputs),
             "input 'x' is INT8, not float")


def test_refuses_a_dynamic_dimension():
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, "H", 6])]
    _refused(_graph([helper.make_node("Conv", ["x", "w"], ["y"])], [_W], inputs=inputs),
             "input 'x' has dynamic dimension 2 ('H'): export with a fixed input shape")


def test_refuses_two_outputs():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], [_W],
                   outputs=("y", "w"))
    _refused(model, "the graph has 2 outputs")


def test_refuses_an_output_that_is_not_the_end_of_the_chain():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv"),
                    helper.make_node("Relu", ["y"], ["r"], name="relu")], [_W])
    _refused(model, "graph output 'y' is not the end of the chain")


@pytest.mark.parametrize("attrs, piece", [
    ({"group": 2}, "group 2 is not supported: eiegen's cores run group 1 convolutions"),
    ({"dilations": [2, 2]}, "dilations [2, 2] are not supported"),
    ({"auto_pad": "SAME_SIDEWAYS"}, "auto_pad 'SAME_SIDEWAYS' is not supported"),
])
def test_refuses_conv_attributes(attrs, piece):
    w = ("w", np.ones((4, 1 if attrs.get("group") else 2, 3, 3)))
    _refused(_graph([helper.make_node("Conv", ["x", "w"], ["y"], name="conv2", **attrs)], [w]),
             f"node 'conv2' (Conv): {piece}")


def test_refuses_a_non_square_kernel():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["y"], name="c")],
                   [("w", np.ones((3, 2, 3, 2)))])
    _refused(model, "node 'c' (Conv): kernel 3x2 is not square")


@pytest.mark.parametrize("attrs, c, piece", [
    ({"transA": 1}, np.ones(3), "transA 1 (a transposed data input) is not supported"),
    ({}, np.ones((5, 3)), "input C of shape (5, 3) is not a bias of outputs (N, 3)"),
])
def test_refuses_gemm_forms(attrs, c, piece):
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])]
    model = _graph([helper.make_node("Gemm", ["x", "b", "c"], ["y"], name="fc", **attrs)],
                   [("b", np.ones((4, 3))), ("c", c)], inputs=inputs)
    _refused(model, f"node 'fc' (Gemm): {piece}")


def test_refuses_batch_normalization_after_nothing_weighted():
    stats = [(n, np.ones(2)) for n in ("s", "b", "m", "v")]
    model = _graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                    helper.make_node("Relu", ["c"], ["r"], name="relu"),
                    helper.make_node("BatchNormalization", ["r", "s", "b", "m", "v"], ["y"],
                                     name="bn")], [("w", np.ones((2, 2, 3, 3)))] + stats)
    _refused(model, "node 'bn' (BatchNormalization): batch normalization is folded into the "
             "Conv, Gemm or MatMul right before it, and there is none")


def test_refuses_batch_normalization_in_training_mode():
    stats = [(n, np.ones(3)) for n in ("s", "b", "m", "v")]
    model = _graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                    helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"],
                                     name="bn", training_mode=1)], [_W] + stats, opset=15)
    _refused(model, "node 'bn' (BatchNormalization): training mode")


def test_refuses_a_relu_on_the_input():
    _refused(_graph([helper.make_node("Relu", ["x"], ["y"], name="r")]),
             "node 'r' (Relu): a Relu must follow a layer")


@pytest.mark.parametrize("attrs, piece", [
    ({"ceil_mode": 1}, "ceil_mode 1 adds a partial window here"),
    ({"dilations": [2, 2]}, "dilations [2, 2] are not supported"),
    ({"pads": [3, 0, 0, 0]}, "pads [3, 0, 0, 0] must be smaller than the kernel"),
])
def test_refuses_pool_attributes(attrs, piece):
    model = _graph([helper.make_node("MaxPool", ["x"], ["y"], name="p", kernel_shape=[3, 3],
                                     strides=[2, 2], **attrs)])
    _refused(model, f"node 'p' (MaxPool): {piece}")


def test_ceil_mode_that_changes_nothing_is_read():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                    helper.make_node("AveragePool", ["c"], ["p"], name="p", kernel_shape=[2, 2],
                                     strides=[2, 2], ceil_mode=1),
                    helper.make_node("Flatten", ["p"], ["y"], name="f")], [_W])
    x = _inputs((2, 6, 6))
    _assert_matches(import_model(model).layers, _reference(model, x, "x"), x)


def test_refuses_a_softmax_inside_the_network():
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])]
    model = _graph([helper.make_node("MatMul", ["x", "b"], ["m"], name="mm"),
                    helper.make_node("Softmax", ["m"], ["s"], name="sm"),
                    helper.make_node("MatMul", ["s", "b2"], ["y"], name="mm2")],
                   [("b", np.ones((4, 4))), ("b2", np.ones((4, 2)))], inputs=inputs)
    _refused(model, "node 'sm' (Softmax): Softmax is supported only as the final node")


def test_refuses_a_reshape_that_is_not_a_flatten():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                    helper.make_node("Reshape", ["c", "shape"], ["y"], name="rs")],
                   [_W])
    _add_init(model, "shape", np.array([-1, 3, 16], dtype=np.int64))
    _refused(model, "node 'rs' (Reshape): a Reshape to [-1, 3, 16] of an input (N, 3, 4, 4) "
             "is not a flatten of each sample")


def test_refuses_a_flatten_that_keeps_axes():
    _refused(_graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                     helper.make_node("Flatten", ["c"], ["y"], name="f", axis=2)], [_W]),
             "node 'f' (Flatten): axis 2 is not supported")


@pytest.mark.parametrize("const, piece", [
    (np.ones((1, 3, 4, 4)) * np.arange(16).reshape(4, 4), "varies across positions"),
    (np.ones((2, 3, 1, 1)), "is not a bias of outputs (N, 3, 4, 4)"),
])
def test_refuses_an_add_that_is_not_a_bias(const, piece):
    model = _graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                    helper.make_node("Add", ["c", "k"], ["y"], name="add")], [_W, ("k", const)])
    _refused(model, f"node 'add' (Add): the added constant of shape {const.shape} {piece}")


def test_refuses_an_add_after_a_relu():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                    helper.make_node("Relu", ["c"], ["r"], name="relu"),
                    helper.make_node("Add", ["r", "k"], ["y"], name="add")],
                   [_W, ("k", np.ones(1))])
    _refused(model, "node 'add' (Add): an Add of a constant is supported only as the bias")


def test_refuses_what_the_version_converter_cannot_convert():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
                    helper.make_node("Scan", ["c"], ["y"], name="scan")], [_W], opset=8)
    _refused(model, "opset 8 could not be converted to opset 13 by onnx.version_converter: ")


def test_refuses_a_malformed_node_in_one_line():
    model = _graph([helper.make_node("Conv", ["x", "w"], ["y"], name="c", strides=[2])], [_W])
    _refused(model, "node 'c' (Conv): malformed node (IndexError: ")


def test_weights_in_external_data_files(tmp_path):
    model = export_onnx(_lenet(), (1, 12, 12))
    path = tmp_path / "big.onnx"
    onnx.save(copy.deepcopy(model), path, save_as_external_data=True, all_tensors_to_one_file=True,
              location="big.weights", size_threshold=0)
    assert (tmp_path / "big.weights").is_file()
    x = _inputs((1, 12, 12))
    _assert_matches(load_onnx(path).layers, _reference(model, x), x)
    (tmp_path / "big.weights").unlink()
    with pytest.raises(OnnxImportError, match=rf"^{path}: its external weight data cannot be read"):
        load_onnx(path)
