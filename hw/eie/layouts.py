"""What the EIE engine's units exchange: payload layouts, and the one way a
unit's memory is built so the load port can write it."""

from types import SimpleNamespace

from amaranth.hdl import Mux, Signal, signed
from amaranth.lib import data
from amaranth.lib.memory import Memory

__all__ = ["address_bits", "broadcast_layout", "load_layout", "layer_config_layout",
           "loadable_memory", "placed_memory", "replica", "single_port",
           "SPRAM_SUFFIX"]


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
    """A write into one of an engine's memories (for the EIE engine,
    ``sw.eie_image.MEMORIES`` ids; for the dense engine,
    ``sw.dense_image.DENSE_MEMORIES``); ``data`` is ``config.load_data_bits`` wide."""
    return data.StructLayout({"mem": 3, "pe": 6, "addr": 20, "data": config.load_data_bits})


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
    """A memory of PE ``pe`` that load beats for (``name``, ``pe``) write; returns
    the datapath's synchronous read port (``addr``, ``en``, ``data``).

    Its contents start as ``image``'s (``sw.eie_image.EieImage``) when one is
    given. With ``spram`` it is one shared port (``single_port``) that Yosys
    maps to iCE40 SPRAM: loads take the port, which they may since the engine
    loads only while idle, and it starts empty (SPRAM has no initial
    contents, so an image cannot be baked into it).
    """
    from sw.eie_image import MEMORIES
    init = [] if image is None else [int(x) for x in getattr(image, name)[pe]]
    mem = placed_memory(m, name, shape, depth, init, spram)
    en = load.valid & (load.payload.mem == MEMORIES[name]) & (load.payload.pe == pe)
    if spram:
        return single_port(m, mem, load.payload.addr, load.payload.data, en)
    wr = mem.write_port()
    m.d.comb += [wr.addr.eq(load.payload.addr), wr.data.eq(load.payload.data), wr.en.eq(en)]
    return mem.read_port()


#: Names of memories placed in iCE40 SPRAM end with this; the synthesis
#: scripts drop their (all-zero) initial contents, which SPRAM cannot hold
#: (``sw.toolchain.AFTER_READ``).
SPRAM_SUFFIX = "_spram"


def placed_memory(m, name, shape, depth, init=(), spram=False):
    """A memory added as submodule ``name``; with ``spram`` named and marked so
    that Yosys places it in iCE40 SPRAM (its ports must then be ``single_port``).

    The caller promises that no read needs the word being written in the same
    cycle (a memory loaded only while the engine is idle; activation banks
    read and written in different phases; accumulators whose bypass covers
    the one collision). The memory says so to Yosys (``no_rw_check``), which
    otherwise wraps each block RAM in an address comparator and a data
    register to give the old word on a collision: LUTs, and on the pointer
    banks the ECP5's critical path.
    """
    attrs = {"no_rw_check": 1}
    if spram:
        attrs["ram_style"] = "huge"
    mem = Memory(shape=shape, depth=depth, init=init, attrs=attrs)
    m.submodules[name + SPRAM_SUFFIX if spram else name] = mem
    return mem


def single_port(m, mem, write_addr, write_data, write_en):
    """Reads and writes of ``mem`` through one address, as an iCE40 SPRAM has.

    A write takes the address in its cycle and the read output holds its
    previous word meanwhile (SPRAM's no-change mode), so the user must not
    need a read in a cycle that writes. Returns the read side: ``addr``,
    ``en`` (default 1) and ``data``, like a read port's.
    """
    rd, wr = mem.read_port(), mem.write_port()
    read = SimpleNamespace(addr=Signal.like(rd.addr), en=Signal(init=1), data=rd.data)
    shared = Signal.like(rd.addr)
    m.d.comb += [shared.eq(Mux(write_en, write_addr, read.addr)),
                 rd.addr.eq(shared), wr.addr.eq(shared), wr.data.eq(write_data),
                 wr.en.eq(write_en), rd.en.eq(read.en & ~write_en)]
    return read


def replica(like, config, reset_less=False):
    """A register for a copy of ``like`` that one PE keeps for itself.

    Copies of one value spread its fan-out: each PE's copy sits beside the
    PE, so no flip-flop drives wires across the chip. Yosys merges
    flip-flops that have the same input, which would undo the copies, so
    they carry the attribute ``replica``, whose flip-flops the synthesis
    scripts keep (``sw.toolchain.AFTER_READ``). Kept flip-flops keep their
    reset in logic, so copies of payloads (``reset_less``) go without. In
    the iCE40 organization (``config.spram``) the copies are left to merge:
    logic cells are what a UP5K lacks, and its clock does not need them.
    """
    attrs = {} if config.spram else {"replica": 1}
    return Signal.like(like, reset_less=reset_less, attrs=attrs, src_loc_at=1)
