"""EIE's sparse-matrix read unit: a column's entries, one a cycle."""

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from .pointers import span_layout
from .unit import PeUnit

__all__ = ["SparseMatrixRead", "entry_layout"]


def entry_layout(config):
    """A non-zero on its way to the arithmetic unit: its codebook index, its
    relative row index ``z`` (zeros since its column's previous entry, or
    since the column's start for its ``first``) and the activation it
    multiplies."""
    return data.StructLayout({"index": config.index_bits, "z": config.z_bits, "first": 1,
                              "act": signed(config.act_bits)})


class SparseMatrixRead(PeUnit):
    """Walks a column's entries ``(v, z)``, one a cycle.

    Entries sit ``entries_per_word`` to a memory word (CSC, relative row
    indices, padding entries included). A column (of at least one entry: the
    pointer unit drops empty ones) is taken when the unit is idle or issuing
    its last entry, then its entries issue one a cycle. Stage ``s1`` issues
    an entry, its
    word is read in ``s2`` and registered in ``s3`` (the block RAM's slow
    output feeds nothing else), and its slot selected. The arithmetic unit
    turns ``z`` into a row, after its own register (so no adder follows the
    slot's selection here).

    Parameters
    ----------
    config, index, image
        As ``PeUnit``; ``image`` bakes in the sparse matrix's entries.

    Ports
    -----
    span : In(stream) of ``span_layout``
        Ready when the unit is idle or issuing its last entry: a register.
    entry : Out(stream) of ``entry_layout``, no back-pressure
        Valid ``entry_latency`` (two) cycles after the entry issues; a
        column's first entry issues the cycle after the column is taken, so
        it is valid ``latency`` (three) cycles after.
    load : In(stream) of ``load_layout`` (writes ``spmat``)
    busy : Out(1)
        A column is being walked or an entry is in flight.

    Throughput one entry a cycle.
    """

    stage_prefix = "s"

    def __init__(self, config, index, image=None):
        super().__init__(config, index, image, {
            "span": In(stream.Signature(span_layout(config))),
            "entry": Out(stream.Signature(entry_layout(config), always_ready=True)),
            "busy": Out(1),
        })

    @property
    def entry_latency(self):
        """Cycles from an entry's issue to its valid on ``entry``: the stages
        after the first (the issue stage)."""
        return self.latency - 1

    def build(self, platform, path):
        c = self._c
        m = Module()
        epw = c.entries_per_word
        entry_bits = c.index_bits + c.z_bits
        rd, answer = self.memory(m, "spmat", unsigned(epw * entry_bits), -(-c.nnz_depth // epw),
                                 spram=c.spram)
        self.answer_reads(m, answer)

        # ---- s1: entry issue. What the next cycle may do is kept in flags
        # updated a cycle ahead (entries left, whether at most one is, and
        # whether the stage is free; a column's come registered with it), so
        # taking a column depends on no adder, and ready is a flip-flop.
        nnz = c.pointer_bits  # entry addresses, as the pointers
        s1 = path.stage()
        s1_busy = path.signal(s1, "busy")
        s1_cur = path.signal(s1, "cur", nnz)
        left = path.signal(s1, "left", nnz)  # entries of the column still to issue
        has_left = path.signal(s1, "has_left")  # left != 0
        s1_act = path.signal(s1, "act", signed(c.act_bits))
        s1_first = path.signal(s1, "first")
        # free: idle, or issuing the column's last entry (left <= 1).
        free = path.signal(s1, "free", init=1)
        take = self.span.valid & free
        m.d.comb += self.span.ready.eq(free)
        issue = s1_busy & has_left
        with m.If(issue):
            m.d.sync += [s1_cur.eq(s1_cur + 1), s1_first.eq(0), left.eq(left - 1),
                         has_left.eq(left != 1)]
        with m.If(free):
            m.d.sync += [s1_busy.eq(take), free.eq(~take | self.span.payload.at_most_one)]
            with m.If(take):
                s = self.span.payload
                m.d.sync += [s1_cur.eq(s.start), left.eq(s.length), has_left.eq(1),
                             s1_act.eq(s.act), s1_first.eq(1)]
        with m.Else():
            m.d.sync += free.eq(issue & (left <= 2))

        # ---- s2: the word is read
        m.d.comb += rd.addr.eq(s1_cur >> (epw.bit_length() - 1))
        s2 = path.stage()
        s2_valid = path.signal(s2, "valid")
        s2_slot = path.signal(s2, "slot", range(max(epw, 2)))
        s2_act = path.signal(s2, "act", signed(c.act_bits))
        s2_first = path.signal(s2, "first")
        # The entry's slot in its word: the address's low bits. A word of one
        # entry has slot 0 always (the 1-bit slot signal would take the
        # address's bit 0 and select past the word: odd entries read as 0).
        m.d.sync += [s2_valid.eq(issue), s2_slot.eq(s1_cur if epw > 1 else 0),
                     s2_act.eq(s1_act), s2_first.eq(s1_first)]

        # ---- s3: the word registered, the entry's slot selected
        s3 = path.stage()
        s3_valid = path.signal(s3, "valid")
        s3_slot = path.signal(s3, "slot", range(max(epw, 2)))
        s3_act = path.signal(s3, "act", signed(c.act_bits))
        s3_first = path.signal(s3, "first")
        s3_word = path.signal(s3, "word", len(rd.data))
        m.d.sync += [s3_valid.eq(s2_valid), s3_slot.eq(s2_slot), s3_act.eq(s2_act),
                     s3_first.eq(s2_first), s3_word.eq(rd.data)]
        entry = s3_word.word_select(s3_slot, entry_bits)
        out = self.entry.payload
        m.d.comb += [out.index.eq(entry[:c.index_bits]), out.z.eq(entry[c.index_bits:]),
                     out.first.eq(s3_first), out.act.eq(s3_act),
                     self.entry.valid.eq(s3_valid),
                     self.busy.eq(s1_busy | s2_valid | s3_valid)]
        return m
