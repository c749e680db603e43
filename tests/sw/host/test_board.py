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
    with simulated_board(config) as url:
        with Device(url, timeout=30) as dev:
            yield dev, model, build_image(model, config)


def test_driver_runs_the_network_bit_exact(board):
    dev, model, image = board
    dev.load(image)
    x = random_inputs(3, 4, 20)
    y = np.array([dev.infer(xi, 9) for xi in x])
    assert (y == infer(model, x)).all()
    assert dev.status()["cycles"] > 0


def test_bad_frames_get_errors_and_change_nothing(board):
    dev, model, image = board
    dev.load(image)
    x = random_inputs(5, 2, 20)
    bad_before = dev.status()["frames_bad"]
    frame = bytearray(encode_frame(HOST_SYNC, Command.LOAD, bytes(13)))
    frame[-1] ^= 0x40  # a corrupt CRC on a load that would clear a memory word
    dev.send_raw(b"\x00\x13garbage" + bytes(frame))
    assert dev.reply()[0] == Status.BAD_CRC
    dev.send_raw(encode_frame(HOST_SYNC, 0x7E))
    assert dev.reply()[0] == Status.UNKNOWN_COMMAND
    dev.send_raw(bytes([HOST_SYNC, Command.LOAD, 0x01, 0x04]))  # 1025 bytes: too long
    assert dev.reply()[0] == Status.BAD_LENGTH
    dev.send_raw(encode_frame(HOST_SYNC, Command.LOAD, bytes(12)))  # not whole beats
    assert dev.reply()[0] == Status.BAD_LENGTH
    dev.send_raw(encode_frame(HOST_SYNC, Command.INPUT, bytes(6))[:5])  # truncated
    assert dev.reply()[0] == Status.TIMEOUT
    dev.send_raw(encode_frame(HOST_SYNC, Command.OUTPUT, b"\x01\x00"))  # nothing computed
    assert dev.reply()[0] == Status.NOT_READY
    # The engine waits with its outputs: loading now is refused.
    dev.request(Command.INPUT, b"".join(int(v).to_bytes(2, "little", signed=True)
                                        for v in x[0]))
    with pytest.raises(DeviceError, match="busy"):
        dev.request(Command.LOAD, bytes(13))
    y0 = dev.request(Command.OUTPUT, (5).to_bytes(2, "little"))  # 9 outputs, 2 a beat
    got = [int.from_bytes(y0[i:i + 2], "little", signed=True) for i in range(0, 18, 2)]
    # Nothing above reached the engine's memories: the network is unchanged.
    assert got == list(infer(model, x[:1])[0])
    assert (dev.infer(x[1], 9) == infer(model, x[1:])[0]).all()
    # Seven refused frames, each counted once.
    assert dev.status()["frames_bad"] - bad_before == 7


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
            dev.load(build_dense_image(model, config))
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
