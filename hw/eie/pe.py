"""One EIE processing element: the activation queue and the four units."""

from amaranth.hdl import Module, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .arithmetic import ArithmeticUnit
from .layouts import address_bits, broadcast_layout, layer_config_layout, load_layout
from .pointers import PointerRead
from .spmat import SparseMatrixRead
from .writeback import WriteBack

__all__ = ["ProcessingElement"]


class ProcessingElement(wiring.Component):
    """A PE of the EIE engine (Han et al., ISCA 2016, figure 4).

    ::

        push ─► queue ─► PointerRead ─► SparseMatrixRead ─► ArithmeticUnit
                                                                  │ drain
                                       wb_addr, wb_valid ─► WriteBack ─► wb_result

    Parameters
    ----------
    config : sw.eie_image.EieConfig
    index : int
        This PE's number: its memories are written by load beats for it.
    image : sw.eie_image.EieImage, optional
        Memory contents to bake in.

    Ports
    -----
    push : In(stream) of ``(ptr, act)``
        Broadcast non-zero activations into the activation queue; ``ptr`` is
        the index of the column's first pointer.
    room : Out(1)
        The queue still has room after this cycle's push: ``level + valid <
        depth``, from registers only. A sender that pushes in a cycle only
        when ``room`` was high the cycle before never meets ``ready`` low, and
        its decision need not wait for this cycle's pop.
    layer : In(layer_config_layout)
        The current layer; stable while the layer runs.
    load : In(stream) of ``load_layout`` (always ready; writes this PE's memories)
    wb_addr, wb_valid : In
        Write-back of local row ``wb_addr``: the result is on ``wb_result``
        five cycles later with ``wb_done``, and the accumulator is cleared.
    idle : Out(1)
        No queued activation and no entry in flight.

    Timing
    ------
    A queued column can be popped the cycle after it is pushed (first word
    falls through). Its pointers are read in one cycle while the previous
    column's entries issue; entries then issue one a cycle (an empty column
    takes one cycle), and each reaches its accumulator four cycles later
    (sparse-matrix read and its register, codebook read and multiply,
    accumulate). Throughput: one multiply-accumulate per cycle.
    """

    def __init__(self, config, index, image=None):
        self._c = config
        self._index = index
        self._image = image
        super().__init__({
            "push": In(stream.Signature(broadcast_layout(config))),
            "room": Out(1),
            "layer": In(layer_config_layout(config)),
            "load": In(stream.Signature(load_layout(config), always_ready=True)),
            "wb_addr": In(address_bits(config.rows_per_pe)),
            "wb_valid": In(1),
            "wb_result": Out(signed(config.act_bits)),
            "wb_done": Out(1),
            "idle": Out(1),
        })

    def elaborate(self, platform):
        c = self._c
        m = Module()
        units = {
            "pointers": PointerRead(c, self._index, self._image),
            "spmat": SparseMatrixRead(c, self._index, self._image),
            "arithmetic": ArithmeticUnit(c, self._index, self._image),
            "writeback": WriteBack(c, self._index, self._image),
        }
        for name, unit in units.items():
            m.submodules[name] = unit
            m.d.comb += [unit.load.valid.eq(self.load.valid),
                         unit.load.payload.eq(self.load.payload)]
        pointers, spmat, arithmetic, writeback = units.values()

        # First word falls through, so a broadcast can be popped the next
        # cycle, and room is exactly `level < depth` at every depth (the
        # buffered FIFO's inner stage breaks that below depth 3).
        m.submodules.queue = queue = SyncFIFO(
            width=len(self.push.payload.as_value()), depth=c.queue_depth)
        m.d.comb += [queue.w_data.eq(self.push.payload), queue.w_en.eq(self.push.valid),
                     self.push.ready.eq(queue.w_rdy),
                     self.room.eq(queue.level + self.push.valid < c.queue_depth),
                     pointers.column.valid.eq(queue.r_rdy),
                     pointers.column.payload.eq(queue.r_data),
                     queue.r_en.eq(pointers.column.ready)]
        wiring.connect(m, pointers.span, spmat.span)
        wiring.connect(m, spmat.entry, arithmetic.entry)
        m.d.comb += [
            arithmetic.page.eq(self.layer.index),
            arithmetic.drain_row.eq(self.wb_addr), arithmetic.drain.eq(self.wb_valid),
            writeback.row.eq(self.wb_addr), writeback.start.eq(self.wb_valid),
            writeback.acc.eq(arithmetic.acc), writeback.layer.eq(self.layer),
            self.wb_result.eq(writeback.result), self.wb_done.eq(writeback.done),
            self.idle.eq((queue.level == 0) & ~pointers.busy & ~spmat.busy & ~arithmetic.busy),
        ]
        return m
