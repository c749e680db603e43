"""The host link's frame receiver alone, in Amaranth's simulator: frames from
``sw.spec.protocol.encode_frame``, whole, corrupt, too long, cut short."""

import pytest

from hw.eie.config import EieConfig
from hw.link import FrameReceiver, link_sizes
from sw.flows.testbench.amaranth import run_testbench
from sw.spec.protocol import DEVICE_SYNC, HOST_SYNC, MAX_PAYLOAD, Command, Status, encode_frame

CONFIG = EieConfig(pes=2, max_cols=16, nnz_depth=64, ptr_depth=64, rows_per_pe=8,
                   bias_depth=16, max_layers=2).validate()
TIMEOUT = 64


def receive(stream, *, gap=2, wait=5):
    """Feed ``stream`` (bytes; ``None`` for a quiet stretch of TIMEOUT + 10
    cycles) a byte every ``gap`` cycles; each outcome is resumed ``wait``
    cycles later. Returns [(status, cmd, length, partial, payload written)]."""
    dut = FrameReceiver(CONFIG, TIMEOUT)
    events = []

    async def bench(ctx):
        buffer, resume_at, cycle = {}, None, 0
        items = []
        for item in stream:
            items += [None] * (TIMEOUT + 10) if item is None else [item] + [None] * (gap - 1)
        for item in items + [None] * 20:
            ctx.set(dut.bytes.valid, item is not None)
            ctx.set(dut.bytes.payload, item or 0)
            ctx.set(dut.resume, cycle == resume_at)
            if ctx.get(dut.frame_en):
                buffer[ctx.get(dut.frame_addr)] = ctx.get(dut.frame_data)
            outcome = ctx.get(dut.frame.payload.status) if ctx.get(dut.frame.valid) else None
            await ctx.tick()
            cycle += 1
            if outcome is not None:
                length = ctx.get(dut.length)
                events.append((outcome, ctx.get(dut.cmd), length, ctx.get(dut.partial),
                               bytes(buffer.get(k, 0) for k in range(min(length, 600)))))
                buffer, resume_at = {}, cycle + wait

    run_testbench(dut, bench)
    return events


def test_whole_frames_and_their_payloads():
    load = bytes(range(3 * link_sizes(CONFIG)["load"]))
    stream = [*b"\x00\x13\x5a", *encode_frame(HOST_SYNC, Command.LOAD, load), None,
              *encode_frame(HOST_SYNC, Command.INFO), None,
              *encode_frame(HOST_SYNC, Command.INPUT, b"\x01\x00\x02\x00\x03")]
    events = receive(stream)
    assert events == [(Status.OK, Command.LOAD, len(load), 0, load),
                      (Status.OK, Command.INFO, 0, 0, b""),
                      # 5 bytes of 4-byte input beats: one past the last whole beat.
                      (Status.OK, Command.INPUT, 5, 1, b"\x01\x00\x02\x00\x03")]


def test_frames_given_up():
    good = encode_frame(HOST_SYNC, Command.INPUT, b"\x01\x00\x02\x00")
    corrupt = good[:-1] + bytes([good[-1] ^ 1])
    long = bytes([HOST_SYNC, Command.LOAD]) + (MAX_PAYLOAD + 1).to_bytes(2, "little")
    events = receive([*corrupt, None, *long, None, *good[:5], None])
    assert [e[0] for e in events] == [Status.BAD_CRC, Status.BAD_LENGTH, Status.TIMEOUT]
    # Given up at once: the length is known to be too long with its second byte.
    assert events[1][2] == MAX_PAYLOAD + 1


def test_bytes_are_ignored_until_the_reply_is_sent():
    first = encode_frame(HOST_SYNC, Command.STATUS)
    second = encode_frame(HOST_SYNC, Command.INFO)
    # The second frame arrives while the first is being answered.
    events = receive([*first, *second], gap=4, wait=40)
    assert [(e[0], e[1]) for e in events] == [(Status.OK, Command.STATUS)]
    events = receive([*first, *second], gap=4, wait=1)
    assert [(e[0], e[1]) for e in events] == [(Status.OK, Command.STATUS),
                                              (Status.OK, Command.INFO)]


def test_device_frames_are_not_host_frames():
    assert receive([*encode_frame(DEVICE_SYNC, Command.INFO), None]) == []


def test_timeout_is_validated():
    with pytest.raises(ValueError, match=r"^timeout must be a positive number of cycles, not 0$"):
        FrameReceiver(CONFIG, 0)
