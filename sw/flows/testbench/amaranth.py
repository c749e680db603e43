"""Drive one stream component in Amaranth's simulator, with random stalls.

For unit tests of small blocks; whole cores run in Verilator (sw.flows.toolchain).
"""

import random

from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator


def run_stream(dut, beats, n_out, *, seed, in_stall=0.3, out_stall=0.3, max_cycles=10_000):
    """Feed ``beats`` (const-castable payloads) to ``dut.i``; return ``n_out`` from ``dut.o``."""
    rng = random.Random(seed)
    outputs = []

    async def bench(ctx):
        sent, offering = 0, False
        for _ in range(max_cycles):
            if len(outputs) == n_out:
                return
            if not offering and sent < len(beats) and rng.random() >= in_stall:
                ctx.set(dut.i.payload, beats[sent])
                offering = True
            ctx.set(dut.i.valid, offering)
            taking = rng.random() >= out_stall
            ctx.set(dut.o.ready, taking)
            if offering and ctx.get(dut.i.ready):
                sent, offering = sent + 1, False
            if taking and ctx.get(dut.o.valid):
                outputs.append(ctx.get(dut.o.payload))
            await ctx.tick()
        raise AssertionError(f"only {len(outputs)} of {n_out} outputs in {max_cycles} cycles")

    # A purely combinational block has no clock domain of its own; give the
    # simulation one so the bench can count cycles all the same.
    top = Module()
    top.submodules.dut = dut
    tick = Signal()
    top.d.sync += tick.eq(~tick)
    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return outputs
