"""EIE's sparse-matrix read unit: a column's entries, one a cycle."""

from amaranth.hdl import Module, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..memory import address_bits, load_layout
from .layouts import loadable_memory
from .pointers import span_layout

__all__ = ["SparseMatrixRead", "entry_layout"]


def entry_layout(config):
    """A non-zero on its way to the arithmetic unit: its codebook index, its
    relative row index ``z`` (zeros since its column's previous entry, or
    since the column's start for its ``first``) and the activation it
    multiplies."""
    return data.StructLayout({"index": config.index_bits, "z": config.z_bits, "first": 1,
                              "act": signed(config.act_bits)})


class SparseMatrixRead(wiring.Component):
    """Walks a column's entries ``(v, z)``, one a cycle.

    Entries sit ``entries_per_word`` to a memory word (CSC, relative row
    indices, padding entries included). A column is taken when the unit is
    idle or issuing its last entry, then its entries issue one a cycle (an
    empty column still takes one cycle). An issued entry's word is read (R1),
    registered (R2: the block RAM's slow output feeds nothing else), and its
    slot selected. The arithmetic unit turns ``z`` into a row, after its own
    register (so no adder follows the slot's selection here).

    Parameters
    ----------
    config : hw.eie.config.EieConfig
    index : int
        The PE's number (its load beats).
    image : sw.flows.eie_image.EieImage, optional

    Ports
    -----
    span : In(stream) of ``span_layout``
    entry : Out(stream) of ``entry_layout``, no back-pressure
        Valid two cycles after the entry issues.
    load : In(stream) of ``load_layout`` (writes ``spmat``)
    busy : Out(1)
        A column is being walked or an entry is in flight.

    Throughput one entry a cycle.
    """

    def __init__(self, config, index, image=None):
        self._c, self._index, self._image = config, index, image
        super().__init__({
            "span": In(stream.Signature(span_layout(config))),
            "entry": Out(stream.Signature(entry_layout(config), always_ready=True)),
            "load": In(stream.Signature(load_layout(config), always_ready=True)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        c = self._c
        m = Module()
        epw = c.entries_per_word
        entry_bits = c.index_bits + c.z_bits
        rd = loadable_memory(m, "spmat", unsigned(epw * entry_bits), -(-c.nnz_depth // epw),
                             self.load, self._index, self._image, spram=c.spram)

        # ---- entry issue (E). What the next cycle may do is kept in flags
        # updated a cycle ahead (entries left, whether at most one is; a
        # column's come registered with it), so taking a column depends on
        # no adder.
        nnz = address_bits(c.nnz_depth + 1)
        e_busy = Signal()
        e_cur = Signal(nnz)
        left = Signal(nnz)  # entries of the column still to issue
        has_left = Signal()  # left != 0
        ending = Signal()  # left <= 1: the column is done after this cycle
        e_act = Signal(signed(c.act_bits))
        e_first = Signal()
        free = ~e_busy | ending
        take = self.span.valid & free
        m.d.comb += self.span.ready.eq(free)
        issue = e_busy & has_left
        with m.If(issue):
            m.d.sync += [e_cur.eq(e_cur + 1), e_first.eq(0), left.eq(left - 1),
                         has_left.eq(left != 1), ending.eq(left <= 2)]
        with m.If(free):
            m.d.sync += e_busy.eq(take)
            with m.If(take):
                s = self.span.payload
                m.d.sync += [e_cur.eq(s.start), left.eq(s.length), has_left.eq(s.some),
                             ending.eq(s.at_most_one), e_act.eq(s.act), e_first.eq(1)]

        # ---- R1: the word is read
        m.d.comb += rd.addr.eq(e_cur >> (epw.bit_length() - 1))
        r1_valid = Signal()
        r1_slot = Signal(range(max(epw, 2)))
        r1_act = Signal(signed(c.act_bits))
        r1_first = Signal()
        m.d.sync += [r1_valid.eq(issue), r1_slot.eq(e_cur), r1_act.eq(e_act),
                     r1_first.eq(e_first)]

        # ---- R2: the word registered, the entry's slot selected
        r_valid = Signal()
        r_slot = Signal.like(r1_slot)
        r_act = Signal(signed(c.act_bits))
        r_first = Signal()
        r_word = Signal.like(rd.data)
        m.d.sync += [r_valid.eq(r1_valid), r_slot.eq(r1_slot), r_act.eq(r1_act),
                     r_first.eq(r1_first), r_word.eq(rd.data)]
        entry = Signal(entry_bits)
        m.d.comb += entry.eq(r_word.word_select(r_slot, entry_bits))
        out = self.entry.payload
        m.d.comb += [out.index.eq(entry[:c.index_bits]), out.z.eq(entry[c.index_bits:]),
                     out.first.eq(r_first), out.act.eq(r_act),
                     self.entry.valid.eq(r_valid),
                     self.busy.eq(e_busy | r1_valid | r_valid)]
        return m
