"""The host link's frame receiver alone, in Amaranth's simulator: frames from
``sw.spec.protocol.encode_frame``, whole, corrupt, too long, cut short."""

import pytest

from hw.link import FrameReceiver
from sw.flows.testbench.amaranth import run_testbench
from sw.spec.protocol import DEVICE_SYNC, HOST_SYNC, MAX_PAYLOAD, Command, Status, encode_frame

TIMEOUT = 64


def receive(stream, *, gap=2, wait=5):
    """Feed ``stream`` (bytes; ``None`` for a quiet stretch of TIMEOUT + 10
    cycles) into a FIFO a byte every ``gap`` cycles, as the UART would, the
    FIFO's head offered to the receiver; each outcome is resumed ``wait``
    cycles later. Returns [(status, cmd, length, payload written)]."""
    dut = FrameReceiver(TIMEOUT)
    events = []

    async def bench(ctx):
        buffer, resume_at, cycle, fifo = {}, None, 0, []
        items = []
        for item in stream:
            items += [None] * (TIMEOUT + 10) if item is None else [item] + [None] * (gap - 1)
        items += [None] * 20
        while items or fifo:
            item = items.pop(0) if items else None
            if item is not None:
                fifo.append(item)
            ctx.set(dut.bytes.valid, bool(fifo))
            ctx.set(dut.bytes.payload, fifo[0] if fifo else 0)
            ctx.set(dut.resume, cycle == resume_at)
            if ctx.get(dut.frame_en):
                buffer[ctx.get(dut.frame_addr)] = ctx.get(dut.frame_data)
            outcome = ctx.get(dut.frame.payload.status) if ctx.get(dut.frame.valid) else None
            taken = bool(fifo) and ctx.get(dut.bytes.ready)
            await ctx.tick()
            if taken:
                fifo.pop(0)
            cycle += 1
            if outcome is not None:
                length = ctx.get(dut.length)
                events.append((outcome, ctx.get(dut.cmd), length,
                               bytes(buffer.get(k, 0) for k in range(min(length, 600)))))
                buffer, resume_at = {}, cycle + wait

    run_testbench(dut, bench)
    return events


def test_whole_frames_and_their_payloads():
    load = bytes(range(37))
    stream = [*b"\x00\x13\x5a", *encode_frame(HOST_SYNC, Command.LOAD_BURST, load), None,
              *encode_frame(HOST_SYNC, Command.INFO), None,
              *encode_frame(HOST_SYNC, Command.INFER, b"\x01\x00\x02\x00\x03")]
    events = receive(stream)
    assert events == [(Status.OK, Command.LOAD_BURST, len(load), load),
                      (Status.OK, Command.INFO, 0, b""),
                      (Status.OK, Command.INFER, 5, b"\x01\x00\x02\x00\x03")]


def test_frames_given_up():
    good = encode_frame(HOST_SYNC, Command.INFER, b"\x01\x00\x02\x00")
    corrupt = good[:-1] + bytes([good[-1] ^ 1])
    long = bytes([HOST_SYNC, Command.LOAD_BURST]) + (MAX_PAYLOAD + 1).to_bytes(2, "little")
    events = receive([*corrupt, None, *long, None, *good[:5], None])
    assert [e[0] for e in events] == [Status.BAD_CRC, Status.BAD_LENGTH, Status.TIMEOUT]
    # Given up at once: the length is known to be too long with its second byte.
    assert events[1][2] == MAX_PAYLOAD + 1


def test_bytes_wait_until_the_reply_is_sent():
    first = encode_frame(HOST_SYNC, Command.STATUS)
    second = encode_frame(HOST_SYNC, Command.INFO)
    # The second frame arrives while the first is being answered: it waits in
    # the FIFO, none of it lost, and is received once the reply is out.
    for wait in (1, 40, 400):
        events = receive([*first, *second], gap=4, wait=wait)
        assert [(e[0], e[1]) for e in events] == [(Status.OK, Command.STATUS),
                                                  (Status.OK, Command.INFO)]


def test_device_frames_are_not_host_frames():
    assert receive([*encode_frame(DEVICE_SYNC, Command.INFO), None]) == []


def test_timeout_is_validated():
    with pytest.raises(ValueError, match=r"^timeout must be a positive number of cycles, not 0$"):
        FrameReceiver(0)
