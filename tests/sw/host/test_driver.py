"""Opening the port: low-latency mode for a serial port where the platform
has it, never for a URL, and never a failure where it is missing."""

import os
import socket

import pytest
import serial
import serial.serialposix
from serial.urlhandler import protocol_loop, protocol_socket

from sw.host.driver import open_port

pytestmark = pytest.mark.skipif(not hasattr(os, "openpty"), reason="needs a pseudo-terminal")


@pytest.fixture
def calls(monkeypatch):
    """The ``set_low_latency_mode`` calls each port class gets (the real
    method runs after: on a pseudo-terminal it raises, as on a port whose
    driver has no ASYNC_LOW_LATENCY)."""
    made = []
    for cls in [serial.Serial, protocol_socket.Serial, protocol_loop.Serial]:
        real = getattr(cls, "set_low_latency_mode", None)

        def spy(self, on, real=real, cls=cls):
            made.append((cls.__module__, on))
            if real is not None:
                return real(self, on)
        monkeypatch.setattr(cls, "set_low_latency_mode", spy, raising=False)
    return made


@pytest.fixture
def pty():
    """A pseudo-terminal: a real serial port to pyserial, the far end ours."""
    far, near = os.openpty()
    yield os.ttyname(near), far
    os.close(far)
    os.close(near)


def test_serial_port_asks_for_low_latency(calls, pty):
    name, far = pty
    line = open_port(name, 3_000_000, timeout=1)
    try:
        assert calls == [(serial.Serial.__module__, True)]
        os.write(far, b"\x5a")  # and the port works
        assert line.read(1) == b"\x5a"
    finally:
        line.close()


def test_urls_are_left_alone(calls):
    with socket.create_server(("127.0.0.1", 0)) as server:
        line = open_port(f"socket://127.0.0.1:{server.getsockname()[1]}", 3_000_000, timeout=1)
        line.close()
    open_port("loop://", 3_000_000, timeout=1).close()
    assert calls == []


def test_platform_without_low_latency_opens_anyway(monkeypatch, pty):
    # As on macOS and Windows: the method is missing, or raises.
    unsupported = serial.serialposix.PlatformSpecificBase.set_low_latency_mode
    for cls in serial.serialposix.Serial.__mro__:
        if "set_low_latency_mode" in vars(cls):
            monkeypatch.delattr(cls, "set_low_latency_mode")
    open_port(pty[0], 115200, timeout=1).close()
    monkeypatch.setattr(serial.Serial, "set_low_latency_mode", unsupported, raising=False)
    open_port(pty[0], 115200, timeout=1).close()


def test_a_stream_cut_off_stops_in_one_line_with_what_it_got():
    """A line that answers nothing (pyserial's loop:// echoes the host's own
    frames, which the driver skips as noise): two quiet timeouts, then one line."""
    import numpy as np
    import pytest
    import serial
    from sw.host.driver import Device, DeviceError
    from sw.spec.protocol import RX_FIFO, Encoding
    dev = Device.__new__(Device)
    dev._port = serial.serial_for_url("loop://", timeout=0.2)
    dev._name = "loop://"
    dev.bytes_sent = dev.bytes_received = dev.resent = dev.refused = 0
    dev.info = {"pes": 2, "act_bytes": 2, "max_payload": 512, "rx_fifo": RX_FIFO,
                "encodings": list(Encoding.ALL)}
    with pytest.raises(DeviceError, match=r"^the stream stopped: got 0 of 3 results from "
                                          r"loop:// \(no reply in 0.2 s, twice\)$"):
        dev.infer_batch(np.ones((3, 5), dtype=int), 4)
