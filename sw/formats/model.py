"""The compressed model and its file (``docs/formats.md``).

One file holds everything the golden model and the hardware need: a chain
of layers, fully connected ones in the EIE encoding of their shared weights
(per PE ``v``, ``z``, ``ptr``), convolutions as codebook indices, pooling
and flattening; the fixed-point codebooks and biases, the radix points and
shifts that chain the layers, and what the inputs mean (raw integers, or
real values in the model's own units with an input format). Loading
validates all of it and refuses a bad file with a one-line
``ModelFileError``. Version 1 files (fully connected networks with raw
integer inputs) still load.
"""

import json
import math
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sw.errors import EiegenError
from sw.files import save_arrays, sniff
from sw.formats.csc import EieLayer, decode_layer
from sw.spec.numerics import signed_range

__all__ = ["FORMAT", "VERSION", "Layer", "ConvLayer", "PoolLayer", "FlattenLayer",
           "CompressedModel", "ModelFileError", "pooled_size", "save", "load"]

FORMAT = "eiegen-compressed-model"
VERSION = 2
#: Versions this eiegen reads.
READS = (1, 2)
#: What a network's inputs are: raw integers (``value = raw * 2**-input_frac``,
#: the bundled networks) or floats in the model's units, quantized by the
#: input format (ONNX).
INPUT_KINDS = ("raw", "float")


class ModelFileError(EiegenError):
    """A model file that cannot be used, with what is wrong with it."""


@dataclass
class Layer:
    """One fully connected layer: ``y = relu?(requantize(W a + bias, shift))``.

    ``W = codebook[indices]`` with the indices stored in EIE form; the
    codebook holds signed mantissas with ``weight_frac`` fraction bits, the
    bias is at the product scale ``in_frac + weight_frac``, and the output has
    ``out_frac = in_frac + weight_frac - shift`` fraction bits.
    """
    eie: EieLayer
    codebook: np.ndarray
    bias: np.ndarray
    weight_frac: int
    in_frac: int
    out_frac: int
    relu: bool
    kind = "dense"

    @property
    def shift(self):
        return self.in_frac + self.weight_frac - self.out_frac

    @property
    def rows(self):
        return self.eie.rows

    @property
    def cols(self):
        return self.eie.cols

    def indices(self):
        """Codebook indices as a dense (rows, cols) matrix."""
        return decode_layer(self.eie)

    def weights(self):
        """Integer weight mantissas as a dense (rows, cols) matrix."""
        return self.codebook[self.indices()]

    def out_shape(self, shape):
        return (self.rows,)


@dataclass
class ConvLayer:
    """A convolution: ``y = relu?(requantize(W * pad(a) + bias, shift))`` at ``stride``.

    ``W = codebook[indices]`` of shape (K, C, r, r), correlation (filters not
    flipped) over the input padded with zeros by ``pads`` = (top, left,
    bottom, right); the formats are those of ``Layer``.
    """
    indices: np.ndarray
    codebook: np.ndarray
    bias: np.ndarray
    weight_frac: int
    in_frac: int
    out_frac: int
    relu: bool
    stride: tuple = (1, 1)
    pads: tuple = (0, 0, 0, 0)
    kind = "conv"

    shift = Layer.shift

    @property
    def filters(self):
        return self.indices.shape[0]

    @property
    def channels(self):
        return self.indices.shape[1]

    @property
    def kernel(self):
        return self.indices.shape[2]

    @property
    def index_bits(self):
        return int(self.codebook.size).bit_length() - 1

    def weights(self):
        return self.codebook[self.indices]

    def out_shape(self, shape):
        _, h, w = shape
        return (self.filters, pooled_size(h, self.kernel, self.stride[0], self.pads[0::2]),
                pooled_size(w, self.kernel, self.stride[1], self.pads[1::2]))


@dataclass
class PoolLayer:
    """Max or average pooling of activations (``docs/numerics.md``, Pooling).

    ``kernel``, ``stride`` (rows, columns) and ``pads`` (top, left, bottom,
    right): padding positions are not values; an average divides by the
    window's real positions, or by the whole window with ``count_pads``.
    """
    mode: str
    kernel: tuple
    stride: tuple
    pads: tuple = (0, 0, 0, 0)
    count_pads: bool = False
    kind = "pool"

    def out_shape(self, shape):
        c, h, w = shape
        return (c, pooled_size(h, self.kernel[0], self.stride[0], self.pads[0::2]),
                pooled_size(w, self.kernel[1], self.stride[1], self.pads[1::2]))


@dataclass
class FlattenLayer:
    """(C, H, W) activations as one vector, in C order (channels outermost)."""
    kind = "flatten"

    def out_shape(self, shape):
        return (math.prod(shape),)


def pooled_size(size, kernel, stride, pads):
    """Outputs along one axis of a window of ``kernel`` at ``stride`` over padded ``size``."""
    return (size + sum(pads) - kernel) // stride + 1


@dataclass
class CompressedModel:
    """A whole network, ready for the golden model and the hardware.

    Raw inputs (``input_kind`` "raw": integers, ``value = raw *
    2**-input_frac``) become the first layer's activations by
    ``requantize(raw, input_shift, act_bits)``; float inputs ("float") by
    ``numerics.quantize(x, input_frac, act_bits)``. Inputs have
    ``input_shape`` per sample; a first fully connected layer takes them
    flattened.
    """
    name: str
    pes: int
    index_bits: int
    z_bits: int
    act_bits: int
    codebook_bits: int
    bias_bits: int
    input_frac: int
    input_shift: int
    layers: list
    stats: dict = field(default_factory=dict)
    input_kind: str = "raw"
    input_shape: tuple = None

    def __post_init__(self):
        if self.input_shape is None:
            self.input_shape = (self.layers[0].cols,)
        self.input_shape = tuple(self.input_shape)

    @property
    def is_mlp(self):
        """Only fully connected layers: what the EIE engine runs whole."""
        return all(layer.kind == "dense" for layer in self.layers)

    @property
    def sizes(self):
        return [self.layers[0].cols] + [layer.rows for layer in self.layers]

    def shapes(self):
        """The activation shape before the first layer and after each one."""
        shapes = [self.input_shape]
        for layer in self.layers:
            shapes.append(layer.out_shape(shapes[-1]))
        return shapes

    def interleaved(self, pes):
        """The same network with its fully connected rows interleaved over ``pes`` PEs."""
        import copy
        from sw.formats.csc import encode_layer
        other = copy.deepcopy(self)
        other.pes = pes
        for layer in other.layers:
            if layer.kind == "dense":
                layer.eie = encode_layer(layer.indices(), pes, self.z_bits)
        return other


def _layer_meta(layer):
    common = {"kind": layer.kind}
    if layer.kind in ("dense", "conv"):
        common.update(weight_frac=layer.weight_frac, in_frac=layer.in_frac,
                      out_frac=layer.out_frac, relu=bool(layer.relu))
    if layer.kind == "dense":
        return {**common, "rows": layer.rows, "cols": layer.cols}
    if layer.kind == "conv":
        return {**common, "filters": layer.filters, "channels": layer.channels,
                "kernel": layer.kernel, "index_bits": layer.index_bits,
                "stride": list(layer.stride), "pads": list(layer.pads)}
    if layer.kind == "pool":
        return {**common, "mode": layer.mode, "kernel": list(layer.kernel),
                "stride": list(layer.stride), "pads": list(layer.pads),
                "count_pads": bool(layer.count_pads)}
    return common


def save(model, path):
    """Write ``model`` to ``path`` (an .npz archive, version 2)."""
    meta = {
        "format": FORMAT, "version": VERSION, "name": model.name, "pes": model.pes,
        "index_bits": model.index_bits, "z_bits": model.z_bits, "act_bits": model.act_bits,
        "codebook_bits": model.codebook_bits, "bias_bits": model.bias_bits,
        "input_kind": model.input_kind, "input_shape": list(model.input_shape),
        "input_frac": model.input_frac, "input_shift": model.input_shift,
        "layers": [_layer_meta(layer) for layer in model.layers],
        "stats": model.stats,
    }
    arrays = {"meta": np.array(json.dumps(meta))}
    for i, l in enumerate(model.layers):
        if l.kind in ("dense", "conv"):
            arrays[f"l{i}.codebook"] = l.codebook.astype(np.int64)
            arrays[f"l{i}.bias"] = l.bias.astype(np.int64)
        if l.kind == "dense":
            arrays[f"l{i}.v"] = np.concatenate(l.eie.v).astype(np.uint8)
            arrays[f"l{i}.z"] = np.concatenate(l.eie.z).astype(np.uint8)
            arrays[f"l{i}.ptr"] = l.eie.ptr.astype(np.int32)
        elif l.kind == "conv":
            arrays[f"l{i}.indices"] = l.indices.astype(np.uint8)
    save_arrays(path, **arrays)


def _fail(path, problem):
    raise ModelFileError(f"{path}: {problem}")


#: Fraction bits and shifts: int64 arithmetic holds them (``numerics.requantize``).
FRAC = (-62, 62)
#: The top-level ``meta`` fields: an integer range, or the type the value must have.
META_FIELDS = {"name": str, "pes": (1, 64), "index_bits": (1, 8), "z_bits": (1, 8),
               "act_bits": (2, 32), "codebook_bits": (2, 32), "bias_bits": (2, 62),
               "input_frac": FRAC, "input_shift": (0, 62), "layers": list}
_WEIGHTED = {"weight_frac": FRAC, "in_frac": FRAC, "out_frac": FRAC, "relu": bool}
#: Each layer kind's scalar fields (lists are checked by ``_ints``).
LAYER_FIELDS = {"dense": {"rows": (1, None), "cols": (1, None), **_WEIGHTED},
                "conv": {"filters": (1, None), "channels": (1, None), "kernel": (1, None),
                         "index_bits": (1, 8), **_WEIGHTED},
                "pool": {"mode": str, "count_pads": bool}, "flatten": {}}
TYPE_WORDS = {str: "a string", bool: "true or false", list: "a list"}
#: Each array's dimensions and dtype (``docs/formats.md``); an integer dtype
#: that holds every value of the documented one is taken too (int64 indices).
ARRAY_DIMS = {"codebook": 1, "bias": 1, "v": 1, "z": 1, "ptr": 2, "indices": 4}
ARRAY_DTYPES = {"codebook": np.int64, "bias": np.int64, "v": np.uint8, "z": np.uint8,
                "ptr": np.int32, "indices": np.uint8}
#: What reading a damaged zip of .npy arrays raises.
READ_ERRORS = (zipfile.BadZipFile, zlib.error, ValueError, OSError, EOFError, KeyError,
               NotImplementedError, OverflowError, MemoryError)


def _check_fields(path, where, info, fields):
    """Refuse a missing field, or one of the wrong type or outside its range."""
    for key, spec in fields.items():
        if key not in info:
            _fail(path, f"{where} lacks {key!r}")
        value = info[key]
        if isinstance(spec, tuple):
            lo, hi = spec
            if isinstance(value, bool) or not isinstance(value, int) or value < lo or \
                    (hi is not None and value > hi):
                _fail(path, f"{where} {key} must be an integer "
                            f"{f'from {lo} to {hi}' if hi is not None else f'>= {lo}'}, "
                            f"not {value!r}")
        elif not isinstance(value, spec):
            _fail(path, f"{where} {key} must be {TYPE_WORDS[spec]}, not {value!r}")


def _ints(path, where, value, count, lo):
    """``value`` as a tuple of ``count`` integers >= ``lo``, or a refusal."""
    if not (isinstance(value, list) and len(value) == count
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= lo for v in value)):
        _fail(path, f"{where} must be {count} integers >= {lo}, not {value!r}")
    return tuple(value)


def _check_weights(path, i, meta, codebook, bias, outputs):
    """The checks a codebook and a bias share in dense and conv layers."""
    if codebook.ndim != 1 or codebook.size < 2 or codebook.size & (codebook.size - 1):
        _fail(path, f"layer {i} codebook has {codebook.size} entries, not a power of two")
    if codebook[0] != 0:
        _fail(path, f"layer {i} codebook entry 0 is {codebook[0]}, must be 0 (padding)")
    lo, hi = signed_range(meta["codebook_bits"])
    if codebook.min() < lo or codebook.max() > hi:
        _fail(path, f"layer {i} codebook value outside {meta['codebook_bits']} bits")
    if bias.shape != (outputs,):
        _fail(path, f"layer {i} bias has shape {bias.shape}, expected ({outputs},)")
    lo, hi = signed_range(meta["bias_bits"])
    if bias.size and (bias.min() < lo or bias.max() > hi):
        _fail(path, f"layer {i} bias value outside {meta['bias_bits']} bits")


def _arrays(path, arrays, i, parts):
    """Layer ``i``'s arrays ``parts``, each refused unless integers of its dimensions;
    indices (``v``, ``z``, ``indices``) must not be negative."""
    names = [f"l{i}.{part}" for part in parts]
    absent = [n for n in names if n not in arrays]
    if absent:
        _fail(path, f"missing array {absent[0]}")
    for name, part in zip(names, parts):
        a = arrays[name]
        documented = np.dtype(ARRAY_DTYPES[part])
        if a.dtype.kind not in "iu" or not np.can_cast(documented, a.dtype, casting="safe"):
            _fail(path, f"array {name} holds {a.dtype}, not {documented} integers")
        if a.ndim != ARRAY_DIMS[part]:
            _fail(path, f"array {name} has shape {a.shape}, not {ARRAY_DIMS[part]}-D")
        if part in ("v", "z", "indices") and a.size and a.min() < 0:
            _fail(path, f"array {name} holds a negative index {a.min()}")
        if a.size and a.max() > np.iinfo(np.int64).max:
            _fail(path, f"array {name} holds {a.max()}, beyond 64-bit signed integers")
    # One integer type from here on: a uint64 pointer would make float offsets.
    return [arrays[n].astype(np.int64) for n in names]


def _dense(path, arrays, meta, i, info, shape):
    codebook, bias, v, z, ptr = _arrays(path, arrays, i, ("codebook", "bias", "v", "z", "ptr"))
    pes, rows, cols = meta["pes"], info["rows"], info["cols"]
    # A first fully connected layer takes the inputs flattened; later ones a vector.
    given = math.prod(shape) if i == 0 else shape[0] if len(shape) == 1 else None
    if cols != given:
        _fail(path, f"layer {i} takes {cols} inputs but "
                    + (f"layer {i - 1} gives {'x'.join(map(str, shape))}" if i else
                       f"the inputs are {'x'.join(map(str, shape))}"))
    if codebook.shape != (1 << meta["index_bits"],):
        _fail(path, f"layer {i} codebook has {codebook.size} entries, not "
                    f"2**{meta['index_bits']}")
    _check_weights(path, i, meta, codebook, bias, rows)
    if ptr.shape != (pes, cols + 1):
        _fail(path, f"layer {i} pointers have shape {ptr.shape}, expected ({pes}, {cols + 1})")
    if (ptr[:, 0] != 0).any() or (np.diff(ptr, axis=1) < 0).any():
        _fail(path, f"layer {i} column pointers are not monotone from 0")
    if v.shape != z.shape or ptr[:, -1].sum() != v.size:
        _fail(path, f"layer {i} has {v.size} entries but its pointers account for "
                    f"{ptr[:, -1].sum()}")
    if v.size and v.max() >= codebook.size:
        _fail(path, f"layer {i} index {v.max()} is outside its {codebook.size}-entry codebook")
    if z.size and z.max() >= 1 << meta["z_bits"]:
        _fail(path, f"layer {i} relative index {z.max()} does not fit {meta['z_bits']} bits")
    starts = np.concatenate([[0], np.cumsum(ptr[:, -1])])
    eie = EieLayer(rows, cols, pes, meta["z_bits"],
                   [v[starts[k]:starts[k + 1]].astype(np.int64) for k in range(pes)],
                   [z[starts[k]:starts[k + 1]].astype(np.int64) for k in range(pes)],
                   ptr.astype(np.int64))
    try:
        decode_layer(eie)
    except ValueError as error:
        _fail(path, f"layer {i}: {error}")
    return Layer(eie, codebook.astype(np.int64), bias.astype(np.int64),
                 info["weight_frac"], info["in_frac"], info["out_frac"], bool(info["relu"]))


def _conv(path, arrays, meta, i, info, shape):
    codebook, bias, indices = _arrays(path, arrays, i, ("codebook", "bias", "indices"))
    if len(shape) != 3:
        _fail(path, f"layer {i} is a convolution but its inputs are "
                    f"{'x'.join(map(str, shape))}, not channels x height x width")
    k, c, r = info["filters"], info["channels"], info["kernel"]
    if indices.shape != (k, c, r, r) or c != shape[0]:
        _fail(path, f"layer {i} indices have shape {indices.shape}, expected "
                    f"({k}, {shape[0]}, {r}, {r})")
    if codebook.shape != (1 << info["index_bits"],):
        _fail(path, f"layer {i} codebook has {codebook.size} entries, not "
                    f"2**{info['index_bits']}")
    _check_weights(path, i, meta, codebook, bias, k)
    if indices.size and indices.max() >= codebook.size:
        _fail(path, f"layer {i} index {indices.max()} is outside its {codebook.size}-entry "
                    f"codebook")
    return ConvLayer(indices.astype(np.int64), codebook.astype(np.int64), bias.astype(np.int64),
                     info["weight_frac"], info["in_frac"], info["out_frac"], bool(info["relu"]),
                     _ints(path, f"layer {i} stride", info["stride"], 2, 1),
                     _ints(path, f"layer {i} pads", info["pads"], 4, 0))


def _pool(path, arrays, meta, i, info, shape):
    if len(shape) != 3:
        _fail(path, f"layer {i} pools {'x'.join(map(str, shape))} activations, not "
                    f"channels x height x width")
    if info["mode"] not in ("max", "avg"):
        _fail(path, f"layer {i} pooling mode {info['mode']!r} is not 'max' or 'avg'")
    kernel = _ints(path, f"layer {i} kernel", info["kernel"], 2, 1)
    pads = _ints(path, f"layer {i} pads", info["pads"], 4, 0)
    if max(pads[0::2]) >= kernel[0] or max(pads[1::2]) >= kernel[1]:
        _fail(path, f"layer {i} pads {list(pads)} reach a whole {kernel[0]}x{kernel[1]} "
                    f"window: a window would hold no value")
    return PoolLayer(info["mode"], kernel, _ints(path, f"layer {i} stride", info["stride"], 2, 1),
                     pads, bool(info["count_pads"]))


def _flatten(path, arrays, meta, i, info, shape):
    return FlattenLayer()


LAYER_KINDS = {"dense": _dense, "conv": _conv, "pool": _pool, "flatten": _flatten}


def load(path):
    """Read and validate a model file; ``ModelFileError`` names any problem."""
    path = Path(path)
    kind = sniff(path)
    if kind != "zip":
        _fail(path, {"missing": "no such file", "folder": "a folder, not a model file",
                     "npy": "a single .npy array, not an eiegen model file (an .npz archive)",
                     "empty": "an empty file, not an eiegen model file"}.get(
                         kind, "not a readable eiegen model file (not a zip archive)")
              + "; write one with eiegen compress")
    try:
        archive = np.load(path, allow_pickle=False)
        with archive:
            arrays = {name: archive[name] for name in archive.files}
    except READ_ERRORS as error:
        # A damaged member: its CRC, its deflate stream or its .npy header.
        reason = str(error).splitlines()[0] if str(error) else ""
        if "pickle" in reason:  # not numpy's advice to load it unsafely
            reason = "an array of Python objects"
        _fail(path, f"not a readable eiegen model file ({error.__class__.__name__}"
                    f"{': ' + reason if reason else ''}); write one with eiegen compress")
    if "meta" not in arrays:
        _fail(path, "no 'meta' entry: not an eiegen model file")
    if arrays["meta"].shape != () or arrays["meta"].dtype.kind != "U":
        _fail(path, "the 'meta' entry is not a JSON string")
    try:
        meta = json.loads(str(arrays["meta"]))
    except (ValueError, RecursionError):
        _fail(path, "the 'meta' entry is not valid JSON")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        _fail(path, f"format {meta.get('format') if isinstance(meta, dict) else None!r} "
                    f"is not {FORMAT!r}")
    if meta.get("version") not in READS:
        _fail(path, f"version {meta.get('version')!r} is not supported (this eiegen reads "
                    f"versions {', '.join(map(str, READS))}): recompress the model with this "
                    f"eiegen")
    keys = ("name", "pes", "index_bits", "z_bits", "act_bits", "codebook_bits", "bias_bits",
            "input_frac", "input_shift", "layers")
    missing = [k for k in keys if k not in meta]
    if missing:
        _fail(path, f"meta lacks {', '.join(missing)}")
    _check_fields(path, "meta", meta, META_FIELDS)
    if not isinstance(meta.get("stats", {}), dict):
        _fail(path, f"meta stats must be an object, not {meta['stats']!r}")
    for i, info in enumerate(meta["layers"]):
        if not isinstance(info, dict):
            _fail(path, f"layer {i} must be an object of fields, not {info!r}")
    if meta["version"] == 1:
        meta["input_kind"] = "raw"
        meta["input_shape"] = [meta["layers"][0].get("cols")] if meta["layers"] else [0]
        for info in meta["layers"]:
            info["kind"] = "dense"
    if meta.get("input_kind") not in INPUT_KINDS:
        _fail(path, f"input kind {meta.get('input_kind')!r} is not one of "
                    f"{', '.join(INPUT_KINDS)}")
    given = meta.get("input_shape")
    shape = _ints(path, "input shape", given, len(given) if isinstance(given, list) and given
                  else 1, 1)
    first_shape = shape
    layers = []
    for i, info in enumerate(meta["layers"]):
        kind = info.get("kind")
        if not isinstance(kind, str) or kind not in LAYER_KINDS:
            _fail(path, f"layer {i} kind {kind!r} is not one of {', '.join(LAYER_KINDS)}")
        _check_fields(path, f"layer {i} ({kind})", info, LAYER_FIELDS[kind])
        try:
            layer = LAYER_KINDS[kind](path, arrays, meta, i, info, shape)
        except KeyError as error:
            _fail(path, f"layer {i} ({kind}) lacks {error}")
        if kind in ("dense", "conv") and not 0 <= layer.shift <= 62:
            _fail(path, f"layer {i} needs a shift of {layer.shift}: shifts are 0 to 62")
        shape = layer.out_shape(shape)
        if min(shape) < 1:
            _fail(path, f"layer {i} ({kind}) leaves no outputs ({'x'.join(map(str, shape))})")
        layers.append(layer)
    if not layers:
        _fail(path, "no layers")
    fields = {k: meta[k] for k in keys if k != "layers"}
    return CompressedModel(layers=layers, stats=meta.get("stats", {}),
                           input_kind=meta["input_kind"], input_shape=first_shape, **fields)
