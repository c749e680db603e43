"""The EIE engine's broadcaster: the non-zeros of each fetched word, one a
cycle, to every PE's queue (the paper's leading-non-zero detection over a
word's lanes)."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .fetcher import fetched_layout
from .layouts import broadcast_layout
from .lnzd import LeadingNonzero, at_most_one

__all__ = ["Broadcaster"]


class Broadcaster(wiring.Component):
    """Sends the non-zero lanes of fetched words as ``(ptr, act)``, lowest first.

    It holds one word at a time: ``vals`` its activations, ``mask`` its
    non-zero lanes still to send, ``lowest`` the first of them. Whether the
    mask is empty or holds at most one lane, and which lane is its lowest,
    are kept in registers beside it, found from the mask it will hold (the
    fetched word's lanes, or the lanes left after this cycle's broadcast), so
    the decisions (fanning out to the PEs and to the word's flip-flops) and
    the broadcast payload start from flip-flops.

    Parameters
    ----------
    config : hw.eie.config.EieConfig

    Ports
    -----
    words : In(stream) of ``hw.eie.fetcher.fetched_layout``
        Taken while ``enable`` when the word held is done after this cycle
        (``ready`` does not depend on ``valid``).
    enable : In(1)
        Take words (the scan is running).
    clear : In(1)
        Drop the word held (a layer starts); over everything else.
    push : Out(stream) of ``broadcast_layout``
        To every PE: the engine gives ``push.ready`` as all the PEs' readies
        (registers in the PEs), and ``valid`` is raised only with ``ready``
        (the PEs take a broadcast in the cycle it is valid). ``ptr`` is the
        word's pointer index plus the lane.
    done : Out(1)
        The word held is done after this cycle: it has nothing more to send,
        or its one remaining non-zero goes out now.

    Latency: a word's first non-zero goes out the cycle after the word is
    taken; throughput one non-zero a cycle while every PE is ready, and a
    word of ``k`` non-zeros is held ``k`` cycles (one if it has none), the
    next taken in its last.
    """

    def __init__(self, config):
        self._c = config
        super().__init__({
            "words": In(stream.Signature(fetched_layout(config))),
            "enable": In(1),
            "clear": In(1),
            "push": Out(stream.Signature(broadcast_layout(config))),
            "done": Out(1),
        })

    def elaborate(self, platform):
        c = self._c
        n = c.pes
        m = Module()
        head = self.words.payload
        mask = Signal(n)
        mask_none = Signal(init=1)
        mask_single = Signal(init=1)
        lowest = Signal(range(max(n, 2)))
        vals = Signal.like(head.vals)
        g_ptr = Signal.like(head.ptr)
        rest = Signal(n)  # the mask after this cycle's broadcast: `lowest` cleared
        m.d.comb += rest.eq(Cat(mask[k] & (lowest != k) for k in range(n)))
        m.submodules.head_lowest = head_lowest = LeadingNonzero(n)
        m.submodules.rest_lowest = rest_lowest = LeadingNonzero(n)
        m.d.comb += [head_lowest.i.eq(head.lanes), rest_lowest.i.eq(rest)]

        emit = Signal()
        m.d.comb += emit.eq(~mask_none & self.push.ready)
        word_done = Signal()
        m.d.comb += word_done.eq(mask_none | (emit & mask_single))
        m.d.comb += [self.push.valid.eq(emit), self.push.payload.ptr.eq(g_ptr + lowest),
                     self.push.payload.act.eq(vals.word_select(lowest, c.act_bits)),
                     self.words.ready.eq(self.enable & word_done), self.done.eq(word_done)]
        # The lanes' flags come with the word (any non-zero lane is a column
        # to broadcast: lanes past a layer's last input are zero).
        with m.If(self.words.valid & self.words.ready):
            m.d.sync += [vals.eq(head.vals), mask.eq(head.lanes), g_ptr.eq(head.ptr),
                         lowest.eq(head_lowest.index), mask_none.eq(head.lanes == 0),
                         mask_single.eq(at_most_one(head.lanes))]
        with m.Elif(emit):
            m.d.sync += [mask.eq(rest), lowest.eq(rest_lowest.index), mask_none.eq(mask_single),
                         mask_single.eq(at_most_one(rest))]
        with m.If(self.clear):
            m.d.sync += [mask.eq(0), mask_none.eq(1), mask_single.eq(1)]
        return m
