"""An energy estimate of one inference on the EIE engine, from operation and
memory-access counts and the seed's 45 nm table (Han, FPGA'17 tutorial).

A model, not a measurement: it prices what the engine does (the counts come
from the compressed network and the actual activations) at 45 nm ASIC costs,
with no FPGA routing, clocking or static power.
"""

import numpy as np

__all__ = ["PJ", "inference_energy", "dense_inference_energy"]

#: picojoules per operation at 45 nm (the seed's table; 32-bit integer ops).
PJ = {"int_add": 0.1, "int_mult": 3.1, "sram_read": 5.0, "dram_read": 640.0}


def inference_energy(model, activations_per_layer, entries_per_word=8):
    """Energy figures of one inference: counts per kind and picojoules.

    ``activations_per_layer[l]`` is layer ``l``'s input vector, as the golden
    model's trace gives it.
    """
    counts = {"mac": 0, "entries": 0, "sram_reads": 0, "sram_writes": 0}
    for layer, a in zip(model.layers, activations_per_layer):
        eie = layer.eie
        cols = np.flatnonzero(np.asarray(a) != 0)
        entries = int(eie.entries()[:, cols].sum())  # padding entries included
        # Each entry: its sparse-matrix word share, a codebook read, an
        # accumulator read and write, and a multiply-accumulate; each
        # broadcast column: two pointer reads in every PE; each output row:
        # a bias read and an activation write; each input: one activation read.
        counts["entries"] += entries
        counts["mac"] += entries
        counts["sram_reads"] += (entries / entries_per_word + 2 * entries
                                 + 2 * len(cols) * eie.pes + layer.rows + len(a))
        counts["sram_writes"] += entries + layer.rows
    return _priced(counts)


def dense_inference_energy(model, lanes, width):
    """The same figures for the dense engine (``hw.dense_engine``, the MAC array
    ``lanes x width``) running ``model``'s layers decoded: every weight is
    read and multiplied, zero or not, whatever the activations."""
    counts = {"mac": 0, "entries": 0, "sram_reads": 0, "sram_writes": 0}
    for layer in model.layers:
        groups, chunks = -(-layer.rows // lanes), -(-layer.cols // width)
        # Each beat: lanes x width weights and a word of activations; each
        # group: its biases; each output row: an activation write.
        counts["mac"] += groups * chunks * lanes * width
        counts["sram_reads"] += groups * chunks * (lanes * width + 1) + groups
        counts["sram_writes"] += layer.rows
    return _priced(counts)


def _priced(counts):
    pj = (counts["mac"] * (PJ["int_mult"] + PJ["int_add"])
          + (counts["sram_reads"] + counts["sram_writes"]) * PJ["sram_read"])
    return {**{k: int(v) for k, v in counts.items()}, "picojoules": round(pj, 1),
            "nanojoules": round(pj / 1000, 2)}
