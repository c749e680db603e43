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

from hw.eie.config import MAX_NNZ_DEPTH, MEMORIES, EieConfig, layer_fields
from sw.flows.image import check_room, fit_config
from sw.golden.eie import accumulator_width
from sw.spec.packing import pack_fields

__all__ = ["config_for", "nnz_depth_for", "EieImage", "build_image"]


def _rows_of(rows, pes, pe):
    return len(range(pe, rows, pes))


def _most_entries(eie_layers):
    """The entries of the PE that holds the most, all ``eie_layers`` together."""
    return max([sum(len(layer.v[pe]) for layer in eie_layers)
                for pe in range(eie_layers[0].pes)] + [1]) if eie_layers else 1


def nnz_depth_for(eie_layers, entries_per_word=None):
    """Entries per PE an engine needs for ``eie_layers`` (``EieLayer``s, all
    layers of one model): the fullest PE's, in whole memory words of
    ``entries_per_word`` (the engine's default if None)."""
    per_word = entries_per_word or EieConfig.entries_per_word
    return per_word * -(-_most_entries(eie_layers) // per_word)


def config_for(model, **overrides):
    """The smallest engine that holds ``model`` (rounded up), with ``overrides``."""
    eie_layers = [layer.eie for layer in model.layers]
    most = _most_entries(eie_layers)
    if "nnz_depth" not in overrides and most > MAX_NNZ_DEPTH:
        # No --nnz-depth can hold it: only spreading the rows wider can.
        raise ValueError(f"the model puts {most} entries on a PE, over the {MAX_NNZ_DEPTH} "
                         f"a PE can hold: recompress it over more PEs than {model.pes} "
                         f"(--pes, about {-(-most * model.pes // MAX_NNZ_DEPTH)} or more)")
    fit = dict(
        pes=model.pes, index_bits=model.index_bits, z_bits=model.z_bits,
        act_bits=model.act_bits, codebook_bits=model.codebook_bits, bias_bits=model.bias_bits,
        # Whole memory words of the engine's own entries per word (an override's too).
        nnz_depth=nnz_depth_for(eie_layers, overrides.get("entries_per_word")),
        ptr_depth=sum(layer.cols + 1 for layer in model.layers) + 1,
        max_cols=max(model.sizes),
        rows_per_pe=max(-(-layer.rows // model.pes) for layer in model.layers),
        bias_depth=sum(-(-layer.rows // model.pes) for layer in model.layers),
        max_layers=len(model.layers))
    return fit_config(EieConfig, fit, overrides)


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
        """``(memory id, pe, address, data)`` writes that load this image at run
        time; ``data`` is the memory word's bits, as a read beat gives it back."""
        beats = []
        # Signed values (biases, codebooks) go over the port as their bits.
        # (Unsigned words are their bits already: all ones leaves them.)
        masks = {"bias": (1 << self.config.bias_bits) - 1,
                 "codebook": (1 << self.config.codebook_bits) - 1}
        for name in ("ptr_even", "ptr_odd", "spmat", "bias", "codebook"):
            mask = masks.get(name, -1)
            for pe, words in enumerate(getattr(self, name)):
                beats += [(MEMORIES[name], pe, a, int(w) & mask) for a, w in enumerate(words)]
        beats += [(MEMORIES["layers"], 0, a, int(w)) for a, w in enumerate(self.layers)]
        return beats


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
    check_room("the model has {} layers", len(model.layers), c.max_layers, "max-layers")
    check_room("the model has a {}-long activation vector", max(model.sizes), c.max_cols,
               "max-cols")
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
        check_room(f"layer {index} puts {{}} rows on a PE", rows_pe, c.rows_per_pe,
                   "rows-per-pe")
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
    check_room("the model puts {} entries on a PE", max(len(e) for e in entries), c.nnz_depth,
               "nnz-depth")
    check_room("the model needs {} pointers per PE", ptr_base, c.ptr_depth, "ptr-depth")
    check_room("the model needs {} biases per PE", bias_base, c.bias_depth, "bias-depth")
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
