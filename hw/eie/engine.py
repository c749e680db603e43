"""The EIE engine: PEs, leading-non-zero detection and broadcast, activation
buffers that swap every layer, and the layer sequencer."""

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring

from ..engine import Engine
from ..memory import merge_answers
from .broadcaster import Broadcaster
from .fetcher import WordFetcher
from .pe import ProcessingElement
from .sequencer import LayerSequencer

__all__ = ["EieEngine"]


class EieEngine(Engine):
    """Sparse matrix-vector engine running whole compressed networks (EIE).

    Parameters
    ----------
    config : hw.eie.config.EieConfig
        Sizes and widths (validated here).
    image : sw.flows.eie_image.EieImage, optional
        A model's memory images to bake in; without one the memories start
        empty and are filled through ``load``. Not with ``config.spram``,
        which puts the sparse matrix and the activations in iCE40 SPRAM
        (single-ported, uninitialized; same cycles).

    Ports
    -----
    As ``hw.engine.Engine``: ``load`` beats write ``hw.eie.config.MEMORIES``;
    ``input`` and ``output`` carry ``pes`` activations a beat (activation
    ``j`` is lane ``j mod pes`` of beat ``j // pes``). ``input`` is not ready
    in the cycle after entry 0 of the layer table is written (the input
    count is recounted then).

    Dataflow
    --------
    Activations live in two buffers of words of ``pes`` lanes (element ``j``
    at word ``j // pes``, lane ``j mod pes``); a layer reads one and writes the
    other, and they swap. Each buffer notes which of its words hold a
    non-zero as they are written; the leading-non-zero detector (two trees:
    over those flags, then over a word's lanes) reads only such words and
    broadcasts one non-zero ``(j, a_j)`` a cycle to every PE's queue, in a
    cycle where all queues have room. When the last broadcast is done and all
    PEs are idle, every PE writes back its local row ``r`` in the same cycle
    (requantize, ReLU), one word of the destination buffer a cycle. Then the
    next layer starts, without the host.

    Components
    ----------
    ::

        input ─► LayerSequencer ─write─► WordFetcher ─words─► Broadcaster ─push─► PEs
                   ▲   │ scan control        │ word (outputs)                      │
                   │   └──────────── wb_addr, wb_valid, wb_keep ────────────────────►│
                   └──────────────── wb_result, wb_nonzero, wb_done, idle ◄──────────┘

    ``hw.eie.sequencer.LayerSequencer`` (layer table and phases),
    ``hw.eie.fetcher.WordFetcher`` (activation buffers, non-zero words,
    their read), ``hw.eie.broadcaster.Broadcaster`` (a word's non-zeros to
    every PE) and ``hw.eie.pe.ProcessingElement`` x ``pes``.
    """

    def __init__(self, config, image=None):
        if config.spram and image is not None:
            raise ValueError("an SPRAM engine starts empty (SPRAM has no initial contents): "
                             "load the model at run time instead of baking it in")
        super().__init__(config, image)

    def elaborate(self, platform):
        c = self._c
        m = Module()
        image = self._image
        m.submodules.sequencer = seq = LayerSequencer(c, image.layers if image else None)
        m.submodules.fetcher = fetcher = WordFetcher(c)
        m.submodules.broadcaster = bc = Broadcaster(c)
        pes = [ProcessingElement(c, k, image) for k in range(c.pes)]

        wiring.connect(m, wiring.flipped(self.load), seq.load)
        wiring.connect(m, wiring.flipped(self.input), seq.input)
        wiring.connect(m, seq.output, wiring.flipped(self.output))
        m.d.comb += [self.layer.eq(seq.layer), self.busy.eq(seq.busy)]

        wiring.connect(m, seq.write, fetcher.write)
        wiring.connect(m, fetcher.words, bc.words)
        m.d.comb += [
            fetcher.src.eq(seq.src), fetcher.layer_words.eq(seq.layer_words),
            fetcher.ptr_base.eq(seq.layer_config.ptr_base), fetcher.gather.eq(seq.gather),
            fetcher.begin.eq(seq.begin), fetcher.scan.eq(seq.scan),
            fetcher.read_addr.eq(seq.read_addr),
            seq.word.eq(fetcher.word), seq.fetch_busy.eq(fetcher.busy),
            bc.enable.eq(seq.scan), bc.clear.eq(seq.clear), seq.word_done.eq(bc.done),
        ]

        # A broadcast goes out when every PE is ready for it (a register in
        # each PE: its queue has room, counting the broadcast it holds).
        m.d.comb += bc.push.ready.eq(Cat(pe.push.ready for pe in pes).all())
        for k, pe in enumerate(pes):
            m.submodules[f"pe{k}"] = pe
            m.d.comb += [pe.load.valid.eq(self.load.valid & self.load.ready),
                         pe.load.payload.eq(self.load.payload),
                         pe.push.valid.eq(bc.push.valid), pe.push.payload.eq(bc.push.payload),
                         pe.layer.eq(seq.layer_config),
                         pe.wb_addr.eq(seq.wb_addr), pe.wb_valid.eq(seq.wb_valid),
                         pe.wb_keep.eq(seq.wb_keep[k])]
        # Read-back answers meet in a register: the OR spans every PE.
        merge_answers(m, self.readback, [u.readback for u in [seq, *pes]], domain="sync")
        m.d.comb += [seq.pes_idle.eq(Cat(pe.idle for pe in pes).all()),
                     seq.wb_done.eq(pes[0].wb_done),
                     seq.wb_result.eq(Cat(pe.wb_result for pe in pes)),
                     seq.wb_nonzero.eq(Cat(pe.wb_nonzero for pe in pes))]
        return m
