"""Generic stream bench: push beats into ``i``, collect beats from ``o``.

The bench knows nothing about the core: the job file (``$EIEGEN_JOB``, JSON)
holds the input beats already packed as integers, how many output beats to
expect, the stall probabilities and the seed. Valid on ``i`` and ready on
``o`` are withheld at random (seeded), so every test also exercises
back-pressure. The result file holds the output beats and the cycle count
from reset release to the last output beat taken. A few idle cycles follow,
and any beat the core emits then is an error: a core must not make up data.

With ``latency`` in the job (``{"cycles", "last_bit"}``: the core's stated
latency and where its ``last`` flag sits in a beat, ``None`` when every beat
ends one) the bench also measures it: for each output beat, the cycles from
the ``last`` beat that ends its dot product being taken to the output first
being valid. Back-pressure can only
delay an output, and the first one is never held up, so the least of these
must equal the stated latency exactly: a stated latency that is too long
fails as surely as one too short.

Signals are driven after the falling edge and sampled in the read-only phase
before the rising edge, so a transfer counted here is exactly one the DUT
sees at that rising edge.
"""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge


@cocotb.test()
async def run_job(dut):
    job = json.loads(open(os.environ["EIEGEN_JOB"]).read())
    beats = [int(beat, 16) for beat in job["inputs"]]
    expect = job["outputs"]
    rng = random.Random(job["seed"])
    in_stall, out_stall = job["in_stall"], job["out_stall"]
    limit = job["max_cycles"]

    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.rst.value = 1
    dut.i__valid.value = 0
    dut.o__ready.value = 0
    for _ in range(2):
        await RisingEdge(dut.clk)
    dut.rst.value = 0

    check = job.get("latency")
    outputs, sent, cycles = [], 0, 0
    last_taken = []  # the cycle each `last` beat was taken
    first_valid = []  # the cycle each output beat was first valid
    offering = False
    while len(outputs) < expect:
        await FallingEdge(dut.clk)
        if cycles >= limit:
            raise AssertionError(f"gave up after {limit} cycles with {len(outputs)} of "
                                 f"{expect} outputs: the core hangs or drops beats")
        # A beat once offered stays offered, unchanged, until it is taken.
        if not offering and sent < len(beats) and rng.random() >= in_stall:
            dut.i__payload.value = beats[sent]
            offering = True
        dut.i__valid.value = int(offering)
        taking = rng.random() >= out_stall
        dut.o__ready.value = int(taking)
        await ReadOnly()
        if offering and dut.i__ready.value:
            if check and (check["last_bit"] is None or beats[sent] >> check["last_bit"] & 1):
                last_taken.append(cycles)
            sent += 1
            offering = False
        if dut.o__valid.value and len(first_valid) == len(outputs):
            first_valid.append(cycles)
        if taking and dut.o__valid.value:
            outputs.append(format(int(dut.o__payload.value), "x"))
        cycles += 1

    extra = 0
    await FallingEdge(dut.clk)
    dut.i__valid.value = 0
    dut.o__ready.value = 1
    for _ in range(job.get("drain_cycles", 16)):
        await RisingEdge(dut.clk)
        await ReadOnly()
        extra += int(dut.o__valid.value)

    result = {"outputs": outputs, "cycles": cycles, "sent": sent, "extra": extra}
    if check and outputs:
        assert len(last_taken) >= len(outputs), (
            f"the core produced {len(outputs)} outputs for {len(last_taken)} `last` beats")
        result["latency"] = min(v - t for v, t in zip(first_valid, last_taken))
    with open(job["result"], "w") as f:
        json.dump(result, f)
    assert sent == len(beats), f"the core produced all outputs but took only {sent} beats"
    assert extra == 0, f"the core produced {extra} output beats nobody asked for"
    if "latency" in result:
        assert result["latency"] == check["cycles"], (
            f"the core's results are valid {result['latency']} cycles after their `last` "
            f"beat, but its latency says {check['cycles']}")
