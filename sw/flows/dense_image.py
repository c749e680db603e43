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

from hw.dense_config import DENSE_MEMORIES, DenseConfig, dense_layer_fields
from sw.flows.image import check_room, fit_config
from sw.spec.packing import pack, pack_fields

__all__ = ["DenseImage", "dense_config_for", "build_dense_image"]


def dense_config_for(model, lanes=2, width=4, **overrides):
    """The smallest dense engine that holds ``model`` (a ``CompressedModel``)."""
    # The sizes below divide by lanes and width: refuse bad ones first, with
    # the configuration's own messages.
    DenseConfig(lanes=lanes, width=width).validate()

    def beats(layer):
        return -(-layer.rows // lanes) * -(-layer.cols // width)
    fit = dict(lanes=lanes, width=width, act_bits=model.act_bits,
               weight_bits=model.codebook_bits, bias_bits=model.bias_bits,
               max_cols=max(model.sizes),
               weight_words=max(1, sum(beats(layer) for layer in model.layers)),
               bias_words=max(1, sum(-(-layer.rows // lanes) for layer in model.layers)),
               max_layers=len(model.layers))
    return fit_config(DenseConfig, fit, overrides)


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
    check_room("the model has {} layers", len(model.layers), c.max_layers, "max-layers")
    check_room("the model's longest activation vector has {} elements", max(model.sizes),
               c.max_cols, "max-cols")
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
    check_room("the weights take {} words", len(weights), c.weight_words, "weight-words")
    check_room("the biases take {} words", len(bias), c.bias_words, "bias-words")
    return DenseImage(c, weights, bias, layers, model.layers[-1].rows)
