"""The host link: the whole system top (UART included) in Verilator driven by
the real host driver, and the board verbs' errors."""

import numpy as np
import pytest

from sw.flows.eie_image import build_image, config_for
from sw.formats.synthetic import random_inputs, random_model
from sw.golden.eie import infer
from sw.host.driver import Device, DeviceError
from sw.host.simulated import simulated_board
from sw.spec.protocol import HOST_SYNC, Command, Status, crc16, encode_frame


def test_crc_is_ccitt_false():
    # The catalogued check value of CRC-16/CCITT-FALSE.
    assert crc16(b"123456789") == 0x29B1


@pytest.fixture(scope="module")
def board():
    """A simulated iCEBreaker-organized board (sparse matrix and activations in
    SPRAM, so the model is loaded at run time), and a model."""
    from boards.flow import board_engine
    model = random_model(3, [20, 30, 9], 2, density=0.3)
    config = config_for(model, **board_engine("icebreaker", {}))
    # The iCEBreaker's link: 3 Mbaud at 24 MHz, 8 cycles a bit.
    with simulated_board(config, divisor=8) as url:
        with Device(url, timeout=30) as dev:
            yield dev, model, build_image(model, config)


def test_driver_runs_the_network_bit_exact(board):
    dev, model, image = board
    dev.load(image)
    x = random_inputs(3, 4, 20)
    y = np.array([dev.infer(xi, 9) for xi in x])
    assert (y == infer(model, x)).all()
    assert dev.status()["cycles"] > 0


def test_every_loaded_word_reads_back_and_a_changed_one_is_found(board):
    dev, model, image = board
    beats = image.load_beats()
    dev.load(image, verify=True)  # reads every memory back: the same words
    # Every memory id the image uses, on every PE, and the layer table.
    assert {(mem, pe) for mem, pe, *_ in beats} == {(m, p) for m in range(5)
                                                    for p in range(dev.info["pes"])} | {(5, 0)}
    mem, pe, addr, word = max(beats, key=lambda b: (b[0] == 2, b[3]))  # a sparse-matrix word
    assert dev.read(mem, pe, addr, 1) == [word]
    dev.load_beats([(mem, pe, addr, word ^ 1)])
    with pytest.raises(DeviceError, match=f"memory {mem} of PE {pe} holds .* at address {addr},"):
        dev.verify(beats)
    # No memory 6, no PE past the last, no address past a memory's end.
    for where in [(6, 0, 0), (2, dev.info["pes"], 0), (5, 0, 1 << 19)]:
        with pytest.raises(DeviceError, match="bad address"):
            dev.read(*where, 1)
    dev.load(image, verify=True)
    x = random_inputs(4, 3, 20)
    assert (dev.infer_batch(x, 9) == infer(model, x)).all()


def test_the_ecp5_organization_reads_back():
    # Every memory in block RAM (none in SPRAM) lends its datapath read port to
    # read beats; a changed word is found, and the network still runs bit-exact.
    from boards.flow import board_engine
    model = random_model(8, [12, 10, 6], 2, density=0.4)
    config = config_for(model, **board_engine("ulx3s-85f", {}))
    assert not config.spram
    image = build_image(model, config)
    with simulated_board(config, divisor=18) as url:
        with Device(url, timeout=30) as dev:
            dev.load(image, verify=True)
            dev.load_beats([(0, 1, 0, image.ptr_even[1][0] ^ 1)])
            with pytest.raises(DeviceError, match="memory 0 of PE 1 holds"):
                dev.verify(image.load_beats())
            dev.load(image, verify=True)
            x = random_inputs(8, 3, 12)
            assert (dev.infer_batch(x, 6) == infer(model, x)).all()


def test_bad_frames_get_errors_and_change_nothing(board):
    dev, model, image = board
    dev.load(image)
    x = random_inputs(5, 2, 20)
    bad_before = dev.status()["frames_bad"]
    # A corrupt CRC on a burst that would clear memory words.
    frame = bytearray(encode_frame(HOST_SYNC, Command.LOAD_BURST, bytes(6 + 8 * 4)))
    frame[-1] ^= 0x40
    dev.send_raw(b"\x00\x13garbage" + bytes(frame))
    assert dev.reply()[0] == Status.BAD_CRC
    dev.send_raw(encode_frame(HOST_SYNC, 0x7E))
    assert dev.reply()[0] == Status.UNKNOWN_COMMAND
    dev.send_raw(encode_frame(HOST_SYNC, 0x03, bytes(40)))  # version 1's INPUT
    assert dev.reply()[0] == Status.UNKNOWN_COMMAND
    dev.send_raw(bytes([HOST_SYNC, Command.LOAD_BURST, 0x01, 0x04]))  # 1025 bytes: too long
    assert dev.reply()[0] == Status.BAD_LENGTH
    dev.send_raw(encode_frame(HOST_SYNC, Command.LOAD_BURST, bytes(8)))  # a partial word
    assert dev.reply()[0] == Status.BAD_LENGTH
    dev.send_raw(encode_frame(HOST_SYNC, Command.INFER, bytes(6))[:5])  # truncated
    assert dev.reply()[0] == Status.TIMEOUT
    dev.send_raw(encode_frame(HOST_SYNC, Command.INFER, bytes([0, 9, 1])))  # no encoding 9
    assert dev.reply()[0] == Status.BAD_ENCODING
    # Nothing above reached the engine's memories: the network is unchanged.
    assert (dev.infer_batch(x, 9) == infer(model, x)).all()
    # Seven refused frames, each counted once.
    assert dev.status()["frames_bad"] - bad_before == 7


def test_a_streamed_batch_is_bit_exact(board):
    dev, model, image = board
    dev.load(image)
    x = random_inputs(7, 30, 20)
    before = dev.bytes_sent
    assert (dev.infer_batch(x, 9) == infer(model, x)).all()
    # Several frames went out before the first reply came back.
    assert dev.resent == 0 and dev.bytes_sent - before > 0


class Faulty:
    """Send frames as the driver does, but spoil some on the line: a garbage byte
    before one, a corrupt CRC in another, and one cut short."""

    def __init__(self, dev, faults):
        self.dev, self.faults, self.frames = dev, dict(faults), 0
        self.send = dev.send_raw

    def __call__(self, data):
        fault = self.faults.pop(self.frames, None) if data[:1] == bytes([HOST_SYNC]) else None
        self.frames += 1
        if fault == "garbage":
            data = b"\x13" + data
        elif fault == "crc":
            data = data[:-1] + bytes([data[-1] ^ 0x40])
        elif fault == "truncate":
            data = data[:len(data) // 2]
        self.send(data)


def test_a_spoiled_stream_resumes_with_no_result_lost_or_duplicated(board, monkeypatch):
    dev, model, image = board
    dev.load(image)
    x = random_inputs(9, 24, 20)
    bad_before, resent_before = dev.status()["frames_bad"], dev.resent
    monkeypatch.setattr(dev, "send_raw", Faulty(dev, {4: "garbage", 9: "crc",
                                                      15: "truncate"}))
    y = dev.infer_batch(x, 9)
    monkeypatch.undo()
    assert (y == infer(model, x)).all()
    # The corrupt and the truncated frames (which swallowed the next) were refused,
    # counted by the device, and sent again.
    assert dev.status()["frames_bad"] - bad_before >= 2
    assert dev.resent - resent_before >= 2


def test_frames_sent_faster_than_the_engine_computes_wait_their_turn(board):
    dev, model, image = board
    dev.load(image)
    x = random_inputs(11, 12, 20)
    # Twelve INFER frames at once, no reply awaited: they queue in the receive FIFO.
    from sw.host.driver import encode_input
    for k, xi in enumerate(x):
        encoding, data = encode_input(xi, dev.info["act_bytes"])
        dev.send_raw(encode_frame(HOST_SYNC, Command.INFER, bytes([k, encoding]) + data))
    replies = [dev.reply() for _ in x]
    assert [status for status, _ in replies] == [Status.OK] * len(x)
    from sw.host.driver import decode_outputs
    y = [decode_outputs(data[1:], dev.info["act_bytes"], 9) for _, data in replies]
    assert [data[0] for _, data in replies] == list(range(len(x)))
    assert (np.array(y) == infer(model, x)).all()


def test_mac_array_behind_the_link_bit_exact():
    # The second option behind the link: the dense engine (the MAC array)
    # running the same kind of network, loaded and driven by the same driver.
    from sw.flows.dense_image import build_dense_image, dense_config_for
    model = random_model(6, [19, 12, 5], 2, density=0.4)
    config = dense_config_for(model, lanes=2, width=4)
    x = random_inputs(6, 3, 19)
    with simulated_board(config) as url:
        with Device(url, timeout=30) as dev:
            assert dev.info["pes"] == 4  # activations a beat: the array's width
            dev.load(build_dense_image(model, config), verify=True)
            y = np.array([dev.infer(xi, 5) for xi in x])
            assert dev.status()["cycles"] > 0
    assert (y == infer(model, x)).all()


def test_plls_reach_the_clock_within_their_limits():
    from boards.top import ecp5_pll, ice40_pll
    divr, divf, divq, _, f = ice40_pll(12.0, 24.0)
    assert f == 12.0 / (divr + 1) * (divf + 1) / (1 << divq) and abs(f - 24.0) < 0.1
    clki, fb, op, f = ecp5_pll(25.0, 75.0)
    assert f == 25.0 / clki * fb and 400 <= f * op <= 800 and abs(f - 75.0) < 0.5


@pytest.mark.parametrize("argv, message", [
    (["flash", "--board", "icebreaker", "NOWHERE"], "no bitstream NOWHERE/eiegen.bin: run eiegen build"),
    (["infer", "--inputs", "x.npy", "--out", "y.npy"], "name the board's serial port with --port"),
    (["infer", "--sim", "--inputs", "x.npy", "--out", "y.npy"], "--sim needs --model"),
    (["infer", "--port", "/dev/eiegen-no-such-port", "--model", "MODEL", "--inputs", "X",
      "--out", "y.npy"], "cannot open /dev/eiegen-no-such-port"),
    (["build", "--board", "ulx3s-85f", "--core", "mac", "--out", "b"],
     "--core mac needs --model"),
    (["build", "--board", "ulx3s-85f", "--core", "mac", "--model", "MODEL", "--pes", "2",
      "--out", "b"], "--pes set the EIE engine; the MAC array takes --lanes and --width"),
    (["build", "--board", "ulx3s-85f", "--core", "mac", "--model", "MODEL", "--lanes", "3",
      "--out", "b"], "width 4 must be a multiple of the lane count 3"),
    # A 4-PE model: a 16-bit sparse-matrix word per PE (4 SPRAMs) and 4 x 16-bit
    # activation words (4 more), over the UP5K's 4.
    (["build", "--board", "icebreaker", "--model", "MODEL", "--out", "b"],
     "need 8 SPRAMs, over the UP5K's 4: lower --pes"),
    # Serial rates, refused before any tool runs.
    (["build", "--board", "ulx3s-85f", "--baud", "4000000", "--out", "b"],
     "the ULX3S's FT231X carries at most 3000000 baud, not 4000000; lower --baud"),
    (["build", "--board", "ulx3s-85f", "--clock", "50", "--baud", "2700000", "--out", "b"],
     "2700000 baud is 2.53% off at 50 MHz (limit 2%); rates this clock makes near it: "
     "2941176 (divisor 17), 2777778 (divisor 18), "),
    (["infer", "--port", "/dev/eiegen-no-such-port", "--board", "icesugar-pro", "--baud",
      "1000000", "--model", "MODEL", "--inputs", "X", "--out", "y.npy"],
     "the iCESugar-Pro's iCELink carries at most 921600 baud"),
])
def test_board_verbs_fail_in_one_line(capsys, tmp_path, argv, message):
    from sw.cli import main
    model = tmp_path / "m.npz"
    from sw.formats.model import save
    save(random_model(1, [20, 30, 9], 4), model)
    np.save(tmp_path / "x.npy", random_inputs(1, 2, 20))
    argv = [str(model) if a == "MODEL" else str(tmp_path / "x.npy") if a == "X" else a
            for a in argv]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("eiegen: error: ") and message in err and err.count("\n") == 1


def test_flash_without_a_board_says_so(capsys, tmp_path):
    from sw.cli import main
    (tmp_path / "eiegen.bin").write_bytes(b"\0" * 16)
    assert main(["flash", "--board", "icebreaker", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    # No board is plugged into this machine: whatever stops the programmer
    # (no USB library, no device), the reason is one line.
    assert err.startswith("eiegen: error: flashing icebreaker failed: ") and err.count("\n") == 1


def test_infer_on_the_simulated_board_reports_the_link(cli, save, tmp_path):
    """eiegen infer --sim: the iCEBreaker at its 3 Mbaud, the model loaded in bursts,
    the batch streamed; the report holds what reaches the PC."""
    import json
    from sw.formats import model as model_file
    model = random_model(4, [20, 16, 9], 2, density=0.4)
    model_file.save(model, tmp_path / "m.npz")
    x = save(tmp_path, "x.npy", random_inputs(4, 12, 20))
    status, out, err = cli("infer", "--sim", "--board", "icebreaker", "--pes", "2",
                           "--model", str(tmp_path / "m.npz"), "--inputs", x, "--verify",
                           "--out", str(tmp_path / "y.npy"), "--report", str(tmp_path / "r.json"))
    assert status == 0, err
    assert "inferences a second end to end" in out and "verified: all" in out
    r = json.loads((tmp_path / "r.json").read_text())
    assert r["mismatches"] == 0 and r["baud"] == 3_000_000 and r["inferences"] == 12
    assert r["timed_by"] == "simulated board cycles" and r["model_load_s"] > 0
    # The read-back's replies carry every word the load sent, and more per frame.
    assert r["model_verify_s"] > 0 and r["model_verify_bytes"] >= r["model_load_bytes"] * 0.5
    assert 0 < r["inferences_per_s"] <= r["wire_limit_per_s"]
    assert r["bytes_in_per_inference"] > 0 and r["bytes_out_per_inference"] == 6 + 1 + 5 * 2 * 2
    assert (np.load(tmp_path / "y.npy") == infer(model, np.load(x))).all()
