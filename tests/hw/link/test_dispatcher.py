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
from sw.host.driver import Device
from sw.spec.protocol import MAX_PAYLOAD, Command, Status

MODEL = random_model(1, [7, 9, 5], 2, density=0.3)
CONFIG = config_for(MODEL)


def driver_frames(call, *args):
    """The (cmd, payload) frames the host driver sends for ``call``."""
    frames = []
    device = Device.__new__(Device)
    device.info = {"pes": CONFIG.pes, "act_bytes": link_sizes(CONFIG)["act"],
                   "load_bytes": link_sizes(CONFIG)["load"]}
    device.request = lambda cmd, payload=b"", expect=Status.OK: frames.append((cmd, payload))

    class Stop(Exception):
        pass

    def stop(data):
        raise Stop
    device.send_raw = stop  # INFER's OUTPUT request: the frames before it are what we want
    try:
        call(device, *args)
    except Stop:
        pass
    return frames


def parse(method, payload):
    """A reply payload read by the driver's own parser (``Device._info``, ``status``)."""
    device = Device.__new__(Device)
    device.request = lambda cmd, payload_=b"", expect=Status.OK: payload
    device._name = "bench"
    return method(device)


def dispatch(frames, *, seed=0, busy=lambda cycle: False, outputs=(), output_from=0,
             frames_ok=0, frames_bad=0, pause=3):
    """Give each ``(status, cmd, payload)`` frame; returns per frame its reply
    ``(status, answer bytes)``, and the load beats, input beats and output
    beats the engine saw taken."""
    dut = Dispatcher(CONFIG)
    rng = random.Random(seed)
    seen = {"replies": [], "load": [], "input": [], "taken": 0}

    def engine(ctx, cycle):
        """The engine's side of this cycle; whether it offers an output."""
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
            per = link_sizes(CONFIG)["load" if cmd == Command.LOAD else "beat"]
            ctx.set(dut.cmd, cmd)
            ctx.set(dut.length, len(payload))
            ctx.set(dut.partial, len(payload) % per)
            ctx.set(dut.frame.payload.status, status)
            ctx.set(dut.frame.valid, 1)
            for _ in range(50 * len(payload) + 500):
                offering = engine(ctx, cycle)
                ctx.set(dut.load.ready, rng.random() < 0.6)
                ctx.set(dut.input.ready, rng.random() < 0.6)
                ctx.set(dut.frame_data, data)
                if ctx.get(dut.load.valid) and ctx.get(dut.load.ready):
                    p = ctx.get(dut.load.payload)
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
        "pes": CONFIG.pes, "act_bits": CONFIG.act_bits, "act_bytes": sizes["act"],
        "load_bytes": sizes["load"], "max_cols": CONFIG.max_cols,
        "max_layers": CONFIG.max_layers, "max_payload": MAX_PAYLOAD}


@pytest.mark.parametrize("seed", [1, 2])
def test_loads_reach_the_engine(seed):
    image = build_image(MODEL, CONFIG)
    frames = driver_frames(Device.load, image)
    assert len(frames) > 1
    seen = dispatch([(Status.OK, cmd, payload) for cmd, payload in frames], seed=seed)
    assert seen["replies"] == [(Status.OK, b"")] * len(frames)
    assert seen["load"] == [tuple(int(v) for v in beat) for beat in image.load_beats()]


def test_inputs_reach_the_engine():
    x = np.array([5, -3, 0, 7, 100, -128, 1])
    frames = driver_frames(Device.infer, x, 5)
    seen = dispatch([(Status.OK, cmd, payload) for cmd, payload in frames], seed=3)
    assert seen["replies"] == [(Status.OK, b"")] * len(frames)
    assert seen["input"] == [[5, -3], [0, 7], [100, -128], [1, 0]]


def test_outputs_are_taken_while_offered():
    outputs = [[-1, 2], [300, -300], [7, 0]]
    asked = (5).to_bytes(2, "little")
    # Asked before the engine offers any: refused, not waited on.
    seen = dispatch([(Status.OK, Command.OUTPUT, asked)] * 2, busy=lambda t: 2 <= t < 80,
                    outputs=outputs, output_from=12, pause=20)
    (early, _), (status, payload) = seen["replies"]
    assert early == Status.NOT_READY and status == Status.OK
    # Fewer than asked for: the engine fell idle after three.
    seen = dispatch([(Status.OK, Command.OUTPUT, asked)], busy=lambda t: t < 40,
                    outputs=outputs, output_from=0)
    (status, payload), = seen["replies"]
    ab = link_sizes(CONFIG)["act"]
    assert status == Status.OK
    assert [int.from_bytes(payload[i:i + ab], "little", signed=True)
            for i in range(0, len(payload), ab)] == sum(outputs, [])


def test_status_counts_the_engines_cycles():
    seen = dispatch([(Status.OK, Command.STATUS, b"")] * 2,
                    busy=lambda t: 3 <= t < 60, outputs=[[1, 1]], output_from=20,
                    frames_ok=12, frames_bad=3, pause=50)
    first, second = (parse(Device.status, payload) for _, payload in seen["replies"])
    assert first == {"busy": False, "cycles": 0, "frames_ok": 12, "frames_bad": 3}
    # From the start (busy rises in cycle 3) to the first output (cycle 20),
    # as docs/formats.md defines STATUS's cycles.
    assert second["cycles"] == 20 - 3


@pytest.mark.parametrize("frame,busy,expected", [
    ((Status.BAD_CRC, Command.LOAD, b"\x00" * 9), False, Status.BAD_CRC),
    ((Status.TIMEOUT, Command.INFO, b""), False, Status.TIMEOUT),
    ((Status.OK, Command.LOAD, b"\x00" * 9), True, Status.BUSY),
    ((Status.OK, Command.INPUT, b"\x00" * 9), True, Status.BUSY),
    ((Status.OK, Command.INPUT, b"\x00" * 5), False, Status.BAD_LENGTH),
    ((Status.OK, Command.OUTPUT, b"\x01"), True, Status.BAD_LENGTH),
    ((Status.OK, 0x7E, b""), False, Status.UNKNOWN_COMMAND),
])
def test_refusals(frame, busy, expected):
    seen = dispatch([frame], busy=lambda t: busy)
    assert seen["replies"] == [(expected, b"")]
    assert seen["load"] == seen["input"] == []


def test_a_second_input_vector_in_one_frame_is_refused():
    # Two vectors of 7: the engine starts (busy) after the first.
    x = np.array([1, 2, 3, 4, 5, 6, 7])
    (_, one), = driver_frames(Device.infer, x, 5)
    seen = dispatch([(Status.OK, Command.INPUT, one + one)], busy=lambda t: t > 60)
    status, _ = seen["replies"][0]
    assert status == Status.BUSY
    assert 0 < len(seen["input"]) < 8
