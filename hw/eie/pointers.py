"""EIE's pointer read unit: a column's start and end pointers in one cycle."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream
from amaranth.lib.wiring import In, Out

from .layouts import broadcast_layout
from .unit import PeUnit

__all__ = ["PointerRead", "span_layout"]


def span_layout(config):
    """A column's entries in the PE's sparse-matrix memory: ``length`` of them
    (at least one) from ``start``, whether at most one (``at_most_one``),
    found ahead so that taking a column needs no adder; and the activation
    they multiply."""
    nnz = config.pointer_bits
    return data.StructLayout({"start": nnz, "length": nnz, "at_most_one": 1,
                              "act": signed(config.act_bits)})


class PointerRead(PeUnit):
    """Reads ``p[q]`` and ``p[q + 1]`` for each queued column ``q``.

    The pointers sit in two banks, even and odd indices, so both are read in
    the same cycle whatever the parity of ``q`` (EIE's pointer read unit).

    Parameters
    ----------
    config, index, image
        As ``PeUnit``; ``image`` bakes in the pointers.

    Ports
    -----
    column : In(stream) of ``broadcast_layout``
        The activation queue's head; taken when the first stage is empty or
        being emptied (``ready`` does not depend on ``valid``).
    span : Out(stream) of ``span_layout``
        The column's entries, ``latency`` cycles after it was taken: three
        (two in the iCE40 organization, ``config.spram``). A column with no
        entry for this PE is dropped there: it takes the last stage for a
        cycle, but is never valid on ``span``, so it costs the entry stage
        nothing and needs no flag that ready would depend on.
    load : In(stream) of ``load_layout`` (writes ``ptr_even`` and ``ptr_odd``)
    busy : Out(1)
        A column is held in a stage.

    Latency ``latency`` cycles, its stages: ``p1`` (read), ``p2`` (register),
    ``p3`` (start, length and flags registered), without ``p2`` with
    ``config.spram``; throughput one column a cycle.
    """

    stage_prefix = "p"

    def __init__(self, config, index, image=None):
        super().__init__(config, index, image, {
            "column": In(stream.Signature(broadcast_layout(config))),
            "span": Out(stream.Signature(span_layout(config))),
            "busy": Out(1),
        })

    def build(self, platform, path):
        c = self._c
        m = Module()
        nnz = unsigned(c.pointer_bits)
        half = -(-(c.ptr_depth + 1) // 2)
        (even, even_answer), (odd, odd_answer) = (self.memory(m, name, nnz, half)
                                                  for name in ("ptr_even", "ptr_odd"))
        self.answer_reads(m, even_answer, odd_answer)

        # p1: the banks are read (their outputs hold while the stage waits);
        # p2: the banks' outputs are registered as they are, since a block
        # RAM's output is too slow to feed anything but a register at the
        # ECP5's clock; p3: which is the start is chosen, and the length and
        # its flags found and registered, so the entry stage takes a column
        # through multiplexers alone. In the iCE40 organization (a slow clock,
        # scarce logic cells) p2 is left out: the span is found from the
        # banks' outputs. Each stage moves when the next is empty or moving.
        q = self.column.payload.ptr
        p1 = path.stage()
        p1_valid = path.signal(p1, "valid")
        p1_odd = path.signal(p1, "odd")
        p1_act = path.signal(p1, "act", signed(c.act_bits))
        pop = self.column.valid & self.column.ready
        m.d.comb += [
            # p[q] is in the bank of q's parity, p[q + 1] in the other.
            even.addr.eq((q + 1) >> 1), odd.addr.eq(q >> 1),
            even.en.eq(pop), odd.en.eq(pop),
        ]
        with m.If(pop):
            m.d.sync += [p1_valid.eq(1), p1_odd.eq(q[0]), p1_act.eq(self.column.payload.act)]
        if c.spram:
            valid, odd_first, act, even_data, odd_data = (
                p1_valid, p1_odd, p1_act, even.data, odd.data)
        else:
            p2 = path.stage()
            valid, odd_first = path.signal(p2, "valid"), path.signal(p2, "odd")
            act = path.signal(p2, "act", signed(c.act_bits))
            even_data = path.signal(p2, "even_data", nnz)
            odd_data = path.signal(p2, "odd_data", nnz)
        # Whether the span register is free depends on registers alone (its
        # valid, and the entry stage's ready, a register too), so the pops of
        # the queue and of each pointer stage are a LUT of flip-flops away.
        to_span = valid & (~self.span.valid | self.span.ready)
        if c.spram:
            p1_moves = to_span
        else:
            p1_moves = p1_valid & (~valid | to_span)
            with m.If(p1_moves):
                m.d.sync += [valid.eq(1), odd_first.eq(p1_odd), act.eq(p1_act),
                             even_data.eq(even.data), odd_data.eq(odd.data)]
            with m.Elif(to_span):
                m.d.sync += valid.eq(0)
        with m.If(~pop & p1_moves):
            m.d.sync += p1_valid.eq(0)
        # The last stage holds a column, empty or not (an empty column is
        # busy for its cycle there, as when it was passed on).
        held = Signal()
        m.d.comb += [self.column.ready.eq(~p1_valid | p1_moves),
                     self.busy.eq(p1_valid | valid | held)]

        start, end, length = Signal(nnz), Signal(nnz), Signal(nnz)
        m.d.comb += [start.eq(Mux(odd_first, odd_data, even_data)),
                     end.eq(Mux(odd_first, even_data, odd_data)),
                     length.eq(end - start)]
        # The last stage: the span's own registers.
        path.stage()
        span = self.span.payload
        with m.If(to_span):
            m.d.sync += [held.eq(1), self.span.valid.eq(even_data != odd_data),
                         span.start.eq(start), span.length.eq(length),
                         span.at_most_one.eq(length[1:] == 0), span.act.eq(act)]
        with m.Else():
            # An empty column leaves at once; a column of entries when taken.
            with m.If(self.span.ready | ~self.span.valid):
                m.d.sync += held.eq(0)
            with m.If(self.span.ready):
                m.d.sync += self.span.valid.eq(0)
        return m
