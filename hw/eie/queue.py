"""A PE's activation queue: the broadcasts it has taken and not yet popped,
and the credit (``ready``) that keeps the broadcaster from overfilling it."""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..pipeline import Pipelined
from .layouts import broadcast_layout, replica

__all__ = ["ActivationQueue"]


class ActivationQueue(Pipelined, wiring.Component):
    """``queue_depth`` broadcasts in a FIFO behind the PE's broadcast register.

    The register is each PE's own (so no one register drives every PE) and
    is the queue's skid slot: the pointer stage takes a broadcast straight
    from it when the FIFO is empty, and it holds its broadcast while the
    FIFO is full.

    Parameters
    ----------
    config : hw.eie.config.EieConfig

    Ports
    -----
    push : In(stream) of ``broadcast_layout``
        Broadcasts. ``ready`` is a register, a credit: fewer than ``slots``
        broadcasts held in the register and the FIFO after the last cycle's
        push and pop, so a broadcaster may raise ``valid`` only when every
        PE is ready. Popped every cycle, the queue is ready every cycle at
        any depth; one that stops popping takes ``queue_depth`` broadcasts
        into its FIFO and one more into its register.
    pop : Out(stream) of ``broadcast_layout``
        The oldest broadcast held, to the pointer stage.
    empty : Out(1)
        Nothing held.

    Latency ``latency`` (one) cycle from a push to its being poppable
    (from the register, or from the FIFO, whose first word falls through,
    behind the broadcasts before it).
    """

    def __init__(self, config):
        self._c = config
        layout = broadcast_layout(config)
        super().__init__({"push": In(stream.Signature(layout)),
                          "pop": Out(stream.Signature(layout)),
                          "empty": Out(1)})

    def slots(self, register_stages):
        """Broadcasts held at most: the FIFO's and the register's."""
        return self._c.queue_depth + register_stages

    def build(self, platform, path):
        c = self._c
        m = Module()
        path.stage()  # the broadcast register
        m.submodules.fifo = fifo = SyncFIFO(width=len(self.push.payload.as_value()),
                                            depth=c.queue_depth)
        bc_valid = replica(self.push.valid, c)
        bc = replica(self.push.payload, c, reset_less=True)
        # Whether the FIFO holds a broadcast (the head comes from it) is
        # kept in a register of its own, equal to the FIFO's `r_rdy`, so the
        # head's multiplexer is selected by a flip-flop, not a comparison.
        queued = Signal()
        with m.If(fifo.w_en & fifo.w_rdy):
            m.d.sync += queued.eq(1)
        with m.Elif(fifo.r_en & fifo.r_rdy & (fifo.level == 1)):
            m.d.sync += queued.eq(0)
        m.d.comb += [self.pop.valid.eq(queued | bc_valid),
                     self.pop.payload.eq(Mux(queued, fifo.r_data, bc)),
                     fifo.r_en.eq(self.pop.ready)]
        skip = Signal()  # the broadcast register is popped, past the empty FIFO
        m.d.comb += [skip.eq(~queued & bc_valid & self.pop.ready),
                     fifo.w_data.eq(bc), fifo.w_en.eq(bc_valid & ~skip)]
        hold = Signal()  # the FIFO is full: the broadcast waits in its register
        m.d.comb += hold.eq(bc_valid & ~skip & ~fifo.w_rdy)
        # No push comes while the register holds (the credits below), so
        # what it loads depends on this PE alone, never on the broadcaster's
        # decision.
        m.d.sync += bc_valid.eq(self.push.valid | hold)
        with m.If(~hold):
            m.d.sync += bc.eq(self.push.payload)
        # Credits: `held` counts the broadcasts in the register and the
        # FIFO, and the broadcaster may push while fewer than `slots` are
        # held after the last cycle's push and pop, known from a register.
        # Popped every cycle, a PE holds one (the register's, the credit
        # loop's), so a push can follow every cycle at any depth; a PE that
        # stops popping fills its FIFO and then its register. `held` is a
        # register, so the next room is one of three comparisons of it with
        # constants, picked by this cycle's push and pop.
        slots = self.slots(path.cycles)
        pop = self.pop.valid & self.pop.ready
        held = Signal(range(slots + 2))
        m.d.sync += held.eq(held + self.push.valid - pop)
        room = Signal(init=1)
        m.d.sync += room.eq(Mux(self.push.valid & ~pop, held < slots - 1,
                                Mux(~self.push.valid & pop, 1, held < slots)))
        m.d.comb += [self.push.ready.eq(room), self.empty.eq((fifo.level == 0) & ~bc_valid)]
        return m
