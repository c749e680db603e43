"""Proofs of a PE's activation queue and its room logic (hw.eie.queue): its
credit is exact (ready precisely while it has room, so it never overflows
and never stalls needlessly), by induction at queue depths 1-4 and 8; it
never loses, reorders or changes a broadcast, bounded, at depths 1 and 2;
a seeded off-by-one in the room makes the proof fail."""

import pytest
from amaranth.hdl import Array, Assert, Assume, Fragment, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from hw.eie.config import EieConfig
from hw.eie.layouts import broadcast_layout
from hw.eie.queue import ActivationQueue
from sw.flows.formal import ProofFailed, prove


def small_config(depth):
    # Narrow payloads (5 + 3 bits) keep the solver's state small; the
    # queue's logic does not depend on the widths.
    return EieConfig(queue_depth=depth, act_bits=3, ptr_depth=30)


def assigned(m):
    """Every signal the module ``m`` assigns, by name: what the proof states
    its invariants on (read from Amaranth's ``Module`` internals, which no
    public API exposes; a test-only use)."""
    found = {}

    def walk(statements):
        for stmts in statements.values():
            for stmt in stmts:
                for signal in stmt._lhs_signals():
                    found[signal.name] = signal

    walk(m._statements)
    return found


class Observed:
    """Mix-in for a queue under proof: its registers (``state``) and its
    FIFO (``fifo``), kept when it is built."""

    def build(self, platform, path):
        m = super().build(platform, path)
        self.state = assigned(m)
        self.fifo, _ = m._named_submodules["fifo"]
        return m


class ObservedQueue(Observed, ActivationQueue):
    pass


class RoomOffByOne(ActivationQueue):
    """A seeded bug: the room counts one slot more than the queue has."""

    def slots(self, register_stages):
        return super().slots(register_stages) + 1


class ObservedOffByOne(Observed, RoomOffByOne):
    pass


class QueueSpec(wiring.Component):
    """``queue`` between a broadcaster that pushes only while it is ready (the
    engine's rule) and a pointer stage that pops at will, against a
    reference queue of ``queue_depth + 1`` broadcasts (the FIFO's and the
    broadcast register's).

    With ``data`` the broadcasts popped are compared with the reference's,
    else only the counts are: ready exactly while there is room, a
    broadcast offered exactly while one is held, ``empty`` exactly when
    none is. The counts close by induction given the queue's own invariants
    (its credit counter, its FIFO's level and its register agree with the
    reference's count); the data, whose FIFO words are hidden in a memory,
    is checked to a bound.
    """

    def __init__(self, queue, config, data):
        self._queue = queue
        self._c = config
        self._data = data
        layout = broadcast_layout(config)
        super().__init__({"push": In(stream.Signature(layout)),
                          "pop": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        queue = self._queue
        # Built here, so its registers exist for the invariants below.
        m.submodules.queue = Fragment.get(queue, platform)
        wiring.connect(m, wiring.flipped(self.push), queue.push)
        wiring.connect(m, queue.pop, wiring.flipped(self.pop))
        m.d.comb += Assume(~self.push.valid | self.push.ready)

        slots = self._c.queue_depth + 1
        count = Signal(range(slots + 1))
        push = self.push.valid
        pop = self.pop.valid & self.pop.ready
        after_pop = Signal(range(slots + 1))
        m.d.comb += after_pop.eq(count - pop)
        m.d.sync += count.eq(after_pop + push)
        m.d.comb += [
            Assert(~push | (after_pop < slots), "a broadcast pushed into a full queue"),
            Assert(self.push.ready == (count < slots), "ready is not exactly 'room left'"),
            Assert(self.pop.valid == (count != 0), "a broadcast held is not offered"),
            Assert(queue.empty == (count == 0), "empty is wrong"),
        ]
        state, level = queue.state, queue.fifo.level
        m.d.comb += [
            Assert(state["held"] == count),
            Assert(level + state["bc_valid"] == count),
            Assert(state["queued"] == (level != 0)),
        ]
        if self._data:
            width = len(self.push.payload.as_value())
            ref = Array(Signal(width, name=f"ref{k}") for k in range(slots))
            # The reference: a shift register, oldest first.
            for k in range(slots):
                with m.If(pop):
                    m.d.sync += ref[k].eq(ref[k + 1] if k + 1 < slots else 0)
            with m.If(push):
                m.d.sync += ref[after_pop].eq(self.push.payload)
            with m.If(self.pop.valid):
                m.d.comb += Assert(self.pop.payload.as_value() == ref[0],
                                   "a broadcast lost, reordered or changed")
        return m


def spec(depth, queue_class=ObservedQueue, data=False):
    c = small_config(depth)
    return QueueSpec(queue_class(c), c, data)


@pytest.mark.parametrize("depth", [1, 2, 3, 4, 8])
def test_queue_credit_is_exact_at_every_depth(tmp_path, depth):
    prove(spec(depth), tmp_path, depth=3)


#: Depths whose data are checked, and the cycles from reset: enough to fill
#: the queue, drain it and fill it again with the FIFO's pointers wrapped.
DATA_BOUNDS = {1: 8, 2: 10}


@pytest.mark.parametrize("depth", sorted(DATA_BOUNDS))
def test_queue_loses_no_broadcast(tmp_path, depth):
    prove(spec(depth, data=True), tmp_path, depth=DATA_BOUNDS[depth], mode="bmc")


def test_an_off_by_one_in_the_room_fails_the_proof(tmp_path):
    # The proof CI runs does not hold ...
    with pytest.raises(ProofFailed):
        prove(spec(2, ObservedOffByOne), tmp_path / "prove", depth=3)
    # ... and the bug is real: from reset, the queue takes a broadcast it
    # has no room for (four pushes into three slots, so five cycles).
    with pytest.raises(ProofFailed, match="fails"):
        prove(spec(2, ObservedOffByOne), tmp_path / "bmc", depth=6, mode="bmc")
