"""The EIE engine's parameters (``EieConfig``), validated, and what they fix of
its memories: the load port's memory ids and the layer table's bit fields.

These are the generator's parameters; ``sw.flows.eie_image`` sizes one to a
model and fills the memories it describes.
"""

from dataclasses import dataclass

from sw.spec.numerics import accumulator_bits
from sw.spec.packing import bit_fields

from ..checks import check_int
from ..memory import address_bits

__all__ = ["EieConfig", "MEMORIES", "UP5K_SPRAMS", "MAX_NNZ_DEPTH", "layer_fields"]

#: The most entries a PE holds (all layers): its pointers stay under 21 bits.
MAX_NNZ_DEPTH = 1 << 20

#: Single-port RAMs of an iCE40 UP5K (16384 x 16 bits each).
UP5K_SPRAMS = 4

#: Memory ids of the load port.
MEMORIES = {"ptr_even": 0, "ptr_odd": 1, "spmat": 2, "bias": 3, "codebook": 4, "layers": 5}


@dataclass(frozen=True)
class EieConfig:
    """Every parameter of a generated engine (``hw.eie.EieEngine``)."""
    pes: int = 8
    index_bits: int = 4
    z_bits: int = 4
    act_bits: int = 16
    codebook_bits: int = 16
    bias_bits: int = 32
    acc_bits: int = 0  # 0: derived from the widths and max_cols
    queue_depth: int = 8
    entries_per_word: int = 8
    nnz_depth: int = 8192  # entries per PE, all layers
    ptr_depth: int = 2048  # pointers per PE, all layers (columns + 1 each)
    max_cols: int = 1024  # longest activation vector (inputs or outputs of a layer)
    rows_per_pe: int = 128  # accumulators per PE
    bias_depth: int = 256  # biases per PE, all layers
    max_layers: int = 4
    spram: bool = False  # sparse matrix and activations single-ported, in iCE40 SPRAM
    sequential_scan: bool = False  # read every activation word, not only non-zero ones

    def derived_acc_bits(self):
        return accumulator_bits(self.act_bits, self.codebook_bits, self.max_cols, self.bias_bits)

    def validate(self):
        """``ValueError`` naming the first parameter out of range and its option."""
        check_int("PE count", self.pes, 1, 64, "--pes")
        check_int("index width", self.index_bits, 1, 8, "--index-bits")
        check_int("relative-index width", self.z_bits, 1, 8, "--z-bits")
        check_int("activation width", self.act_bits, 2, 24, "--act-bits")
        check_int("codebook width", self.codebook_bits, 2, 24, "--codebook-bits")
        check_int("bias width", self.bias_bits, 2, 48, "--bias-bits")
        check_int("queue depth", self.queue_depth, 1, 64, "--queue-depth")
        check_int("entries per word", self.entries_per_word, 1, 16, "--entries-per-word")
        if self.entries_per_word & (self.entries_per_word - 1):
            raise ValueError(f"entries per word must be a power of two, not "
                             f"{self.entries_per_word} (option --entries-per-word)")
        check_int("entries per PE", self.nnz_depth, 1, MAX_NNZ_DEPTH, "--nnz-depth")
        check_int("pointers per PE", self.ptr_depth, 2, 1 << 20, "--ptr-depth")
        check_int("longest activation vector", self.max_cols, 1, 1 << 16, "--max-cols")
        check_int("rows per PE", self.rows_per_pe, 1, 1 << 16, "--rows-per-pe")
        check_int("biases per PE", self.bias_depth, 1, 1 << 20, "--bias-depth")
        check_int("layer count", self.max_layers, 1, 64, "--max-layers")
        for name, option in [("spram", "--spram"), ("sequential_scan", "--sequential-scan")]:
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, not {getattr(self, name)!r} "
                                 f"(option {option})")
        if self.spram and self.sprams_needed() > UP5K_SPRAMS:
            raise ValueError(f"the sparse matrix and activations need {self.sprams_needed()} "
                             f"SPRAMs, over the UP5K's {UP5K_SPRAMS}: lower --pes, "
                             f"--entries-per-word or --nnz-depth (option --spram)")
        need = self.derived_acc_bits()
        if self.acc_bits and not need <= self.acc_bits <= 62:
            raise ValueError(f"accumulator width must be from {need} (cannot overflow) to 62, "
                             f"not {self.acc_bits} (option --acc-bits)")
        if need > 62:
            raise ValueError(f"the accumulator would need {need} bits, over 62: lower the "
                             f"widths or --max-cols")
        return self

    @property
    def accumulator_bits(self):
        return self.acc_bits or self.derived_acc_bits()

    @property
    def pointer_bits(self):
        """Width of a column pointer (an address into a PE's entries, one past
        the last included): what each pointer bank's word holds."""
        return address_bits(self.nnz_depth + 1)

    @property
    def beat_lanes(self):
        """Activations in an input or output beat."""
        return self.pes

    @property
    def load_data_bits(self):
        """The load port's data width: the widest memory word, or a layer-table
        word (at most 64 bits)."""
        return max(self.entries_per_word * (self.index_bits + self.z_bits), self.bias_bits,
                   self.codebook_bits, self.nnz_depth.bit_length(), 64)

    @property
    def act_words(self):
        """Words of ``pes`` activations in each of the two activation buffers."""
        return -(-self.max_cols // self.pes)

    def sprams_needed(self):
        """iCE40 SPRAMs (16384 x 16 bits) that ``spram`` placement takes: each PE's
        sparse matrix, and the activation buffers (both in one memory of
        ``2 << address_bits(act_words)`` words)."""
        def blocks(width, depth):
            return -(-width // 16) * -(-depth // 16384)
        words = -(-self.nnz_depth // self.entries_per_word)
        entry_bits = self.index_bits + self.z_bits
        act_depth = 2 << max(1, (self.act_words - 1).bit_length())
        return (self.pes * blocks(self.entries_per_word * entry_bits, words)
                + blocks(self.pes * self.act_bits, act_depth))


def layer_fields(config):
    """Bit fields of a layer-table word: ``{name: (offset, width)}``."""
    words = -(-config.max_cols // config.pes)
    widths = [("cols", config.max_cols.bit_length()), ("rows", config.max_cols.bit_length()),
              ("words", words.bit_length()),
              ("ptr_base", config.ptr_depth.bit_length()),
              ("bias_base", config.bias_depth.bit_length()),
              ("shift", 7), ("relu", 1), ("last", 1)]
    return bit_fields(widths)
