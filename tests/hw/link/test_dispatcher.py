"""The host link's dispatcher alone, in Amaranth's simulator.

Frames are the ones the host driver (``sw.host.driver.Device``) sends, and
replies are read back with its own parsers; the engine is played by the
bench (ready with random stalls, outputs when told)."""

import random

import numpy as np
import pytest

from hw.link import Dispatcher, link_sizes
from sw.flows.eie_image import build_image, config_for
from sw.flows.testbench.amaranth import run_testbench
from sw.formats.synthetic import random_model
from sw.host.driver import Device, DeviceError, burst_frames, encode_input
from sw.spec.protocol import MAX_PAYLOAD, RX_FIFO, VERSION, Command, Encoding, Status

MODEL = random_model(1, [7, 9, 5], 2, density=0.3)
CONFIG = config_for(MODEL)


def input_frame(x, encodings=Encoding.ALL, seq=0):
    """The INFER frame the host driver sends for input ``x``."""
    encoding, data = encode_input(x, link_sizes(CONFIG)["act"], encodings)
    return Command.INFER, bytes([seq, encoding]) + data


def load_frames(image):
    """The LOAD_BURST frames the host driver streams for ``image``."""
    return [(Command.LOAD_BURST, bytes([k % 256]) + body)
            for k, body in enumerate(burst_frames(image.load_beats(),
                                                  link_sizes(CONFIG)["load"] - 5))]


def parse(method, payload):
    """A reply payload read by the driver's own parser (``Device._info``, ``status``)."""
    device = Device.__new__(Device)
    device.request = lambda cmd, payload_=b"", expect=Status.OK: payload
    device._name = "bench"
    return method(device)


def dispatch(frames, *, seed=0, busy=lambda cycle: False, outputs=(), output_from=0,
             frames_ok=0, frames_bad=0, pause=3, run_after=None, memory=None):
    """Give each ``(status, cmd, payload)`` frame; returns per frame its reply
    ``(status, answer bytes)``, and the load beats, read beats, input beats and output
    beats the engine saw taken. With ``run_after = n`` the engine turns busy
    once it has taken ``n`` input beats, for 300 cycles, offering its outputs
    from 20 cycles in (``busy`` and ``output_from`` are then ignored). The
    engine answers a read beat of a ``(mem, pe, addr)`` key of ``memory``
    with its word, a random 1 to 6 cycles later, and any other not at all."""
    dut = Dispatcher(CONFIG, divisor=13)
    rng = random.Random(seed)
    seen = {"replies": [], "load": [], "read": [], "input": [], "taken": 0}
    memory = memory or {}
    answers = {}  # cycle -> word

    started = []

    def running(cycle):
        if len(seen["input"]) >= run_after and not started:
            started.append(cycle + 1)
        return bool(started) and started[0] <= cycle < started[0] + 300

    if run_after is not None:
        busy = running
        output_from = 10 ** 9

    def engine(ctx, cycle):
        """The engine's side of this cycle; whether it offers an output."""
        if run_after is not None and started:
            nonlocal output_from
            output_from = started[0] + 20
        ctx.set(dut.busy, busy(cycle))
        offering = busy(cycle) and cycle >= output_from and seen["taken"] < len(outputs)
        ctx.set(dut.output.valid, offering)
        if offering:
            ctx.set(dut.output.payload, outputs[seen["taken"]])
        return offering

    async def bench(ctx):
        cycle = 0
        ctx.set(dut.frames_ok, frames_ok)
        ctx.set(dut.frames_bad, frames_bad)
        for status, cmd, payload in frames:
            frame, answer, data = dict(enumerate(payload)), {}, 0
            ctx.set(dut.cmd, cmd)
            ctx.set(dut.length, len(payload))
            ctx.set(dut.frame.payload.status, status)
            ctx.set(dut.frame.valid, 1)
            for _ in range(50 * len(payload) + 500):
                offering = engine(ctx, cycle)
                ctx.set(dut.load.ready, rng.random() < 0.6)
                ctx.set(dut.input.ready, rng.random() < 0.6)
                ctx.set(dut.frame_data, data)
                ctx.set(dut.readback.valid, cycle in answers)
                ctx.set(dut.readback.payload, answers.pop(cycle, 0))
                if ctx.get(dut.load.valid) and ctx.get(dut.load.ready):
                    p = ctx.get(dut.load.payload)
                    if p.read:
                        seen["read"].append((p.mem, p.pe, p.addr))
                        if (p.mem, p.pe, p.addr) in memory:
                            answers[cycle + rng.randint(1, 6)] = memory[p.mem, p.pe, p.addr]
                    else:
                        seen["load"].append((p.mem, p.pe, p.addr, p.data))
                if ctx.get(dut.input.valid) and ctx.get(dut.input.ready):
                    seen["input"].append(list(ctx.get(dut.input.payload)))
                if offering and ctx.get(dut.output.ready):
                    seen["taken"] += 1
                if ctx.get(dut.answer_en):
                    answer[ctx.get(dut.answer_addr)] = ctx.get(dut.answer_data)
                replying = ctx.get(dut.reply)
                data = frame.get(ctx.get(dut.frame_addr), 0)
                await ctx.tick()
                ctx.set(dut.frame.valid, 0)
                cycle += 1
                if replying:
                    length = ctx.get(dut.reply_len)
                    seen["replies"].append((ctx.get(dut.status),
                                            bytes(answer[k] for k in range(length))))
                    break
            else:
                raise AssertionError(f"no reply to command {cmd:#x}")
            for _ in range(pause):
                if engine(ctx, cycle) and ctx.get(dut.output.ready):
                    seen["taken"] += 1
                await ctx.tick()
                cycle += 1

    run_testbench(dut, bench)
    return seen


def test_info_reads_as_the_driver_expects():
    seen = dispatch([(Status.OK, Command.INFO, b"")])
    (status, payload), = seen["replies"]
    assert status == Status.OK
    sizes = link_sizes(CONFIG)
    assert parse(Device._info, payload) == {
        "version": VERSION, "pes": CONFIG.pes, "act_bits": CONFIG.act_bits,
        "act_bytes": sizes["act"], "load_bytes": sizes["load"], "max_cols": CONFIG.max_cols,
        "max_layers": CONFIG.max_layers, "max_payload": MAX_PAYLOAD, "divisor": 13,
        "rx_fifo": RX_FIFO, "encodings": list(Encoding.ALL)}


def test_a_version_1_board_is_refused_by_name():
    v1 = bytes([1, 2, 16, 2, 9, 7, 0, 2, 0, 2])
    with pytest.raises(DeviceError, match="speaks protocol version 1 .* rebuild and flash"):
        parse(Device._info, v1)


@pytest.mark.parametrize("seed", [1, 2])
def test_burst_loads_reach_the_engine(seed):
    image = build_image(MODEL, CONFIG)
    frames = load_frames(image)
    assert len(frames) > 1
    seen = dispatch([(Status.OK, cmd, payload) for cmd, payload in frames], seed=seed)
    assert seen["replies"] == [(Status.OK, bytes([k])) for k in range(len(frames))]
    assert sorted(seen["load"]) == sorted(tuple(int(v) for v in b) for b in image.load_beats())


X_SPARSE = np.array([0, 0, 0, 9, 200, 0, 0, 0, 0, 0, 1] + [0] * 200 + [17, 3])


@pytest.mark.parametrize("encoding", Encoding.ALL)
def test_infer_decodes_every_encoding_and_replies_with_the_outputs(encoding):
    outputs = [[-1, 2], [300, -300], [7, 0]]
    frame = input_frame(X_SPARSE, (encoding,), seq=42)
    assert frame[1][1] == encoding
    seen = dispatch([(Status.OK, *frame)], seed=encoding, outputs=outputs,
                    run_after=-(-len(X_SPARSE) // CONFIG.pes))
    (status, payload), = seen["replies"]
    assert status == Status.OK and payload[0] == 42
    ab = link_sizes(CONFIG)["act"]
    assert [int.from_bytes(payload[i:i + ab], "little", signed=True)
            for i in range(1, len(payload), ab)] == sum(outputs, [])
    # Whole beats, the last completed with zeros.
    padded = list(X_SPARSE) + [0] * (-len(X_SPARSE) % CONFIG.pes)
    assert sum(seen["input"], []) == padded


def test_the_driver_writes_runs_of_zeros_and_values():
    ab = link_sizes(CONFIG)["act"]
    assert encode_input(X_SPARSE, ab) == (
        Encoding.RUNS_BYTES, bytes([3, 2, 9, 200, 5, 1, 1, 200, 2, 17, 3]))
    # Signed or wide values go at the activations' width.
    assert encode_input([0, -2, 300], ab) == (
        Encoding.RUNS, bytes([1, 2]) + (-2).to_bytes(ab, "little", signed=True)
        + (300).to_bytes(ab, "little", signed=True))
    # Runs of zeros or of values longer than 255 are split.
    assert encode_input(np.zeros(600, dtype=int), ab) == (
        Encoding.RUNS_BYTES, bytes([255, 0, 255, 0, 90, 0]))
    assert encode_input(np.ones(300, dtype=int), ab)[1][:2] == bytes([0, 255])


@pytest.mark.parametrize("frame,busy,expected", [
    ((Status.BAD_CRC, Command.LOAD_BURST, b"\x00" * 9), False, Status.BAD_CRC),
    ((Status.TIMEOUT, Command.INFO, b""), False, Status.TIMEOUT),
    ((Status.OK, Command.INFER, b"\x00\x00" + b"\x00" * 4), True, Status.BUSY),
    ((Status.OK, Command.INFER, b"\x00\x02\x00"), False, Status.BAD_ENCODING),
    ((Status.OK, Command.INFER, b"\x00"), False, Status.BAD_LENGTH),
    ((Status.OK, Command.INFER, b"\x00\x09\x00"), False, Status.BAD_ENCODING),

    ((Status.OK, Command.LOAD_BURST, b"\x00" * 5), False, Status.BAD_LENGTH),
    ((Status.OK, Command.LOAD_BURST, b"\x00" * 7), False, Status.BAD_LENGTH),
    ((Status.OK, Command.LOAD_BURST, b"\x00" * 9), True, Status.BUSY),
    ((Status.OK, 0x7E, b""), False, Status.UNKNOWN_COMMAND),
    # Version 1's LOAD, INPUT and OUTPUT are gone: refused, nothing reaches the engine.
    ((Status.OK, 0x02, b"\x00" * 9), False, Status.UNKNOWN_COMMAND),
    ((Status.OK, 0x03, b"\x00" * 4), False, Status.UNKNOWN_COMMAND),
    ((Status.OK, 0x04, b"\x01\x00"), False, Status.UNKNOWN_COMMAND),
])
def test_refusals(frame, busy, expected):
    seen = dispatch([frame], busy=lambda t: busy)
    assert seen["replies"] == [(expected, b"")]
    assert seen["load"] == [] and seen["input"] == []


def read_frame(mem, pe, addr, count, seq=0):
    """The READ frame the host driver streams."""
    return (Status.OK, Command.READ, bytes([seq, mem, pe]) + addr.to_bytes(3, "little")
            + count.to_bytes(2, "little"))


def test_reads_come_back_word_by_word():
    data_bytes = link_sizes(CONFIG)["load"] - 5
    rng = random.Random(3)
    memory = {(2, 1, 300 + k): rng.getrandbits(8 * data_bytes) for k in range(9)}
    seen = dispatch([read_frame(2, 1, 300, 9, seq=77), read_frame(2, 1, 305, 0, seq=78)],
                    memory=memory)
    words = [memory[2, 1, 300 + k].to_bytes(data_bytes, "little") for k in range(9)]
    assert seen["replies"] == [(Status.OK, bytes([77]) + b"".join(words)),
                               (Status.OK, bytes([78]))]
    assert seen["read"] == [(2, 1, 300 + k) for k in range(9)] and seen["load"] == []


@pytest.mark.parametrize("frame,busy,expected", [
    (read_frame(2, 1, 300, 3), False, Status.BAD_ADDRESS),  # no memory answers
    (read_frame(2, 1, 300, 3), True, Status.BUSY),
    (read_frame(2, 1, 300, 1000), False, Status.BAD_LENGTH),  # more than a reply holds
    (read_frame(9, 1, 0, 1), False, Status.BAD_ADDRESS),  # ids wider than the beat's
    (read_frame(2, 64, 0, 1), False, Status.BAD_ADDRESS),
    (read_frame(2, 0, 1 << 20, 1), False, Status.BAD_ADDRESS),
    ((Status.OK, Command.READ, bytes(7)), False, Status.BAD_LENGTH),
    ((Status.OK, Command.READ, bytes(9)), False, Status.BAD_LENGTH),
])
def test_reads_refused(frame, busy, expected):
    seen = dispatch([frame], busy=lambda t: busy)
    assert seen["replies"] == [(expected, b"")]
    assert seen["load"] == [] and seen["input"] == []


@pytest.mark.parametrize("values", [4, 20])
def test_an_input_too_short_or_too_long_is_refused_and_leaves_nothing_behind(values):
    # The engine wants 7 activations (4 beats of 2); it runs once it has them.
    frame = input_frame(np.arange(1, values + 1) % 200, seq=5)
    seen = dispatch([(Status.OK, *frame)], outputs=[[1, 2]] * 3, run_after=4, pause=400)
    assert seen["replies"] == [(Status.BAD_LENGTH, b"")]
    # Exactly one input's beats reached the engine, the short one completed with
    # zeros, and the refused inference's outputs were taken and dropped.
    assert len(seen["input"]) == 4 and seen["taken"] == 3
