"""cocotb bench of the EIE engine: load, run samples, collect outputs and timing.

The job file (``$EIEGEN_JOB``, JSON) holds optional load beats (memory
writes, for a run-time loaded engine), the input words of every sample, how
many output words each produces, stall probabilities and a seed. The bench
drives the streams only while they carry data; while the engine computes it
waits on the engine's own signals, so simulation runs at Verilator speed.
Every change of ``layer`` and ``busy`` is time-stamped (in cycles) for the
per-layer cycle counts.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge, ValueChange
from cocotb.utils import get_sim_time

PERIOD_NS = 10


def now():
    return int(get_sim_time(unit="ns")) // PERIOD_NS


async def transfer(dut, name, beats, rng, stall, limit):
    """Offer ``beats`` on input stream ``name`` (valid withheld at random)."""
    valid, payload, ready = (getattr(dut, f"{name}__{s}") for s in ("valid", "payload", "ready"))
    sent, offering, cycles = 0, False, 0
    while sent < len(beats):
        await FallingEdge(dut.clk)
        if not offering and rng.random() >= stall:
            payload.value = beats[sent]
            offering = True
        valid.value = int(offering)
        await ReadOnly()
        if offering and ready.value:
            sent, offering = sent + 1, False
        cycles += 1
        if cycles > limit:
            raise AssertionError(f"{name}: only {sent} of {len(beats)} beats taken in {limit} "
                                 f"cycles")
    await FallingEdge(dut.clk)
    valid.value = 0


async def collect(dut, count, rng, stall, limit):
    """Take ``count`` beats from ``output`` (ready withheld at random)."""
    out = []
    start = now()
    while len(out) < count:
        if not dut.output__valid.value:
            await RisingEdge(dut.output__valid)
        await FallingEdge(dut.clk)
        taking = rng.random() >= stall
        dut.output__ready.value = int(taking)
        await ReadOnly()
        if taking and dut.output__valid.value:
            out.append(format(int(dut.output__payload.value), "x"))
        if now() - start > limit:
            raise AssertionError(f"only {len(out)} of {count} output words in {limit} cycles")
    await FallingEdge(dut.clk)
    dut.output__ready.value = 0
    return out


async def watch(dut, events):
    while True:
        await First(ValueChange(dut.layer), ValueChange(dut.busy))
        await ReadOnly()
        events.append((now(), int(dut.layer.value), int(dut.busy.value)))


@cocotb.test()
async def run_job(dut):
    job = json.loads(open(os.environ["EIEGEN_JOB"]).read())
    rng = random.Random(job["seed"])
    limit = job["max_cycles"]
    cocotb.start_soon(Clock(dut.clk, PERIOD_NS, unit="ns").start())
    dut.rst.value = 1
    for port in ("load", "input"):
        getattr(dut, f"{port}__valid").value = 0
    dut.output__ready.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    if job["load"]:
        await transfer(dut, "load", [int(b, 16) for b in job["load"]], rng, 0.0, limit)
    events = []
    cocotb.start_soon(watch(dut, events))  # ends with the test
    samples = []
    for words in job["samples"]:
        start = now()
        await transfer(dut, "input", [int(w, 16) for w in words], rng, job["in_stall"], limit)
        out = await collect(dut, job["out_words"], rng, job["out_stall"], limit)
        samples.append({"start": start, "outputs": out})
        if dut.busy.value:
            await FallingEdge(dut.busy)
    await RisingEdge(dut.clk)

    with open(job["result"], "w") as f:
        json.dump({"samples": samples, "events": events, "end": now()}, f)
