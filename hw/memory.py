"""Memories as every engine and the host link build them: address widths, the
load port's write beats, memories placed in block RAM or iCE40 SPRAM, and
SPRAM's single shared port."""

from types import SimpleNamespace

from amaranth.hdl import Cat, Const, Mux, Signal, unsigned
from amaranth.lib import data
from amaranth.lib.memory import Memory

__all__ = ["address_bits", "load_layout", "readback_layout", "placed_memory", "single_port",
           "read_back", "merge_answers", "SPRAM_SUFFIX"]


def address_bits(n):
    """Address width for ``n`` locations (at least 1)."""
    return max(1, (n - 1).bit_length())


def load_layout(config):
    """A write into one of an engine's memories (for the EIE engine,
    ``hw.eie.config.MEMORIES`` ids; for the dense engine,
    ``hw.dense_config.DENSE_MEMORIES``); ``data`` is ``config.load_data_bits`` wide
    and holds the memory word's bits. With ``read`` set the beat writes
    nothing and asks for the word back instead (``readback_layout``).

    The host link carries these too (``hw.link``), which is why they live
    here and not with either engine."""
    return data.StructLayout({"mem": 3, "pe": 6, "addr": 20, "data": config.load_data_bits,
                              "read": 1})


def readback_layout(config):
    """An engine's answer to a read beat: ``payload``, the memory word's bits
    zero-extended to the load port's data width, with ``valid`` for one cycle,
    a few cycles after the beat; no answer comes for a memory id, PE or
    address the engine lacks. (A stream that is always ready, but as a plain
    layout: a constant ``ready`` cannot be a top-level port.)"""
    return data.StructLayout({"valid": 1, "payload": unsigned(config.load_data_bits)})


#: Names of memories placed in iCE40 SPRAM end with this; the synthesis
#: scripts drop their (all-zero) initial contents, which SPRAM cannot hold
#: (``sw.flows.toolchain.AFTER_READ``).
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


def read_back(m, rd, load, selected, depth):
    """Read beats (``load_layout``'s ``read``) on a memory whose datapath read port is ``rd``.

    The memory answers a beat on ``load`` that names it (``selected``) at an
    address below ``depth``. The beat takes ``rd``'s address (a multiplexer
    before it), which it may since beats come only while the engine is idle,
    so no memory needs a second port: the iCE40's block RAMs and SPRAM have
    one read port, and on the ECP5 a second one moved small codebooks from LUT
    RAM into block RAM and doubled deep pointer banks' block RAMs, for no
    Fmax. The word is registered as it leaves the memory (an enable, no logic
    before the flip-flop: block RAM outputs are slow) and cleared the cycle
    after, so answers OR together with nothing gated.

    Returns
    -------
    port : namespace of ``addr``, ``en`` (default 1), ``data``
        The datapath's read side, as ``rd``'s.
    answer : namespace of ``valid``, ``payload``
        The word read, two cycles after the beat (one for a combinational
        ``rd``); ``payload`` is zero unless ``valid`` (``merge_answers``).
    """
    asking = load.valid & load.payload.read
    hit = asking & selected & (load.payload.addr < depth)
    port = SimpleNamespace(addr=Signal.like(rd.addr), en=Signal(init=1), data=rd.data)
    m.d.comb += rd.addr.eq(Mux(asking, load.payload.addr, port.addr))
    shown = hit  # the word is on `data` in this cycle: a combinational port's
    if getattr(rd, "domain", "sync") != "comb":
        m.d.comb += rd.en.eq(port.en | asking)
        shown = Signal()  # a synchronous port's, the cycle after the beat
        m.d.sync += shown.eq(hit)
    valid, word = Signal(), Signal(len(rd.data))
    m.d.sync += valid.eq(shown)
    with m.If(valid):
        m.d.sync += word.eq(0)
    with m.If(shown):
        m.d.sync += word.eq(rd.data)
    return port, SimpleNamespace(valid=valid, payload=word)


def merge_answers(m, readback, answers, domain="comb"):
    """Drive ``readback`` (``readback_layout``) with the one of ``answers``
    (``valid``, ``payload``: another ``readback``, or ``read_back``'s
    answer; payload zero unless valid, at most one valid at a time, since a
    read beat names one memory) that is valid, in ``domain``: "sync" adds a
    register, as between PEs and the engine, whose ORs span the chip."""
    valid = Cat(Const(0, 1), *(a.valid for a in answers)).any()
    word = Const(0, len(readback.payload))
    for a in answers:
        word = word | a.payload
    m.d[domain] += [readback.valid.eq(valid), readback.payload.eq(word)]
