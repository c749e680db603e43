"""Synthetic compressed models with the EIE format's edge cases built in."""

import numpy as np

from sw.formats.csc import encode_layer
from sw.formats.model import CompressedModel, Layer


def random_model(seed, sizes, pes, *, density=0.3, act_bits=16, codebook_bits=16,
                 bias_bits=32, shifts=None, saturate=False):
    """A model of random sparse layers: some columns empty, some zero runs
    longer than 15 (padding entries), every layer but the last with ReLU.

    With ``saturate``, codebook values sit at the extremes and shifts are 0,
    so most outputs clip.
    """
    rng = np.random.default_rng(seed)
    layers = []
    frac = 8
    for i, (cols, rows) in enumerate(zip(sizes[:-1], sizes[1:])):
        indices = rng.integers(1, 16, (rows, cols)) * (rng.random((rows, cols)) < density)
        indices[:, rng.integers(0, cols)] = 0  # an empty column
        if rows > 20 * pes:
            # A long zero run inside one PE's slice of a column, then a non-zero.
            col = rng.integers(0, cols)
            indices[:, col] = 0
            indices[-1, col] = 3
        hi = (1 << (codebook_bits - 1)) - 1
        if saturate:
            codebook = rng.choice([-hi - 1, hi, hi // 2, -hi // 2], 16)
        else:
            codebook = rng.integers(-hi // 8, hi // 8, 16)
        codebook[0] = 0
        bias = rng.integers(-(1 << 20), 1 << 20, rows)
        weight_frac = 14
        shift = 0 if saturate else (shifts[i] if shifts else 14)
        layers.append(Layer(encode_layer(indices, pes, 4), codebook.astype(np.int64),
                            bias.astype(np.int64), weight_frac, frac,
                            frac + weight_frac - shift, relu=i < len(sizes) - 2))
        frac = frac + weight_frac - shift
    return CompressedModel(name=f"random-{seed}", pes=pes, index_bits=4, z_bits=4,
                           act_bits=act_bits, codebook_bits=codebook_bits, bias_bits=bias_bits,
                           input_frac=8, input_shift=0, layers=layers)


def random_inputs(seed, batch, cols, zero_rows=(0,)):
    """Raw inputs 0-255, mostly sparse, with all-zero samples at ``zero_rows``."""
    rng = np.random.default_rng(seed + 1000)
    x = rng.integers(0, 256, (batch, cols)) * (rng.random((batch, cols)) < 0.4)
    for r in zero_rows:
        x[r] = 0
    return x


def one_entry_per_column_model(seed, pes, cols, rows_per_pe=4):
    """One layer of ``pes * rows_per_pe`` rows where every PE has exactly one
    entry in every column (at a random local row), no padding: every PE
    has the same work in every column, so nothing but the engine's own
    pipeline and queues sets its pace. ``rows_per_pe`` at most ``2**4``
    keeps every relative index within 4 bits."""
    if not 1 <= rows_per_pe <= 16:
        raise ValueError(f"rows per PE must be 1 to 16 (one entry a column, no padding), "
                         f"not {rows_per_pe}")
    rng = np.random.default_rng(seed)
    rows = pes * rows_per_pe
    indices = np.zeros((rows, cols), dtype=np.int64)
    for pe in range(pes):
        local = rng.integers(0, rows_per_pe, cols)
        indices[local * pes + pe, np.arange(cols)] = rng.integers(1, 16, cols)
    codebook = rng.integers(-(1 << 12), 1 << 12, 16)
    codebook[0] = 0
    bias = rng.integers(-(1 << 20), 1 << 20, rows)
    layer = Layer(encode_layer(indices, pes, 4), codebook.astype(np.int64),
                  bias.astype(np.int64), 14, 8, 8, relu=False)
    return CompressedModel(name=f"one-per-column-{seed}", pes=pes, index_bits=4, z_bits=4,
                           act_bits=16, codebook_bits=16, bias_bits=32, input_frac=8,
                           input_shift=0, layers=[layer])


def random_ints(rng, bits, shape, *, kinds=("uniform", "sparse", "extremes", "zero"),
                p=(0.4, 0.25, 0.25, 0.1)):
    """Signed ``bits``-bit integers of one random kind: uniform over the range,
    mostly zero, at the range's extremes (and next to them, and -1, 0, 1), or all
    zero. The kind is drawn from ``kinds`` with probabilities ``p``."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    kind = kinds[rng.choice(len(kinds), p=np.asarray(p) / np.sum(p))]
    if kind == "zero":
        return np.zeros(shape, dtype=np.int64)
    if kind == "extremes":
        return rng.choice(np.array([lo, hi, lo + 1, hi - 1, -1, 0, 1]), shape).astype(np.int64)
    values = rng.integers(lo, hi, shape, endpoint=True, dtype=np.int64)
    return values * (rng.random(shape) < 0.15) if kind == "sparse" else values


def edge_case_model(rng, sizes, pes, *, index_bits=4, z_bits=4, act_bits=16, codebook_bits=16,
                    bias_bits=32):
    """A model of random sparse layers for the formats given, drawn from ``rng``
    (a ``numpy.random.Generator``) with the hard cases mixed in.

    Each layer's density is drawn (empty layers, all-dense ones among them);
    some columns are empty; one column holds one non-zero at its last row, so
    the PE holding that row sees a zero run as long as its slice, longer than
    ``z_bits`` reach whenever the slice is (padding entries); codebooks and
    biases are uniform, sparse, or at the extremes of their widths, and shifts
    range from 0 (saturating) past the product's fraction bits. Raw inputs go
    through a random ``input_shift``.
    """
    layers = []
    input_frac = int(rng.integers(0, 9))
    frac = input_frac
    for cols, rows in zip(sizes[:-1], sizes[1:]):
        density = rng.choice([0.0, 0.03, 0.1, 0.3, 0.7, 1.0], p=[0.05, 0.2, 0.25, 0.25, 0.15, 0.1])
        indices = rng.integers(1, 1 << index_bits, (rows, cols)) * (rng.random((rows, cols))
                                                                   < density)
        indices[:, rng.choice(cols, int(rng.integers(0, cols // 3 + 1)), replace=False)] = 0
        col = rng.integers(0, cols)
        indices[:, col] = 0
        indices[-1, col] = rng.integers(1, 1 << index_bits)
        codebook = random_ints(rng, codebook_bits, 1 << index_bits, p=(0.6, 0.1, 0.3, 0.0))
        codebook[0] = 0  # padding entries decode to zero
        bias = random_ints(rng, bias_bits, rows)
        weight_frac = int(rng.integers(0, codebook_bits))
        shift = int(rng.choice([0, 1, rng.integers(0, act_bits + codebook_bits + 4)]))
        layers.append(Layer(encode_layer(indices, pes, z_bits), codebook, bias, weight_frac,
                            frac, frac + weight_frac - shift, relu=bool(rng.random() < 0.6)))
        frac = frac + weight_frac - shift
    return CompressedModel(name="edge-cases", pes=pes, index_bits=index_bits, z_bits=z_bits,
                           act_bits=act_bits, codebook_bits=codebook_bits, bias_bits=bias_bits,
                           input_frac=input_frac, input_shift=int(rng.integers(0, 3)),
                           layers=layers)
