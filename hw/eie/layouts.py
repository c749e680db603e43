"""What the EIE engine's units exchange: payload layouts, and the one way a
unit's memory is built so the load port can write it (memories in general:
``hw.memory``)."""

from amaranth.hdl import Signal, signed
from amaranth.lib import data

from ..memory import address_bits, placed_memory, read_back, single_port
from .config import MEMORIES

__all__ = ["broadcast_layout", "layer_config_layout", "loadable_memory", "replica"]


def broadcast_layout(config):
    """A broadcast non-zero: where its column's pointers are (the layer's
    pointer base plus the column, added once in the central unit rather than
    in every PE) and the activation."""
    return data.StructLayout({"ptr": address_bits(config.ptr_depth + 2),
                              "act": signed(config.act_bits)})


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


def loadable_memory(m, name, shape, depth, load, pe, image=None, spram=False):
    """A memory of PE ``pe`` that load beats for (``name``, ``pe``) write or read
    back; returns the datapath's synchronous read port (``addr``, ``en``,
    ``data``) and the memory's answer to read beats (``hw.memory.read_back``).

    Its contents start as ``image``'s (``sw.flows.eie_image.EieImage``) when one is
    given. With ``spram`` it is one shared port (``single_port``) that Yosys
    maps to iCE40 SPRAM: loads take the port, which they may since the engine
    loads only while idle, and it starts empty (SPRAM has no initial
    contents, so an image cannot be baked into it).
    """
    init = [] if image is None else [int(x) for x in getattr(image, name)[pe]]
    mem = placed_memory(m, name, shape, depth, init, spram)
    selected = (load.payload.mem == MEMORIES[name]) & (load.payload.pe == pe)
    en = load.valid & selected & ~load.payload.read
    if spram:
        rd = single_port(m, mem, load.payload.addr, load.payload.data, en)
    else:
        wr, rd = mem.write_port(), mem.read_port()
        m.d.comb += [wr.addr.eq(load.payload.addr), wr.data.eq(load.payload.data), wr.en.eq(en)]
    return read_back(m, rd, load, selected, depth)


def replica(like, config, reset_less=False):
    """A register for a copy of ``like`` that one PE keeps for itself.

    Copies of one value spread its fan-out: each PE's copy sits beside the
    PE, so no flip-flop drives wires across the chip. Yosys merges
    flip-flops that have the same input, which would undo the copies, so
    they carry the attribute ``replica``, whose flip-flops the synthesis
    scripts keep (``sw.flows.toolchain.AFTER_READ``). Kept flip-flops keep their
    reset in logic, so copies of payloads (``reset_less``) go without. In
    the iCE40 organization (``config.spram``) the copies are left to merge:
    logic cells are what a UP5K lacks, and its clock does not need them.
    """
    attrs = {} if config.spram else {"replica": 1}
    return Signal.like(like, reset_less=reset_less, attrs=attrs, src_loc_at=1)
