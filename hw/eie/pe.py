"""One EIE processing element: the activation queue and the four units."""

from amaranth.hdl import Fragment, Module, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .arithmetic import ArithmeticUnit
from ..memory import address_bits, load_layout, merge_answers, readback_layout
from ..pipeline import Pipelined
from .layouts import broadcast_layout, layer_config_layout, replica
from .pointers import PointerRead
from .queue import ActivationQueue
from .spmat import SparseMatrixRead
from .writeback import WriteBack

__all__ = ["ProcessingElement", "pe_timing"]


class ProcessingElement(Pipelined, wiring.Component):
    """A PE of the EIE engine (Han et al., ISCA 2016, figure 4).

    ::

        push ─► queue ─► PointerRead ─► SparseMatrixRead ─► ArithmeticUnit
                                                                  │ drain
                                       wb_addr, wb_valid ─► WriteBack ─► wb_result

    Parameters
    ----------
    config : hw.eie.config.EieConfig
    index : int
        This PE's number: its memories are written by load beats for it.
    image : sw.flows.eie_image.EieImage, optional
        Memory contents to bake in.

    Ports
    -----
    push : In(stream) of ``(ptr, act)``
        Broadcast non-zero activations; ``ptr`` is the index of the column's
        first pointer. A push is registered (each PE has its own broadcast
        register, so no one register drives every PE), taken from there by
        the pointer stage if the queue is empty, else queued (or held in
        the register while the queue is full). ``ready`` is a register, a
        credit: fewer than ``queue_depth + 1`` broadcasts held in the
        register and the queue after the last cycle's push and pop, so a
        broadcaster may raise ``valid`` only when every PE is ready. A PE
        popped every cycle is ready every cycle at any depth; one that stops
        popping takes ``queue_depth`` broadcasts into its queue and one more
        into its register.
    layer : In(layer_config_layout)
        The current layer; stable while the layer runs. The PE uses its own
        registered copy (a cycle late: no entry reaches the arithmetic unit
        that soon after a layer starts).
    load : In(stream) of ``load_layout``
        Always ready; writes this PE's memories a cycle later (the beat is
        registered in the PE, so no path crosses the chip into the write
        enables), or reads them back.
    readback : Out(readback_layout)
        The word a read beat asks for, four cycles after the beat (its
        register, the memory read, the word's register, the PE's register).
    wb_addr, wb_valid, wb_keep : In
        Write-back of local row ``wb_addr``: the result is on ``wb_result``
        ``latency`` (seven) cycles later with ``wb_done`` (0 unless
        ``wb_keep``: the row is past the layer's last), its non-zero flag on
        ``wb_nonzero``, and the accumulator is cleared.
    idle : Out(1)
        No queued activation and no entry in flight, a register: high when
        in the previous cycle nothing was queued or in a stage but at most
        an entry in its accumulate stage (written then), and nothing was
        pushed (so it holds now; a write-back asked for from now reads its
        accumulators after that last write).

    Timing
    ------
    A broadcast can be popped ``push_latency`` (one) cycle after it is
    pushed (from its register, or from the queue, whose first word falls
    through, behind the broadcasts before it).
    Its pointers are read, registered, and turned into the column's start
    and length in ``PointerRead.latency`` cycles (three, two with
    ``config.spram``) while the previous column's entries issue; entries
    then issue one a cycle (a column with no entry for this PE is dropped
    as it leaves the pointer stages, costing the entry stage no cycle), and each
    reaches its accumulator ``SparseMatrixRead.entry_latency +
    ArithmeticUnit.latency`` (five) cycles later (sparse-matrix read and its
    register, entry register and codebook read, multiply, accumulate).
    ``pe_timing`` gathers these figures. Throughput: one multiply-accumulate
    per cycle.
    """

    def __init__(self, config, index, image=None):
        self._c = config
        self._index = index
        self._image = image
        super().__init__({
            "push": In(stream.Signature(broadcast_layout(config))),
            "layer": In(layer_config_layout(config)),
            "load": In(stream.Signature(load_layout(config), always_ready=True)),
            "readback": Out(readback_layout(config)),
            "wb_addr": In(address_bits(config.rows_per_pe)),
            "wb_valid": In(1),
            "wb_keep": In(1),
            "wb_result": Out(signed(config.act_bits)),
            "wb_done": Out(1),
            "wb_nonzero": Out(1),
            "idle": Out(1),
        })

    @property
    def push_latency(self):
        """Cycles from a push accepted to its column's being poppable, as built."""
        self.count()
        return self._push_latency

    @property
    def timing(self):
        """The figures ``sw.golden.cycles`` follows (``pe_timing``)."""
        self.count()
        return dict(self._timing)

    def build(self, platform, path):
        # `path`: a write-back request to its result. The push path is
        # counted too, for the cycle model.
        c = self._c
        m = Module()
        units = {
            "pointers": PointerRead(c, self._index, self._image),
            "spmat": SparseMatrixRead(c, self._index, self._image),
            "arithmetic": ArithmeticUnit(c, self._index, self._image),
            "writeback": WriteBack(c, self._index, self._image),
        }
        load_valid = Signal()
        load = replica(self.load.payload, c, reset_less=True)
        m.d.sync += [load_valid.eq(self.load.valid & (self.load.payload.pe == self._index)),
                     load.eq(self.load.payload)]
        for name, unit in units.items():
            m.submodules[name] = unit
            m.d.comb += [unit.load.valid.eq(load_valid), unit.load.payload.eq(load)]
        merge_answers(m, self.readback, [u.readback for u in units.values()], domain="sync")
        pointers, spmat, arithmetic, writeback = units.values()

        # The queue (its broadcast register, the PE's own, and the FIFO
        # behind it) feeds the pointer stage; the push path is counted for
        # the cycle model.
        m.submodules.queue = queue = ActivationQueue(c)
        self._push_latency = queue.latency
        wiring.connect(m, wiring.flipped(self.push), queue.push)
        wiring.connect(m, queue.pop, pointers.column)
        wiring.connect(m, pointers.span, spmat.span)
        wiring.connect(m, spmat.entry, arithmetic.entry)
        # Write-back requests reach every PE at once from one register; the
        # PE registers its own copy for the write-back unit, and the
        # arithmetic unit registers another (its accumulator address).
        path.stage()
        wb_valid = replica(self.wb_valid, c)
        wb_addr = replica(self.wb_addr, c, reset_less=True)
        wb_keep = replica(self.wb_keep, c, reset_less=True)
        m.d.sync += [wb_valid.eq(self.wb_valid), wb_addr.eq(self.wb_addr),
                     wb_keep.eq(self.wb_keep)]
        path.through(writeback)
        # The layer's configuration comes from one register for all PEs; the
        # PE keeps its own copy.
        layer = replica(self.layer, c, reset_less=True)
        m.d.sync += layer.eq(self.layer)
        m.d.comb += [
            arithmetic.page.eq(layer.index),
            arithmetic.drain_row.eq(self.wb_addr), arithmetic.drain.eq(self.wb_valid),
            writeback.row.eq(wb_addr), writeback.start.eq(wb_valid), writeback.keep.eq(wb_keep),
            writeback.acc.eq(arithmetic.acc), writeback.layer.eq(layer),
            self.wb_result.eq(writeback.result), self.wb_done.eq(writeback.done),
            self.wb_nonzero.eq(writeback.nonzero),
        ]
        # Idle is registered so that the central unit's "all PEs idle" is an
        # AND of flip-flops, not of every PE's stages across the chip. It is
        # found a cycle ahead, an entry in the last (accumulate) stage
        # allowed, so the register is high in the first cycle the PE is
        # empty, not the cycle after.
        idle = Signal()
        m.d.comb += idle.eq(queue.empty & ~pointers.busy & ~spmat.busy
                            & ~arithmetic.settling)
        m.d.sync += self.idle.eq(idle & ~self.push.valid)
        self._timing = {"queue": self._push_latency, "pointer_stages": pointers.latency,
                        "in_flight": spmat.entry_latency + arithmetic.latency,
                        "writeback": path.cycles}
        return m


def pe_timing(config):
    """A PE's cycle figures, as built for ``config``, for the cycle model
    (``sw.golden.cycles``), which follows the engine register for register.

    Returns
    -------
    dict
        ``queue``: cycles from a broadcast pushed to its being poppable;
        ``pointer_stages``: the pointer read unit's stages (a column's
        cycles in it); ``in_flight``: cycles an issued entry is in flight
        after its issue cycle, until its accumulator is written;
        ``writeback``: cycles from a write-back request to its result.
    """
    pe = ProcessingElement(config, 0)
    Fragment.get(pe, None)  # built (and so used) only to be counted
    return pe.timing
