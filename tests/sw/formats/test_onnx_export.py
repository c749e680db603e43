"""The ONNX exporter (``sw.formats.onnx_export``): checked models that the
reference evaluator runs to ``nn.logits``, and its parameter checks."""

import numpy as np
import onnx
import pytest
from onnx.reference import ReferenceEvaluator

from sw.formats.onnx_export import export_onnx
from sw.train import cnn, nn


def _lenet():
    return nn.from_cnn(cnn.init((1, 10, 10), {"convs": [(3, 3)], "hidden": [6], "classes": 4}, 2))


@pytest.mark.parametrize("dense", ["gemm", "matmul"])
@pytest.mark.parametrize("opset", [8, 13, 17])
@pytest.mark.parametrize("batch", [None, 1])
def test_reference_evaluator_runs_the_export_to_nn_logits(dense, opset, batch):
    layers = _lenet()
    layers[0].update(stride=(2, 1), pads=(1, 0, 2, 1))
    layers[2].update(mode="avg", kernel=(2, 3), stride=(1, 2), pads=(1, 1, 0, 1),
                     count_pads=True)
    fc = nn.forward(layers[:4], np.zeros((1, 1, 10, 10)))[0].shape[1]
    layers[4]["W"] = np.random.default_rng(0).normal(size=(6, fc))
    model = export_onnx(layers, (1, 10, 10), dense=dense, opset=opset, batch=batch)
    onnx.checker.check_model(model)
    assert model.opset_import[0].version == opset
    dim0 = model.graph.input[0].type.tensor_type.shape.dim[0]
    assert (dim0.dim_param == "N") if batch is None else (dim0.dim_value == 1)
    x = np.random.default_rng(1).normal(size=(1 if batch else 3, 1, 10, 10))
    ref = ReferenceEvaluator(model).run(None, {"input": x.astype(np.float32)})[0]
    np.testing.assert_allclose(nn.logits(layers, x), ref, rtol=0,
                               atol=1e-5 * np.abs(ref).max())


def test_softmax_and_node_names():
    model = export_onnx(_lenet(), (1, 10, 10), softmax=True)
    assert [n.name for n in model.graph.node] == ["conv0", "relu1", "pool2", "flatten3",
                                                   "dense4", "relu5", "dense6", "softmax"]
    assert model.graph.output[0].name == "probabilities"


def test_batch_normalization_epsilon():
    layers = nn.with_bn(_lenet())
    model = export_onnx(layers, (1, 10, 10), bn=1e-3)
    eps = [a.f for n in model.graph.node if n.op_type == "BatchNormalization"
           for a in n.attribute if a.name == "epsilon"]
    assert eps == pytest.approx([1e-3, 1e-3])
    default = export_onnx(layers, (1, 10, 10))
    assert [a.f for n in default.graph.node if n.op_type == "BatchNormalization"
            for a in n.attribute if a.name == "epsilon"] == pytest.approx([nn.BN_EPS] * 2)


@pytest.mark.parametrize("kwargs, message", [
    ({"dense": "linear"}, "dense must be 'gemm' or 'matmul', not 'linear'"),
    ({"batch": 4}, "batch must be None (symbolic) or 1, not 4"),
    ({"opset": 6}, "opset must be 7 or more (numpy broadcasting of Add), not 6"),
])
def test_init_wrong_parameters(kwargs, message):
    with pytest.raises(ValueError) as e:
        export_onnx(_lenet(), (1, 10, 10), **kwargs)
    assert str(e.value) == message


def test_init_wrong_layer_kind():
    with pytest.raises(ValueError) as e:
        export_onnx([{"kind": "sign", "beta": True}], (4,))
    assert str(e.value) == ("layer 0: kind 'sign' cannot be exported to ONNX "
                            "(dense, conv, relu, pool, flatten and bn can)")
