"""ONNX files (exported from PyTorch, Keras, ...) as eiegen's float networks.

``load_onnx`` reads a file and ``import_model`` turns a loaded
``onnx.ModelProto`` into an ``ImportedNetwork``: the ``sw.train.nn`` layer
list (dense, conv, relu, pool, flatten) that computes what the graph does,
to float32 rounding, for one data input.

What is read
------------
* ``Gemm`` (``alpha``, ``beta``, ``transB``; ``transA`` 0; ``C`` optional
  and per output feature) and ``MatMul`` by a constant, each optionally
  followed by an ``Add`` of a per-feature constant (the bias): dense layers.
* ``Conv`` (2-D, square kernel, ``group`` 1, ``dilations`` 1, ``strides``,
  ``pads`` or ``auto_pad``), its bias as third input or as a following
  ``Add`` of a per-channel constant: conv layers.
* ``Relu``; ``MaxPool`` and ``AveragePool`` (any 2-D kernel, strides,
  pads or ``auto_pad``, ``count_include_pad``; ``ceil_mode`` 1 only where it
  changes nothing), ``GlobalMaxPool`` / ``GlobalAveragePool``: pool layers.
* ``Flatten`` (axis 1) and a ``Reshape`` that flattens each sample (or
  changes nothing): flatten layers.
* ``BatchNormalization`` (inference) right after a Conv / Gemm / MatMul
  (+ Add): folded into its weights with the file's epsilon.
* ``Dropout`` and ``Identity``: skipped; a final ``Softmax`` /
  ``LogSoftmax``: dropped (the argmax is unchanged).
* Constants: initializers, ``Constant`` nodes and any node whose inputs are
  all constants, evaluated one node at a time by
  ``onnx.reference.ReferenceEvaluator`` (so folding is as general as the
  reference); ``Shape`` of a computed tensor is a constant too, its shape
  being known (a symbolic batch taken as 1): PyTorch's
  ``x.view(x.size(0), -1)`` (Shape, Gather, Unsqueeze, Concat, Reshape)
  folds into a flatten.
* Files of opset below 11 are first converted to opset 13 by
  ``onnx.version_converter`` (a symbolic batch fixed at 1 for it: some of
  its adapters need numbers); initializers also listed as graph inputs (IR
  3) are constants, not data inputs.
* The one data input is float (32, 64 or 16 bits), its batch axis symbolic,
  0 or a number (a fixed batch is taken as the batch axis, with a note), the
  rest of its shape fixed.

A chain only: every computed tensor feeds one node (``Shape`` aside), so
branches and residual connections are refused. Shapes are tracked along the
chain (conv and pool sizes by ONNX's formulas), not taken from the file's
shape annotations.

Anything else is refused with an ``OnnxImportError`` of one line naming the
node (its name, or ``#index``), its op type and the reason.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import onnx
import onnx.checker
import onnx.external_data_helper
from onnx import helper, numpy_helper

from sw.errors import EiegenError

__all__ = ["OnnxImportError", "ImportedNetwork", "load_onnx", "import_model", "SUPPORTED_OPS"]

#: The op types a data tensor may flow through (constants may use any op the
#: reference evaluator runs).
SUPPORTED_OPS = ("Gemm", "MatMul", "Add", "Conv", "Relu", "MaxPool", "AveragePool",
                 "GlobalMaxPool", "GlobalAveragePool", "Flatten", "Reshape",
                 "BatchNormalization", "Dropout", "Identity", "Softmax", "LogSoftmax")

#: Files below this opset are converted to ``_CONVERTED_OPSET`` first.
_OLDEST_READ_OPSET = 11
_CONVERTED_OPSET = 13
_FLOAT_TYPES = {onnx.TensorProto.FLOAT: "float32", onnx.TensorProto.DOUBLE: "float64",
                onnx.TensorProto.FLOAT16: "float16"}


class OnnxImportError(EiegenError):
    """An ONNX file eiegen cannot run, with the one-line reason."""


@dataclass
class ImportedNetwork:
    """An ONNX graph as an ``sw.train.nn`` layer list.

    Attributes
    ----------
    name : str
        The graph's name, or the file's stem.
    input_name : str
        The graph's data input.
    input_shape : tuple of int
        One sample's shape (the batch axis removed): ``(C, H, W)``, ``(F,)``...
    layers : list of dict
        dense, conv, relu, pool and flatten layers (batch normalization folded).
    notes : list of str
        What the import changed on the way: conversion, folding, dropped nodes.
    opset : int
        The default domain's opset the file declared.
    """

    name: str
    input_name: str
    input_shape: tuple
    layers: list
    notes: list = field(default_factory=list)
    opset: int = 0


class _Refusal(Exception):
    """A problem of the graph; ``load_onnx`` / ``import_model`` add the context."""


def load_onnx(path):
    """The ``ImportedNetwork`` of the ONNX file ``path``.

    Raises
    ------
    OnnxImportError
        ``"{path}: {problem}"``: a missing, unreadable or non-ONNX file, or a
        graph eiegen cannot run.
    """
    path = Path(path)
    if path.is_dir():
        raise OnnxImportError(f"{path}: a folder, not an ONNX file")
    if not path.is_file():
        raise OnnxImportError(f"{path}: no such file")
    data = path.read_bytes()
    try:
        model = onnx.load_model_from_string(data)
    except Exception as e:  # protobuf raises its own DecodeError, or others on garbage
        raise OnnxImportError(f"{path}: not an ONNX model (the file does not parse: "
                              f"{_first_line(e)})") from None
    if not data or not model.ir_version or not model.HasField("graph"):
        raise OnnxImportError(f"{path}: not an ONNX model (no IR version or no graph)")
    try:
        # Weights of large models live in files next to the model.
        onnx.external_data_helper.load_external_data_for_model(model, str(path.parent))
    except (OSError, onnx.checker.ValidationError) as e:
        raise OnnxImportError(f"{path}: its external weight data cannot be read "
                              f"({_first_line(e)})") from None
    try:
        return _import(model, model.graph.name or path.stem)
    except _Refusal as e:
        raise OnnxImportError(f"{path}: {e}") from None


def import_model(model, name=None):
    """The ``ImportedNetwork`` of a loaded ``onnx.ModelProto``.

    ``name`` defaults to the graph's name. Raises ``OnnxImportError`` (one
    line) for a graph eiegen cannot run.
    """
    try:
        return _import(model, name or model.graph.name or "model")
    except _Refusal as e:
        raise OnnxImportError(str(e)) from None


def _first_line(e):
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]


def _default_opset(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    raise _Refusal("the model imports no default-domain (ai.onnx) opset")


def _import(model, name):
    if not model.HasField("graph") or not model.graph.node:
        raise _Refusal("the graph is empty (no nodes)")
    opset = declared = _default_opset(model)
    notes = []
    if declared < _OLDEST_READ_OPSET:
        model = _prepared_for_conversion(model)
        try:
            model = onnx.version_converter.convert_version(model, _CONVERTED_OPSET)
        except Exception as e:  # the converter raises bare RuntimeErrors / ConvertErrors
            raise _Refusal(f"opset {declared} could not be converted to opset "
                           f"{_CONVERTED_OPSET} by onnx.version_converter: "
                           f"{_first_line(e)}") from None
        opset = _CONVERTED_OPSET
        notes.append(f"opset {declared} converted to opset {opset} (onnx.version_converter)")
    walk = _Walk(model.graph, opset, notes)
    layers = walk.run()
    return ImportedNetwork(name=name, input_name=walk.input_name,
                           input_shape=walk.input_shape, layers=layers, notes=notes,
                           opset=declared)


_INDEX_NAME = "__eiegen_node_index_"


def _prepared_for_conversion(model):
    """A copy with the unnamed nodes named by index and a symbolic batch
    fixed at 1: the converter inserts nodes of its own (a refusal should
    count the file's nodes), and some of its adapters (Dropout, Gemm of
    opset 6) assert that every dimension is a number. The importer takes a
    symbolic batch as 1 anyway (see ``Shape``)."""
    named = onnx.ModelProto()
    named.CopyFrom(model)
    for i, node in enumerate(named.graph.node):
        if not node.name:
            node.name = f"{_INDEX_NAME}{i}"
    graph = named.graph
    for value in list(graph.input) + list(graph.output) + list(graph.value_info):
        dims = value.type.tensor_type.shape.dim
        if value.type.HasField("tensor_type") and dims and dims[0].HasField("dim_param"):
            dims[0].dim_value = 1
    return named


def _batched(shape):
    """``(N, 3, 32, 32)``: a per-sample shape with its batch axis."""
    return "(" + ", ".join(["N", *map(str, shape)]) + ")"


def _who(node, index):
    if node.name.startswith(_INDEX_NAME):
        return f"node #{node.name[len(_INDEX_NAME):]}"
    return f"node {node.name!r}" if node.name else f"node #{index}"


def _label(node):
    """A node's name for the notes."""
    if not node.name or node.name.startswith(_INDEX_NAME):
        return "(unnamed)"
    return repr(node.name)


def _attrs(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def _decode(value):
    return value.decode() if isinstance(value, bytes) else value


class _Walk:
    """One pass over a graph's nodes (topologically sorted, as ONNX requires),
    following the one data tensor from the input to the output."""

    def __init__(self, graph, opset, notes):
        self.graph, self.opset, self.notes = graph, opset, notes
        self.consts = {}
        for t in graph.initializer:
            try:
                self.consts[t.name] = numpy_helper.to_array(t)
            except Exception as e:  # external data not loaded, a malformed tensor
                raise _Refusal(f"initializer {t.name!r} cannot be read ({_first_line(e)})") \
                    from None
        self.layers = []
        self._read_input()
        #: The data tensor now: its name, and every data tensor's per-sample shape.
        self.cur = self.input_name
        self.shapes = {self.cur: self.input_shape}
        self.consumed = set()
        #: The weighted layer whose output ``cur`` is, while nothing came between
        #: (an Add may still be its bias, a BatchNormalization folds into it).
        self.open = None

    # -------------------------------------------------------------- input, output

    def _read_input(self):
        data = [i for i in self.graph.input if i.name not in self.consts]
        if not data:
            raise _Refusal("the graph has no data input (every input is an initializer)")
        if len(data) > 1:
            raise _Refusal(f"second data input {data[1].name!r} (inputs "
                           f"{', '.join(repr(d.name) for d in data)}): eiegen runs "
                           "networks of one input")
        x = data[0]
        self.input_name = x.name
        t = x.type.tensor_type
        if not x.type.HasField("tensor_type"):
            raise _Refusal(f"input {x.name!r} is not a tensor")
        if t.elem_type not in _FLOAT_TYPES:
            type_name = onnx.TensorProto.DataType.Name(t.elem_type)
            raise _Refusal(f"input {x.name!r} is {type_name}, not float: eiegen runs "
                           "float networks (quantized graphs are not read)")
        if not t.HasField("shape") or not t.shape.dim:
            raise _Refusal(f"input {x.name!r} has no shape: export with a fixed input shape")
        dims = list(t.shape.dim)
        if len(dims) < 2:
            raise _Refusal(f"input {x.name!r} has rank {len(dims)}: expected a batch axis "
                           "and a sample shape")
        batch = dims[0]
        self.batch = 1
        if batch.HasField("dim_value") and batch.dim_value > 1:
            self.batch = batch.dim_value
            self.notes.append(f"input {x.name!r} has a fixed batch of {batch.dim_value}: "
                              "taken as the batch axis")
        shape = []
        for i, d in enumerate(dims[1:], start=1):
            if not d.HasField("dim_value") or d.dim_value <= 0:
                what = f" ({d.dim_param!r})" if d.dim_param else ""
                raise _Refusal(f"input {x.name!r} has dynamic dimension {i}{what}: export "
                               "with a fixed input shape")
            shape.append(d.dim_value)
        self.input_shape = tuple(shape)

    def run(self):
        for index, node in enumerate(self.graph.node):
            self._node(index, node)
        outputs = list(self.graph.output)
        if len(outputs) != 1:
            raise _Refusal(f"the graph has {len(outputs)} outputs "
                           f"({', '.join(repr(o.name) for o in outputs)}): eiegen runs "
                           "networks of one output")
        if outputs[0].name != self.cur:
            raise _Refusal(f"graph output {outputs[0].name!r} is not the end of the chain "
                           f"of layers (that is {self.cur!r})")
        if not self.layers:
            raise _Refusal("the graph computes no layer (its output is its input)")
        return self.layers

    # -------------------------------------------------------------- nodes

    def _node(self, index, node):
        who = f"{_who(node, index)} ({node.op_type})"
        inputs = [i for i in node.input if i]
        data = [i for i in inputs if i not in self.consts]
        if node.op_type == "Shape" and len(data) == 1 and data[0] in self.shapes:
            sample = np.zeros((self.batch, *self.shapes[data[0]]), dtype=np.float32)
            self._fold(who, node, {data[0]: sample})
            return
        if not data:
            self._fold(who, node, {})
            return
        if len(data) > 1:
            raise _Refusal(f"{who}: {'both' if len(data) == 2 else 'several'} inputs are "
                           "computed tensors (a branch or residual connection): eiegen runs "
                           "a chain of layers")
        x = data[0]
        if x not in self.shapes:
            raise _Refusal(f"{who}: input {x!r} is neither a constant nor computed by an "
                           "earlier node")
        if x != self.cur or x in self.consumed:
            raise _Refusal(f"{who}: input {x!r} is also used by another node (a branch): "
                           "eiegen runs a chain of layers")
        if node.domain not in ("", "ai.onnx") or node.op_type not in SUPPORTED_OPS:
            domain = f" of domain {node.domain!r}" if node.domain not in ("", "ai.onnx") else ""
            raise _Refusal(f"{who}: op type {node.op_type}{domain} is not supported (supported: "
                           f"{', '.join(SUPPORTED_OPS)}, and constant nodes)")
        self.consumed.add(x)
        handler = getattr(self, "_op_" + node.op_type)
        try:
            shape = handler(who, node, x, _attrs(node))
        except (ValueError, TypeError, KeyError, IndexError, AttributeError) as e:
            # Malformed attributes or inputs the checks above did not foresee:
            # still one line, naming the node.
            raise _Refusal(f"{who}: malformed node ({type(e).__name__}: "
                           f"{_first_line(e)})") from None
        self.cur = node.output[0]
        self.shapes[self.cur] = shape

    def _fold(self, who, node, data_inputs):
        """Evaluate a node of constant inputs with the reference evaluator."""
        feeds = {name: self.consts[name] for name in node.input if name in self.consts}
        feeds.update(data_inputs)
        graph = helper.make_graph(
            [node], "fold",
            [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
             for n, a in feeds.items()],
            [helper.make_empty_tensor_value_info(o) for o in node.output if o])
        opsets = [helper.make_operatorsetid(node.domain or "", self.opset)]
        if node.domain not in ("", "ai.onnx"):
            opsets.append(helper.make_operatorsetid("", self.opset))
        try:
            from onnx.reference import ReferenceEvaluator
            values = ReferenceEvaluator(helper.make_model(graph, opset_imports=opsets)).run(
                None, feeds)
        except Exception as e:  # whatever the reference raises for this op
            raise _Refusal(f"{who}: a node of constant inputs that could not be evaluated "
                           f"({_first_line(e)})") from None
        for name, value in zip([o for o in node.output if o], values):
            self.consts[name] = np.asarray(value)

    def _constant(self, who, node, k, what):
        if len(node.input) <= k or not node.input[k]:
            return None
        name = node.input[k]
        if name not in self.consts:
            raise _Refusal(f"{who}: {what} {name!r} is a computed tensor: it must be a constant")
        return self.consts[name].astype(np.float64)

    def _needs_rank(self, who, x, rank, what):
        shape = self.shapes[x]
        if len(shape) != rank:
            raise _Refusal(f"{who}: {what}, not an input of shape {_batched(shape)}")
        return shape

    # -------------------------------------------------------------- dense

    def _op_Gemm(self, who, node, x, a):
        if a.get("transA", 0):
            raise _Refusal(f"{who}: transA 1 (a transposed data input) is not supported: "
                           "the data input must be (batch, features)")
        if node.input[0] != x:
            raise _Refusal(f"{who}: the data must be input A (x @ W), not input B")
        self._needs_rank(who, x, 1, "Gemm takes (batch, features) inputs")
        b = self._constant(who, node, 1, "input B")
        if b is None or b.ndim != 2:
            raise _Refusal(f"{who}: input B must be a 2-D constant")
        w = a.get("alpha", 1.0) * (b if a.get("transB", 0) else b.T)
        if w.shape[1] != self.shapes[x][0]:
            raise _Refusal(f"{who}: B of shape {b.shape} does not match {self.shapes[x][0]} "
                           "input features")
        c = self._constant(who, node, 2, "input C")
        bias = np.zeros(w.shape[0])
        if c is not None:
            bias = a.get("beta", 1.0) * self._feature_bias(who, c, (w.shape[0],), "input C")
        return self._weighted(node, {"kind": "dense", "W": w, "b": bias}, (w.shape[0],))

    def _op_MatMul(self, who, node, x, a):
        if node.input[0] != x:
            raise _Refusal(f"{who}: the data must be the first input (x @ W), not the second")
        self._needs_rank(who, x, 1, "MatMul takes (batch, features) inputs")
        b = self._constant(who, node, 1, "input B")
        if b.ndim != 2 or b.shape[0] != self.shapes[x][0]:
            raise _Refusal(f"{who}: input B of shape {b.shape} is not a "
                           f"({self.shapes[x][0]}, out) matrix")
        return self._weighted(node, {"kind": "dense", "W": b.T.copy(),
                                     "b": np.zeros(b.shape[1])}, (b.shape[1],))

    def _feature_bias(self, who, c, out_shape, what):
        """A constant added to outputs of ``out_shape`` as a per-feature (or
        per-channel) bias, or a refusal."""
        full_shape = (1, *out_shape)
        try:
            if c.ndim > len(full_shape) or np.broadcast_shapes(c.shape, full_shape) != full_shape:
                raise ValueError
        except ValueError:
            raise _Refusal(f"{who}: {what} of shape {c.shape} is not a bias of outputs "
                           f"{_batched(out_shape)} (per feature or channel)") from None
        full = np.broadcast_to(c, full_shape)[0]
        per = full.reshape(out_shape[0], -1)[:, 0]
        if not np.array_equal(full, np.broadcast_to(per.reshape((-1,) + (1,) * (len(out_shape) - 1)),
                                                    out_shape)):
            raise _Refusal(f"{who}: {what} of shape {c.shape} varies across positions: only a "
                           "per-channel bias is supported")
        return per.copy()

    def _weighted(self, node, layer, shape):
        self.layers.append(layer)
        self.open = (node, layer)
        return shape

    def _op_Add(self, who, node, x, a):
        c = self._constant(who, node, 1 if node.input[0] == x else 0, "the other input")
        shape = self.shapes[x]
        if self.open is None:
            raise _Refusal(f"{who}: an Add of a constant is supported only as the bias of the "
                           "Conv, Gemm or MatMul right before it")
        opener, layer = self.open
        layer["b"] = layer["b"] + self._feature_bias(who, c, shape, "the added constant")
        self.notes.append(f"Add {_label(node)} folded into the bias of "
                          f"{opener.op_type} {_label(opener)}")
        return shape

    def _op_BatchNormalization(self, who, node, x, a):
        if a.get("training_mode", 0) or len([o for o in node.output if o]) > 1:
            raise _Refusal(f"{who}: training mode (running statistics as outputs) is not "
                           "supported: export the model in eval mode")
        if self.open is None:
            raise _Refusal(f"{who}: batch normalization is folded into the Conv, Gemm or MatMul "
                           "right before it, and there is none")
        scale, beta, mean, var = (self._constant(who, node, k, what) for k, what in
                                  enumerate(("scale", "B", "mean", "var"), start=1))
        eps = a.get("epsilon", 1e-5)
        opener, layer = self.open
        n = layer["W"].shape[0]
        if any(p is None or p.shape != (n,) for p in (scale, beta, mean, var)):
            raise _Refusal(f"{who}: scale, B, mean and var must be constants of {n} values")
        s = scale / np.sqrt(var + eps)
        layer["W"] = layer["W"] * s.reshape((n,) + (1,) * (layer["W"].ndim - 1))
        layer["b"] = (layer["b"] - mean) * s + beta
        self.notes.append(f"BatchNormalization {_label(node)} folded into "
                          f"{opener.op_type} {_label(opener)} (epsilon {eps:g})")
        return self.shapes[x]

    # -------------------------------------------------------------- conv, pools

    def _spatial_pads(self, who, a, hw, kernel, stride):
        auto = _decode(a.get("auto_pad", "NOTSET"))
        if auto == "NOTSET":
            pads = tuple(a.get("pads", (0, 0, 0, 0)))
            if len(pads) != 4:
                raise _Refusal(f"{who}: pads {list(pads)} are not 2-D (top, left, bottom, right)")
            return pads
        if auto == "VALID":
            return (0, 0, 0, 0)
        if auto not in ("SAME_UPPER", "SAME_LOWER"):
            raise _Refusal(f"{who}: auto_pad {auto!r} is not supported (NOTSET, VALID, "
                           "SAME_UPPER, SAME_LOWER are)")
        begin, end = [], []
        for size, k, s in zip(hw, kernel, stride):
            total = max((-(-size // s) - 1) * s + k - size, 0)
            small, big = total // 2, total - total // 2
            begin.append(small if auto == "SAME_UPPER" else big)
            end.append(big if auto == "SAME_UPPER" else small)
        return (begin[0], begin[1], end[0], end[1])

    def _op_Conv(self, who, node, x, a):
        c, h, w = self._needs_rank(who, x, 3, "only 2-D convolutions of (N, C, H, W) "
                                              "inputs are supported")
        weights = self._constant(who, node, 1, "the weights")
        if weights is None or weights.ndim != 4:
            raise _Refusal(f"{who}: the weights must be a 4-D constant (K, C, kh, kw)")
        k, wc, kh, kw = weights.shape
        if kh != kw:
            raise _Refusal(f"{who}: kernel {kh}x{kw} is not square: eiegen's conv layers "
                           "have square kernels")
        group = a.get("group", 1)
        if group != 1:
            raise _Refusal(f"{who}: group {group} is not supported: eiegen's cores run group 1 "
                           "convolutions")
        if wc != c:
            raise _Refusal(f"{who}: weights of {wc} input channels for an input of {c}")
        dil = list(a.get("dilations", (1, 1)))
        if any(d != 1 for d in dil):
            raise _Refusal(f"{who}: dilations {dil} are not supported (only 1)")
        stride = tuple(a.get("strides", (1, 1)))
        pads = self._spatial_pads(who, a, (h, w), (kh, kw), stride)
        bias = self._constant(who, node, 2, "the bias")
        bias = np.zeros(k) if bias is None else bias.reshape(k)
        ho = (h + pads[0] + pads[2] - kh) // stride[0] + 1
        wo = (w + pads[1] + pads[3] - kw) // stride[1] + 1
        if ho < 1 or wo < 1:
            raise _Refusal(f"{who}: a {kh}x{kw} kernel does not fit the {h}x{w} input")
        layer = {"kind": "conv", "W": weights, "b": bias, "stride": stride, "pads": pads}
        return self._weighted(node, layer, (k, ho, wo))

    def _pool(self, who, node, x, a, mode, kernel=None):
        c, h, w = self._needs_rank(who, x, 3, "only 2-D pooling of (N, C, H, W) inputs is "
                                              "supported")
        kernel = tuple(kernel or a.get("kernel_shape", ()))
        if len(kernel) != 2:
            raise _Refusal(f"{who}: kernel_shape {list(kernel)} is not 2-D")
        dil = list(a.get("dilations", (1, 1)))
        if any(d != 1 for d in dil):
            raise _Refusal(f"{who}: dilations {dil} are not supported (only 1)")
        if a.get("storage_order", 0) or len([o for o in node.output if o]) > 1:
            raise _Refusal(f"{who}: the Indices output and storage_order are not supported")
        stride = tuple(a.get("strides", (1, 1)))
        pads = self._spatial_pads(who, a, (h, w), kernel, stride)
        if any(p >= k for p, k in zip(pads, kernel + kernel)):
            raise _Refusal(f"{who}: pads {list(pads)} must be smaller than the kernel "
                           f"{list(kernel)}")
        sizes = [(n + pads[i] + pads[i + 2] - k) / s + 1
                 for i, (n, k, s) in enumerate(zip((h, w), kernel, stride))]
        if min(sizes) < 1:
            raise _Refusal(f"{who}: a {kernel[0]}x{kernel[1]} window does not fit the "
                           f"{h}x{w} input")
        if a.get("ceil_mode", 0) and any(s != int(s) for s in sizes):
            raise _Refusal(f"{who}: ceil_mode 1 adds a partial window here, which is not "
                           "supported: export with ceil_mode 0 (or pad the input)")
        layer = {"kind": "pool", "mode": mode, "kernel": kernel, "stride": stride,
                 "pads": pads, "count_pads": bool(a.get("count_include_pad", 0))}
        self.layers.append(layer)
        self.open = None
        return (c, int(sizes[0]), int(sizes[1]))

    def _op_MaxPool(self, who, node, x, a):
        return self._pool(who, node, x, a, "max")

    def _op_AveragePool(self, who, node, x, a):
        return self._pool(who, node, x, a, "avg")

    def _op_GlobalMaxPool(self, who, node, x, a):
        shape = self._needs_rank(who, x, 3, "only (N, C, H, W) inputs are supported")
        return self._pool(who, node, x, {"strides": shape[1:]}, "max", shape[1:])

    def _op_GlobalAveragePool(self, who, node, x, a):
        shape = self._needs_rank(who, x, 3, "only (N, C, H, W) inputs are supported")
        return self._pool(who, node, x, {"strides": shape[1:]}, "avg", shape[1:])

    # -------------------------------------------------------------- the rest

    def _op_Relu(self, who, node, x, a):
        if not self.layers:
            raise _Refusal(f"{who}: a Relu must follow a layer, not apply to the input")
        self.layers.append({"kind": "relu"})
        self.open = None
        return self.shapes[x]

    def _flatten(self, shape):
        if len(shape) > 1:
            self.layers.append({"kind": "flatten"})
            self.open = None
        return (int(np.prod(shape)),)

    def _op_Flatten(self, who, node, x, a):
        shape = self.shapes[x]
        axis = a.get("axis", 1)
        axis = axis + len(shape) + 1 if axis < 0 else axis
        if axis != 1:
            raise _Refusal(f"{who}: axis {a.get('axis', 1)} is not supported: only a Flatten "
                           "of each sample (axis 1)")
        return self._flatten(shape)

    def _op_Reshape(self, who, node, x, a):
        if node.input[0] != x:
            raise _Refusal(f"{who}: the shape is a computed tensor: it must be a constant")
        target = self.consts[node.input[1]].astype(np.int64).tolist()
        shape = self.shapes[x]
        full = (self.batch, *shape)
        dims = [full[i] if d == 0 and not a.get("allowzero", 0) and i < len(full) else d
                for i, d in enumerate(target)]
        if dims.count(-1) == 1:
            known = int(np.prod([d for d in dims if d != -1]))
            dims[dims.index(-1)] = int(np.prod(full)) // known if known else -1
        if dims == list(full):
            self.notes.append(f"Reshape {_label(node)} to {target} changes "
                              "nothing: skipped")
            return shape
        if dims == [self.batch, int(np.prod(shape))]:
            return self._flatten(shape)
        raise _Refusal(f"{who}: a Reshape to {target} of an input {_batched(shape)} is not a "
                       "flatten of each sample: only (N, -1) reshapes are supported")

    def _skip(self, node, why):
        self.notes.append(f"{node.op_type} {_label(node)} {why}")

    def _op_Dropout(self, who, node, x, a):
        mode = self._constant(who, node, 2, "training_mode")
        if mode is not None and mode.any():
            raise _Refusal(f"{who}: training_mode is true: export the model in eval mode")
        self._skip(node, "skipped (inference)")
        return self.shapes[x]

    def _op_Identity(self, who, node, x, a):
        self._skip(node, "skipped")
        return self.shapes[x]

    def _final(self, who, node, x, a, what):
        if node.output[0] not in {o.name for o in self.graph.output}:
            raise _Refusal(f"{who}: {node.op_type} is supported only as the final node "
                           f"({what}), not inside the network")
        shape = self.shapes[x]
        axis = a.get("axis", 1 if self.opset < 13 else -1)
        if len(shape) != 1 or axis not in (1, -1):
            raise _Refusal(f"{who}: only a {node.op_type} over the features of (N, F) "
                           "logits is supported")
        self._skip(node, f"dropped: {what}")
        return shape

    def _op_Softmax(self, who, node, x, a):
        return self._final(who, node, x, a, "the argmax is unchanged")

    def _op_LogSoftmax(self, who, node, x, a):
        return self._final(who, node, x, a, "the argmax is unchanged")
