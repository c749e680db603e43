"""Memory images of the EIE engine, built from a compressed model.

The engine keeps all layers at once, one after the other in each memory:

* per PE: column pointers in two banks (even and odd pointer indices, so
  ``p[j]`` and ``p[j + 1]`` come out in one cycle), sparse-matrix words of
  ``entries_per_word`` entries (``v`` in the low bits of each entry, then
  ``z``), the biases of its rows, and every layer's codebook;
* central: the layer table (columns, rows, activation words, pointer and bias
  bases, shift, ReLU).

Pointers are absolute addresses into the PE's entry memory, so the hardware
never adds a base to them.
"""

from dataclasses import dataclass

from .eie_golden import accumulator_width
from .numerics import accumulator_bits
from .packing import bit_fields, pack_fields

__all__ = ["EieConfig", "config_for", "EieImage", "build_image", "MEMORIES"]

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
        def check(name, value, lo, hi, option):
            if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
                raise ValueError(f"{name} must be an integer from {lo} to {hi}, not {value!r} "
                                 f"(option {option})")
        check("PE count", self.pes, 1, 64, "--pes")
        check("index width", self.index_bits, 1, 8, "--index-bits")
        check("relative-index width", self.z_bits, 1, 8, "--z-bits")
        check("activation width", self.act_bits, 2, 24, "--act-bits")
        check("codebook width", self.codebook_bits, 2, 24, "--codebook-bits")
        check("bias width", self.bias_bits, 2, 48, "--bias-bits")
        check("queue depth", self.queue_depth, 1, 64, "--queue-depth")
        check("entries per word", self.entries_per_word, 1, 16, "--entries-per-word")
        if self.entries_per_word & (self.entries_per_word - 1):
            raise ValueError(f"entries per word must be a power of two, not "
                             f"{self.entries_per_word} (option --entries-per-word)")
        check("entries per PE", self.nnz_depth, 1, 1 << 20, "--nnz-depth")
        check("pointers per PE", self.ptr_depth, 2, 1 << 20, "--ptr-depth")
        check("longest activation vector", self.max_cols, 1, 1 << 16, "--max-cols")
        check("rows per PE", self.rows_per_pe, 1, 1 << 16, "--rows-per-pe")
        check("biases per PE", self.bias_depth, 1, 1 << 20, "--bias-depth")
        check("layer count", self.max_layers, 1, 64, "--max-layers")
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


def _rows_of(rows, pes, pe):
    return len(range(pe, rows, pes))


def config_for(model, **overrides):
    """The smallest engine that holds ``model`` (rounded up), with ``overrides``."""
    entries = [sum(len(layer.eie.v[pe]) for layer in model.layers) for pe in range(model.pes)]
    words = -(-max(entries + [1]) // 8)
    fit = dict(
        pes=model.pes, index_bits=model.index_bits, z_bits=model.z_bits,
        act_bits=model.act_bits, codebook_bits=model.codebook_bits, bias_bits=model.bias_bits,
        nnz_depth=8 * words,
        ptr_depth=sum(layer.cols + 1 for layer in model.layers) + 1,
        max_cols=max(model.sizes),
        rows_per_pe=max(-(-layer.rows // model.pes) for layer in model.layers),
        bias_depth=sum(-(-layer.rows // model.pes) for layer in model.layers),
        max_layers=len(model.layers))
    fit.update(overrides)
    return EieConfig(**fit).validate()


@dataclass
class EieImage:
    """Contents of every memory, per PE where the memory is per PE."""
    config: EieConfig
    ptr_even: list  # per PE, int arrays
    ptr_odd: list
    spmat: list  # per PE, packed words (Python ints)
    bias: list
    codebook: list  # per PE, identical copies
    layers: list  # packed layer-table words
    n_layers: int
    out_rows: int
    in_cols: int

    def load_beats(self):
        """``(memory id, pe, address, data)`` writes that load this image at run time."""
        beats = []
        # Signed values (biases, codebooks) go over the port as their bits.
        mask = (1 << max(self.config.bias_bits, self.config.codebook_bits)) - 1
        for name in ("ptr_even", "ptr_odd", "spmat", "bias", "codebook"):
            for pe, words in enumerate(getattr(self, name)):
                beats += [(MEMORIES[name], pe, a, int(w) & mask if w < 0 else int(w))
                          for a, w in enumerate(words)]
        beats += [(MEMORIES["layers"], 0, a, int(w)) for a, w in enumerate(self.layers)]
        return beats


def layer_fields(config):
    """Bit fields of a layer-table word: ``{name: (offset, width)}``."""
    words = -(-config.max_cols // config.pes)
    widths = [("cols", config.max_cols.bit_length()), ("rows", config.max_cols.bit_length()),
              ("words", words.bit_length()),
              ("ptr_base", config.ptr_depth.bit_length()),
              ("bias_base", config.bias_depth.bit_length()),
              ("shift", 7), ("relu", 1), ("last", 1)]
    return bit_fields(widths)


def _pack_layer(config, **values):
    return pack_fields(layer_fields(config), values)


def build_image(model, config):
    """Memory images of ``model`` for an engine of ``config``.

    Raises ``ValueError`` naming the memory that is too small and the option
    that makes it larger.
    """
    c = config.validate()
    if model.pes != c.pes:
        raise ValueError(f"the model is interleaved over {model.pes} PEs but the engine has "
                         f"{c.pes}: recompress with --pes {c.pes} or generate with --pes "
                         f"{model.pes}")
    for name in ("index_bits", "z_bits", "act_bits", "codebook_bits", "bias_bits"):
        if getattr(model, name) != getattr(c, name):
            raise ValueError(f"the model has {name.replace('_', ' ')} {getattr(model, name)} "
                             f"but the engine {getattr(c, name)}: generate with "
                             f"--{name.replace('_', '-')} {getattr(model, name)}")
    if len(model.layers) > c.max_layers:
        raise ValueError(f"the model has {len(model.layers)} layers, over the engine's "
                         f"{c.max_layers}: raise --max-layers")
    if max(model.sizes) > c.max_cols:
        raise ValueError(f"the model has a {max(model.sizes)}-long activation vector, over the "
                         f"engine's {c.max_cols}: raise --max-cols")
    need = accumulator_width(model)
    if need > c.accumulator_bits:
        raise ValueError(f"the model needs a {need}-bit accumulator, the engine has "
                         f"{c.accumulator_bits}: raise --acc-bits or --max-cols")
    pes, epw = c.pes, c.entries_per_word
    entry_bits = c.index_bits + c.z_bits
    ptrs = [[] for _ in range(pes)]
    entries = [[] for _ in range(pes)]
    biases = [[] for _ in range(pes)]
    table = []
    ptr_base = bias_base = 0
    for index, layer in enumerate(model.layers):
        rows_pe = -(-layer.rows // pes)
        if rows_pe > c.rows_per_pe:
            raise ValueError(f"layer {index} puts {rows_pe} rows on a PE, over the engine's "
                             f"{c.rows_per_pe}: raise --rows-per-pe")
        for pe in range(pes):
            base = len(entries[pe])
            ptrs[pe] += [base + int(p) for p in layer.eie.ptr[pe]]
            entries[pe] += [int(v) | int(z) << c.index_bits
                            for v, z in zip(layer.eie.v[pe], layer.eie.z[pe])]
            own = [int(b) for b in layer.bias[pe::pes]]
            biases[pe] += own + [0] * (rows_pe - len(own))
        if layer.shift > 127:
            raise ValueError(f"layer {index} needs a shift of {layer.shift}, over 127")
        table.append(_pack_layer(c, cols=layer.cols, rows=layer.rows,
                                 words=-(-layer.cols // pes), ptr_base=ptr_base,
                                 bias_base=bias_base, shift=layer.shift, relu=layer.relu,
                                 last=index == len(model.layers) - 1))
        ptr_base += layer.cols + 1
        bias_base += rows_pe
    most = max(len(e) for e in entries)
    if most > c.nnz_depth:
        raise ValueError(f"the model puts {most} entries on a PE, over the engine's "
                         f"{c.nnz_depth}: raise --nnz-depth")
    if ptr_base > c.ptr_depth:
        raise ValueError(f"the model needs {ptr_base} pointers per PE, over the engine's "
                         f"{c.ptr_depth}: raise --ptr-depth")
    if bias_base > c.bias_depth:
        raise ValueError(f"the model needs {bias_base} biases per PE, over the engine's "
                         f"{c.bias_depth}: raise --bias-depth")
    codebook = []
    for layer in model.layers:
        codebook += [int(x) for x in layer.codebook]
    words = []
    for pe in range(pes):
        packed = []
        for start in range(0, len(entries[pe]), epw):
            chunk = entries[pe][start:start + epw]
            packed.append(sum(e << (k * entry_bits) for k, e in enumerate(chunk)))
        words.append(packed)
    return EieImage(
        config=c,
        ptr_even=[p[0::2] for p in ptrs], ptr_odd=[p[1::2] for p in ptrs],
        spmat=words, bias=biases,
        codebook=[list(codebook) for _ in range(pes)], layers=table,
        n_layers=len(model.layers), out_rows=model.layers[-1].rows,
        in_cols=model.layers[0].cols)
