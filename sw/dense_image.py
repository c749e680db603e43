"""Memory images of the dense engine (``hw.dense_engine``): a compressed model's
layers decoded to dense weights, laid out in the order the MAC array takes them.

The engine computes each layer ``lanes`` outputs at a time (a group), each
output a dot product streamed ``width`` inputs a beat (a chunk). Weights are
stored one beat to a word, in the order they are used (layer, group, chunk),
so the engine reads them with a counter; biases one group to a word, in
order too. Rows past a layer's last and columns past its last input hold
zero weights and biases, so padding lanes compute zero and need no masking.
"""

from dataclasses import dataclass

from amaranth.hdl import signed
from amaranth.lib import data

from .numerics import accumulator_bits
from .packing import bit_fields, pack, pack_fields

__all__ = ["DenseConfig", "DenseImage", "dense_config_for", "build_dense_image",
           "DENSE_MEMORIES"]

#: Memory ids of the dense engine's load port.
DENSE_MEMORIES = {"weights": 0, "bias": 1, "layers": 2}


@dataclass(frozen=True)
class DenseConfig:
    """Every parameter of a generated dense engine (``hw.dense_engine.DenseEngine``)."""
    lanes: int = 2  # outputs computed at once (the MAC array's lanes)
    width: int = 4  # inputs a beat (the MAC array's width; activations a link beat)
    act_bits: int = 16
    weight_bits: int = 16
    bias_bits: int = 32
    max_cols: int = 1024  # longest activation vector
    weight_words: int = 1024  # beats of weights, all layers
    bias_words: int = 256  # groups, all layers
    max_layers: int = 4

    def validate(self):
        """``ValueError`` naming the first parameter out of range and its option."""
        def check(name, value, lo, hi, option):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {value!r} "
                                 f"(option {option})")
        check("lane count", self.lanes, 1, 64, "--lanes")
        check("width", self.width, 1, 64, "--width")
        if self.width % self.lanes:
            raise ValueError(f"width {self.width} must be a multiple of the lane count "
                             f"{self.lanes}: a layer's outputs, {self.lanes} at a time, fill "
                             f"words of {self.width} activations (option --width)")
        check("activation width", self.act_bits, 2, 24, "--act-bits")
        check("weight width", self.weight_bits, 2, 24, "--weight-bits")
        check("bias width", self.bias_bits, 2, 48, "--bias-bits")
        check("longest activation vector", self.max_cols, 1, 1 << 16, "--max-cols")
        check("weight words", self.weight_words, 1, 1 << 20, "--weight-words")
        check("bias words", self.bias_words, 1, 1 << 20, "--bias-words")
        check("layer count", self.max_layers, 1, 64, "--max-layers")
        if self.accumulator_bits > 62:
            raise ValueError(f"the accumulator would need {self.accumulator_bits} bits, over "
                             f"62: lower the widths or --max-cols")
        return self

    @property
    def accumulator_bits(self):
        return accumulator_bits(self.act_bits, self.weight_bits, self.max_cols, self.bias_bits)

    @property
    def beat_lanes(self):
        """Activations in an input or output beat."""
        return self.width

    @property
    def act_words(self):
        """Words of ``width`` activations in each of the two activation buffers."""
        return -(-self.max_cols // self.width)

    @property
    def load_data_bits(self):
        return max(self.lanes * self.width * self.weight_bits, self.lanes * self.bias_bits,
                   sum(w for _, w in dense_layer_fields(self).values()))


def dense_layer_fields(config):
    """Bit fields of a layer-table word: ``{name: (offset, width)}``."""
    widths = [("chunks", config.act_words.bit_length()),
              ("groups", config.max_cols.bit_length()),
              ("out_words", config.act_words.bit_length()),
              ("shift", 7), ("relu", 1), ("last", 1)]
    return bit_fields(widths)


def dense_config_for(model, lanes=2, width=4, **overrides):
    """The smallest dense engine that holds ``model`` (a ``CompressedModel``)."""
    def beats(layer):
        return -(-layer.rows // lanes) * -(-layer.cols // width)
    fit = dict(lanes=lanes, width=width, act_bits=model.act_bits,
               weight_bits=model.codebook_bits, bias_bits=model.bias_bits,
               max_cols=max(model.sizes),
               weight_words=max(1, sum(beats(layer) for layer in model.layers)),
               bias_words=max(1, sum(-(-layer.rows // lanes) for layer in model.layers)),
               max_layers=len(model.layers))
    fit.update(overrides)
    return DenseConfig(**fit).validate()


@dataclass
class DenseImage:
    """Contents of the dense engine's memories."""
    config: DenseConfig
    weights: list  # packed beats of lanes x width weights
    bias: list  # packed groups of lanes biases
    layers: list  # packed layer-table words
    out_rows: int

    def load_beats(self):
        """``(memory id, 0, address, data)`` writes that load this image at run time."""
        return [(DENSE_MEMORIES[name], 0, addr, word)
                for name in DENSE_MEMORIES for addr, word in enumerate(getattr(self, name))]


def _pack(values, bits):
    """Signed ``values`` as consecutive ``bits``-wide fields, the first lowest."""
    return pack(data.ArrayLayout(signed(bits), len(values)), values)


def build_dense_image(model, config):
    """Lay ``model``'s layers out in ``config``'s memories; ``ValueError`` when
    something does not fit, naming the option that raises the limit."""
    import numpy as np
    c = config
    if len(model.layers) > c.max_layers:
        raise ValueError(f"the model has {len(model.layers)} layers, over the engine's "
                         f"{c.max_layers}: raise --max-layers")
    if max(model.sizes) > c.max_cols:
        raise ValueError(f"the model's longest activation vector has {max(model.sizes)} "
                         f"elements, over the engine's {c.max_cols}: raise --max-cols")
    for name, have, need in [("weight", c.weight_bits, model.codebook_bits),
                             ("activation", c.act_bits, model.act_bits),
                             ("bias", c.bias_bits, model.bias_bits)]:
        if have < need:
            raise ValueError(f"the model's {name}s are {need} bits, wider than the engine's "
                             f"{have}: raise --{name}-bits")
    weights, bias, layers = [], [], []
    fields = dense_layer_fields(c)
    for k, layer in enumerate(model.layers):
        groups, chunks = -(-layer.rows // c.lanes), -(-layer.cols // c.width)
        w = np.zeros((groups * c.lanes, chunks * c.width), dtype=np.int64)
        w[:layer.rows, :layer.cols] = layer.weights()
        b = np.zeros(groups * c.lanes, dtype=np.int64)
        b[:layer.rows] = layer.bias
        for g in range(groups):
            rows = slice(g * c.lanes, (g + 1) * c.lanes)
            bias.append(_pack(b[rows], c.bias_bits))
            for j in range(chunks):
                beat = w[rows, j * c.width:(j + 1) * c.width]
                weights.append(_pack(beat.reshape(-1), c.weight_bits))
        layers.append(pack_fields(fields, dict(
            chunks=chunks, groups=groups, out_words=-(-layer.rows // c.width),
            shift=layer.shift, relu=int(layer.relu), last=int(k == len(model.layers) - 1))))
    if len(weights) > c.weight_words:
        raise ValueError(f"the weights take {len(weights)} words, over the engine's "
                         f"{c.weight_words}: raise --weight-words")
    if len(bias) > c.bias_words:
        raise ValueError(f"the biases take {len(bias)} words, over the engine's "
                         f"{c.bias_words}: raise --bias-words")
    return DenseImage(c, weights, bias, layers, model.layers[-1].rows)
