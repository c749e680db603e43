"""The host link's replier alone, in Amaranth's simulator: its frames are
``sw.spec.protocol.encode_frame``'s, whatever the UART's stalls."""

import random

import pytest

from hw.link import Replier
from sw.flows.testbench.amaranth import StreamSink, run_testbench
from sw.spec.protocol import DEVICE_SYNC, Status, crc16, encode_frame


def reply(replies, *, seed, stall=0.5):
    """Send each ``(status, payload)`` from the answer buffer; returns the
    bytes of each reply, the cycles ``done`` was high, and the counts."""
    dut = Replier()
    rng = random.Random(seed)
    frames, done = [], []

    async def bench(ctx):
        cycle = 0
        for status, payload in replies:
            answer = dict(enumerate(payload))
            ctx.set(dut.status, status)
            ctx.set(dut.length, len(payload))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            sink, data = StreamSink(dut.bytes, rng, stall), 0
            for _ in range(20 * len(payload) + 200):
                sink.ready(ctx)
                ctx.set(dut.answer_data, data)
                sink.collect(ctx)
                finished = ctx.get(dut.done)
                # The answer buffer's read port: the byte a cycle after its address.
                data = answer.get(ctx.get(dut.answer_addr), 0)
                await ctx.tick()
                cycle += 1
                if finished:
                    done.append(cycle)
                    break
            frames.append(bytes(sink.beats))
        return ctx.get(dut.frames_ok), ctx.get(dut.frames_bad)

    counts = dict(zip(("ok", "bad"), run_testbench(dut, bench)))
    return frames, done, counts


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_replies_are_protocol_frames(seed):
    replies = [(Status.OK, bytes(range(10))), (Status.BUSY, b""),
               (Status.OK, bytes(random.Random(seed).randrange(256) for _ in range(37))),
               (Status.BAD_CRC, b"")]
    frames, done, counts = reply(replies, seed=seed)
    assert frames == [encode_frame(DEVICE_SYNC, status, payload) for status, payload in replies]
    # A corrupted expectation would not match: the CRC covers the payload.
    assert frames[0][-2:] != crc16(bytes([0, 10, 0]) + bytes(range(1, 11))).to_bytes(2, "little")
    assert len(done) == len(replies)
    assert counts == {"ok": 2, "bad": 2}


def test_first_byte_two_cycles_after_start():
    dut = Replier()
    offered = []

    async def bench(ctx):
        ctx.set(dut.status, Status.OK)
        ctx.set(dut.bytes.ready, 0)
        ctx.set(dut.start, 1)
        for _ in range(4):
            offered.append(ctx.get(dut.bytes.valid))
            await ctx.tick()
            ctx.set(dut.start, 0)

    run_testbench(dut, bench)
    assert offered == [0, 0, 1, 1]
