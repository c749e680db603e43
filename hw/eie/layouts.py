"""What the EIE engine's units exchange: payload layouts, and the one way a
unit's memory is built so the load port can write it."""

from amaranth.hdl import signed
from amaranth.lib import data
from amaranth.lib.memory import Memory

__all__ = ["address_bits", "broadcast_layout", "load_layout", "layer_config_layout",
           "loadable_memory"]


def address_bits(n):
    """Address width for ``n`` locations (at least 1)."""
    return max(1, (n - 1).bit_length())


def broadcast_layout(config):
    """A broadcast non-zero: where its column's pointers are (the layer's
    pointer base plus the column, added once in the central unit rather than
    in every PE) and the activation."""
    return data.StructLayout({"ptr": address_bits(config.ptr_depth + 2),
                              "act": signed(config.act_bits)})


def load_layout(config):
    """A write into one of the engine's memories (``sw.eie_image.MEMORIES`` ids)."""
    width = max(config.entries_per_word * (config.index_bits + config.z_bits),
                config.bias_bits, config.codebook_bits,
                address_bits(config.nnz_depth + 1), 64)
    return data.StructLayout({"mem": 3, "pe": 6, "addr": 20, "data": width})


def layer_config_layout(config):
    """What a PE needs to know of the current layer (held for the whole layer).

    The requantization shift ``s`` arrives decoded, so no PE decodes it on a
    path to its results: ``coarse_shift = max(s - 1, 0)`` and ``round = s > 0``
    (``hw.eie.writeback``).
    """
    return data.StructLayout({"index": address_bits(config.max_layers + 1),
                              "ptr_base": address_bits(config.ptr_depth + 1),
                              "bias_base": address_bits(config.bias_depth + 1),
                              "coarse_shift": 7, "round": 1, "relu": 1})


def loadable_memory(m, name, shape, depth, load, pe, image=None):
    """A memory of PE ``pe`` that load beats for (``name``, ``pe``) write.

    Its contents start as ``image``'s (``sw.eie_image.EieImage``) when one is
    given; the datapath reads it through ports of its own.
    """
    from sw.eie_image import MEMORIES
    init = [] if image is None else [int(x) for x in getattr(image, name)[pe]]
    mem = Memory(shape=shape, depth=depth, init=init)
    m.submodules[name] = mem
    wr = mem.write_port()
    m.d.comb += [
        wr.addr.eq(load.payload.addr),
        wr.data.eq(load.payload.data),
        wr.en.eq(load.valid & (load.payload.mem == MEMORIES[name]) & (load.payload.pe == pe)),
    ]
    return mem
