"""The dense engine's parameters (``DenseConfig``), validated, and what they fix
of its memories: the load port's memory ids and the layer table's bit fields.

These are the generator's parameters; ``sw.flows.dense_image`` sizes one to a
model and fills the memories it describes.
"""

from dataclasses import dataclass

from sw.spec.numerics import accumulator_bits
from sw.spec.packing import bit_fields

from .checks import check_int

__all__ = ["DenseConfig", "DENSE_MEMORIES", "dense_layer_fields"]

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
        check_int("lane count", self.lanes, 1, 64, "--lanes")
        check_int("width", self.width, 1, 64, "--width")
        if self.width % self.lanes:
            raise ValueError(f"width {self.width} must be a multiple of the lane count "
                             f"{self.lanes}: a layer's outputs, {self.lanes} at a time, fill "
                             f"words of {self.width} activations (option --width)")
        check_int("activation width", self.act_bits, 2, 24, "--act-bits")
        check_int("weight width", self.weight_bits, 2, 24, "--weight-bits")
        check_int("bias width", self.bias_bits, 2, 48, "--bias-bits")
        check_int("longest activation vector", self.max_cols, 1, 1 << 16, "--max-cols")
        check_int("weight words", self.weight_words, 1, 1 << 20, "--weight-words")
        check_int("bias words", self.bias_words, 1, 1 << 20, "--bias-words")
        check_int("layer count", self.max_layers, 1, 64, "--max-layers")
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
