"""Drive components in Amaranth's simulator: the one wrapper unit tests use.

For unit tests of small blocks; whole cores run in Verilator (sw.flows.toolchain).
``run_testbench`` runs a testbench on a component; ``StreamSource`` and
``StreamSink`` are the two ends of a stream with random stalls; ``load_beats``
writes an image's load beats through a load port; ``run_stream`` puts them
together for a block with one input and one output stream.
"""

import random

from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

#: The fields of a load beat, in the order ``EieImage.load_beats`` gives them.
LOAD_FIELDS = ("mem", "pe", "addr", "data")


def run_testbench(dut, bench, *, clock=1e-6):
    """Run the testbench ``bench`` (``async def bench(ctx)``) on ``dut``, its
    ``sync`` domain clocked with period ``clock`` seconds; returns what the
    bench returns."""
    result = []

    async def run(ctx):
        result.append(await bench(ctx))

    sim = Simulator(dut)
    sim.add_clock(clock)
    sim.add_testbench(run)
    sim.run()
    return result[0]


class StreamSource:
    """Offers ``beats`` on the stream ``port`` in order, each held until taken,
    starting each with probability ``1 - stall`` a cycle (``rng``).

    Each cycle call ``offer`` first, then, once every other input of the cycle
    is set, ``taken``.
    """

    def __init__(self, port, beats, rng, stall):
        self.port, self.beats, self.rng, self.stall = port, beats, rng, stall
        self.sent, self.offering = 0, False

    def offer(self, ctx):
        if not self.offering and self.sent < len(self.beats) and self.rng.random() >= self.stall:
            ctx.set(self.port.payload, self.beats[self.sent])
            self.offering = True
        ctx.set(self.port.valid, self.offering)

    def taken(self, ctx):
        """Whether the beat offered this cycle is taken (then the next is offered)."""
        if self.offering and ctx.get(self.port.ready):
            self.sent, self.offering = self.sent + 1, False
            return True
        return False

    @property
    def done(self):
        """Every beat taken."""
        return self.sent == len(self.beats)


class StreamSink:
    """Takes beats from the stream ``port``, ready with probability
    ``1 - stall`` a cycle (``rng``); ``beats`` holds the payloads taken.

    Each cycle call ``ready`` (in the order of the bench's random draws), then,
    once every other input of the cycle is set, ``collect``.
    """

    def __init__(self, port, rng, stall):
        self.port, self.rng, self.stall = port, rng, stall
        self.taking, self.beats = False, []

    def ready(self, ctx):
        self.taking = self.rng.random() >= self.stall
        ctx.set(self.port.ready, self.taking)
        return self.taking

    def collect(self, ctx):
        """The payload taken this cycle, or ``None``."""
        if self.taking and ctx.get(self.port.valid):
            self.beats.append(ctx.get(self.port.payload))
            return self.beats[-1]
        return None


async def load_beats(ctx, port, beats):
    """Write ``beats`` (``(mem, pe, addr, data)`` tuples, as
    ``EieImage.load_beats`` gives them, or dicts) through the load port
    ``port``, one a cycle: a load port is always ready."""
    for beat in beats:
        ctx.set(port.payload, beat if isinstance(beat, dict) else dict(zip(LOAD_FIELDS, beat)))
        ctx.set(port.valid, 1)
        await ctx.tick()
    ctx.set(port.valid, 0)


def run_stream(dut, beats, n_out, *, seed, in_stall=0.3, out_stall=0.3, max_cycles=10_000):
    """Feed ``beats`` (const-castable payloads) to ``dut.i``; return ``n_out`` from ``dut.o``."""
    rng = random.Random(seed)
    source = StreamSource(dut.i, beats, rng, in_stall)
    sink = StreamSink(dut.o, rng, out_stall)

    async def bench(ctx):
        for _ in range(max_cycles):
            if len(sink.beats) == n_out:
                return sink.beats
            source.offer(ctx)
            sink.ready(ctx)
            source.taken(ctx)
            sink.collect(ctx)
            await ctx.tick()
        raise AssertionError(f"only {len(sink.beats)} of {n_out} outputs in {max_cycles} cycles")

    # A purely combinational block has no clock domain of its own; give the
    # simulation one so the bench can count cycles all the same.
    top = Module()
    top.submodules.dut = dut
    tick = Signal()
    top.d.sync += tick.eq(~tick)
    return run_testbench(top, bench)
