"""An ``sw.train.nn`` layer list written as an ONNX graph.

The graph is what the common exporters write for the same network:
``Gemm`` with ``transB=1`` for a dense layer (as ``torch.onnx`` exports
``nn.Linear``) or ``MatMul`` then ``Add`` (as tf2onnx exports a Keras
``Dense``), ``Conv`` with the bias as its third input, ``MaxPool`` /
``AveragePool`` with their attributes, ``Flatten`` (axis 1),
``BatchNormalization`` in its inference form and, optionally, a final
``Softmax``. Weights are float32 initializers; the data input is float32,
``(N, *input_shape)``.

Used to build test graphs from networks eiegen trains (so the importer's
tests run real networks, not hand-written single nodes), by benchmarks, and
by users who want to take an eiegen network to other ONNX tools.
"""

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from sw.train import nn

__all__ = ["export_onnx"]

_DENSE_FORMS = ("gemm", "matmul")


def _initializer(graph_inits, name, array):
    graph_inits.append(numpy_helper.from_array(np.asarray(array, dtype=np.float32), name))
    return name


def export_onnx(layers, input_shape, *, name="eiegen", dense="gemm", opset=13, batch=None,
                softmax=False, bn=None):
    """The ONNX model of ``layers`` (dense, conv, relu, pool, flatten, bn).

    Parameters
    ----------
    layers : list of dict
        An ``sw.train.nn`` layer list.
    input_shape : tuple of int
        One sample's shape: ``(C, H, W)`` or ``(F,)``.
    name : str
        The graph's name; nodes are named ``{kind}{index}`` (``conv0``, ``relu1``...).
    dense : {"gemm", "matmul"}
        ``Gemm`` with ``transB=1`` (PyTorch) or ``MatMul`` + ``Add`` (Keras / tf2onnx).
    opset : int
        The default domain's opset the model declares (7 and up: the nodes
        written are valid from opset 7 on).
    batch : None or 1
        The batch dimension: symbolic (``"N"``) or fixed at 1.
    softmax : bool
        End with a ``Softmax`` over the classes.
    bn : float, optional
        The ``epsilon`` of the ``BatchNormalization`` nodes; by default
        ``nn.BN_EPS``, the one ``nn``'s bn layers use, so that the graph
        computes what ``nn.logits`` does.

    Returns
    -------
    onnx.ModelProto
        Checked with ``onnx.checker.check_model``.
    """
    if dense not in _DENSE_FORMS:
        raise ValueError(f"dense must be 'gemm' or 'matmul', not {dense!r}")
    if batch not in (None, 1):
        raise ValueError(f"batch must be None (symbolic) or 1, not {batch!r}")
    if opset < 7:
        raise ValueError(f"opset must be 7 or more (numpy broadcasting of Add), not {opset}")
    eps = nn.BN_EPS if bn is None else float(bn)
    nodes, inits = [], []
    cur = "input"
    for i, layer in enumerate(layers):
        kind = layer["kind"]
        out = f"{kind}{i}_out"
        node_name = f"{kind}{i}"
        if kind == "dense" and dense == "gemm":
            w = _initializer(inits, f"{node_name}.weight", layer["W"])
            b = _initializer(inits, f"{node_name}.bias", layer["b"])
            nodes.append(helper.make_node("Gemm", [cur, w, b], [out], name=node_name,
                                          alpha=1.0, beta=1.0, transB=1))
        elif kind == "dense":
            w = _initializer(inits, f"{node_name}.kernel", np.asarray(layer["W"]).T)
            b = _initializer(inits, f"{node_name}.bias", layer["b"])
            mid = f"{node_name}_matmul_out"
            nodes.append(helper.make_node("MatMul", [cur, w], [mid], name=f"{node_name}_matmul"))
            nodes.append(helper.make_node("Add", [mid, b], [out], name=f"{node_name}_add"))
        elif kind == "conv":
            stride, pads = nn.conv_geometry(layer)
            r = layer["W"].shape[2]
            w = _initializer(inits, f"{node_name}.weight", layer["W"])
            b = _initializer(inits, f"{node_name}.bias", layer["b"])
            nodes.append(helper.make_node("Conv", [cur, w, b], [out], name=node_name,
                                          kernel_shape=[r, r], strides=list(stride),
                                          pads=list(pads)))
        elif kind == "relu":
            nodes.append(helper.make_node("Relu", [cur], [out], name=node_name))
        elif kind == "pool":
            mode, kernel, stride, pads, count_pads = nn.pool_geometry(layer)
            attrs = {"kernel_shape": list(kernel), "strides": list(stride), "pads": list(pads)}
            if mode == "avg":
                attrs["count_include_pad"] = int(count_pads)
            nodes.append(helper.make_node("MaxPool" if mode == "max" else "AveragePool",
                                          [cur], [out], name=node_name, **attrs))
        elif kind == "flatten":
            nodes.append(helper.make_node("Flatten", [cur], [out], name=node_name, axis=1))
        elif kind == "bn":
            names = [_initializer(inits, f"{node_name}.{key}", layer[key])
                     for key in ("gamma", "beta", "mean", "var")]
            nodes.append(helper.make_node("BatchNormalization", [cur] + names, [out],
                                          name=node_name, epsilon=eps))
        else:
            raise ValueError(f"layer {i}: kind {kind!r} cannot be exported to ONNX "
                             "(dense, conv, relu, pool, flatten and bn can)")
        cur = out
    if softmax:
        nodes.append(helper.make_node("Softmax", [cur], ["probabilities"], name="softmax",
                                      axis=1))
        cur = "probabilities"
    dim0 = "N" if batch is None else 1
    out_shape = nn.forward(layers, np.zeros((1, *input_shape)))[0].shape[1:]
    graph = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [dim0, *input_shape])],
        [helper.make_tensor_value_info(cur, TensorProto.FLOAT, [dim0, *out_shape])],
        initializer=inits)
    opsets = [helper.make_operatorsetid("", opset)]
    ir_version = helper.find_min_ir_version_for(opsets)
    if ir_version < 4:
        # IR 3 (opsets 7 and 8) lists every initializer as a graph input too.
        graph.input.extend(helper.make_tensor_value_info(t.name, t.data_type, t.dims)
                           for t in inits)
    # The IR version of the opset, not the library's newest: older readers load it.
    model = helper.make_model(graph, producer_name="eiegen", opset_imports=opsets,
                              ir_version=ir_version)
    onnx.checker.check_model(model)
    return model
