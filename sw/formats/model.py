"""The compressed model and its file (``docs/formats.md``).

One file holds everything the golden model and the hardware need: per layer
the EIE encoding of the shared weights (per PE ``v``, ``z``, ``ptr``), the
fixed-point codebook and biases, and the radix points and shifts that
chain the layers. Loading validates all of it and refuses a bad file with a
one-line ``ModelFileError``.
"""

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sw.errors import EiegenError
from sw.formats.csc import EieLayer, decode_layer
from sw.spec.numerics import signed_range

__all__ = ["FORMAT", "VERSION", "Layer", "CompressedModel", "ModelFileError", "save", "load"]

FORMAT = "eiegen-compressed-model"
VERSION = 1


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


@dataclass
class CompressedModel:
    """A whole network, ready for the golden model and the hardware.

    Raw inputs (integers, ``value = raw * 2**-input_frac``) become the first
    layer's activations by ``requantize(raw, input_shift, act_bits)``.
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

    @property
    def sizes(self):
        return [self.layers[0].cols] + [layer.rows for layer in self.layers]

    def interleaved(self, pes):
        """The same network with its rows interleaved over ``pes`` PEs."""
        import copy
        from sw.formats.csc import encode_layer
        other = copy.deepcopy(self)
        other.pes = pes
        for layer in other.layers:
            layer.eie = encode_layer(layer.indices(), pes, self.z_bits)
        return other


def save(model, path):
    """Write ``model`` to ``path`` (an .npz archive)."""
    meta = {
        "format": FORMAT, "version": VERSION, "name": model.name, "pes": model.pes,
        "index_bits": model.index_bits, "z_bits": model.z_bits, "act_bits": model.act_bits,
        "codebook_bits": model.codebook_bits, "bias_bits": model.bias_bits,
        "input_frac": model.input_frac, "input_shift": model.input_shift,
        "layers": [{"rows": l.rows, "cols": l.cols, "weight_frac": l.weight_frac,
                    "in_frac": l.in_frac, "out_frac": l.out_frac, "relu": l.relu}
                   for l in model.layers],
        "stats": model.stats,
    }
    arrays = {"meta": np.array(json.dumps(meta))}
    for i, l in enumerate(model.layers):
        arrays[f"l{i}.codebook"] = l.codebook.astype(np.int64)
        arrays[f"l{i}.bias"] = l.bias.astype(np.int64)
        arrays[f"l{i}.v"] = np.concatenate(l.eie.v).astype(np.uint8)
        arrays[f"l{i}.z"] = np.concatenate(l.eie.z).astype(np.uint8)
        arrays[f"l{i}.ptr"] = l.eie.ptr.astype(np.int32)
    with open(path, "wb") as f:
        np.savez_compressed(f, **arrays)


def _fail(path, problem):
    raise ModelFileError(f"{path}: {problem}")


def load(path):
    """Read and validate a model file; ``ModelFileError`` names any problem."""
    path = Path(path)
    if not path.is_file():
        _fail(path, "no such file")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as error:
        _fail(path, f"not a readable eiegen model file ({error.__class__.__name__}: {error}); "
                    f"write one with eiegen compress")
    if "meta" not in arrays:
        _fail(path, "no 'meta' entry: not an eiegen model file")
    try:
        meta = json.loads(str(arrays["meta"]))
    except ValueError:
        _fail(path, "the 'meta' entry is not valid JSON")
    if meta.get("format") != FORMAT:
        _fail(path, f"format {meta.get('format')!r} is not {FORMAT!r}")
    if meta.get("version") != VERSION:
        _fail(path, f"version {meta.get('version')!r} is not supported (this eiegen reads "
                    f"version {VERSION}): recompress the model with this eiegen")
    keys = ("name", "pes", "index_bits", "z_bits", "act_bits", "codebook_bits", "bias_bits",
            "input_frac", "input_shift", "layers")
    missing = [k for k in keys if k not in meta]
    if missing:
        _fail(path, f"meta lacks {', '.join(missing)}")
    pes = meta["pes"]
    layers = []
    for i, info in enumerate(meta["layers"]):
        names = [f"l{i}.{part}" for part in ("codebook", "bias", "v", "z", "ptr")]
        absent = [n for n in names if n not in arrays]
        if absent:
            _fail(path, f"missing array {absent[0]}")
        codebook, bias, v, z, ptr = (arrays[n] for n in names)
        rows, cols = info["rows"], info["cols"]
        if i and cols != layers[-1].rows:
            _fail(path, f"layer {i} takes {cols} inputs but layer {i - 1} gives {layers[-1].rows}")
        if codebook.shape != (1 << meta["index_bits"],):
            _fail(path, f"layer {i} codebook has {codebook.size} entries, not "
                        f"2**{meta['index_bits']}")
        if codebook[0] != 0:
            _fail(path, f"layer {i} codebook entry 0 is {codebook[0]}, must be 0 (padding)")
        lo, hi = signed_range(meta["codebook_bits"])
        if codebook.min() < lo or codebook.max() > hi:
            _fail(path, f"layer {i} codebook value outside {meta['codebook_bits']} bits")
        if bias.shape != (rows,):
            _fail(path, f"layer {i} bias has shape {bias.shape}, expected ({rows},)")
        lo, hi = signed_range(meta["bias_bits"])
        if bias.size and (bias.min() < lo or bias.max() > hi):
            _fail(path, f"layer {i} bias value outside {meta['bias_bits']} bits")
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
        layer = Layer(eie, codebook.astype(np.int64), bias.astype(np.int64),
                      info["weight_frac"], info["in_frac"], info["out_frac"], bool(info["relu"]))
        if layer.shift < 0:
            _fail(path, f"layer {i} needs a negative shift ({layer.shift})")
        try:
            decode_layer(eie)
        except ValueError as error:
            _fail(path, f"layer {i}: {error}")
        layers.append(layer)
    if not layers:
        _fail(path, "no layers")
    fields = {k: meta[k] for k in keys if k != "layers"}
    return CompressedModel(layers=layers, stats=meta.get("stats", {}), **fields)
