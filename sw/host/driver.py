"""Host driver: run inference on an eiegen board (or a simulated one).

Opens a serial port (``/dev/ttyUSB1``, ``COM3``) or any pyserial URL
(``socket://127.0.0.1:PORT`` for ``sw.host.simulated``) and speaks the framed
protocol of ``sw.spec.protocol``.
"""

import numpy as np

from sw.errors import EiegenError
from sw.spec.protocol import (BAUD, DEVICE_SYNC, HOST_SYNC, MAX_PAYLOAD, Command, Status,
                              crc16, encode_frame)

__all__ = ["Device", "DeviceError", "open_port"]


class DeviceError(EiegenError):
    """The device answered with an error, or not at all."""


def open_port(port, baud=BAUD, timeout=10.0):
    """The pyserial port ``port`` names (a serial port or a pyserial URL).

    A serial port is put in low-latency mode where the platform has it
    (Linux): a USB bridge otherwise holds what it received for its latency
    timer (FTDI's is 16 ms) before sending it on, which dominates every
    short reply. A URL (``socket://``, ``loop://``) is no serial port, and a
    platform or driver without the mode leaves the port as it is.
    """
    import serial
    try:
        line = serial.serial_for_url(port, baudrate=baud, timeout=timeout)
    except (serial.SerialException, ValueError) as error:
        raise DeviceError(f"cannot open {port}: {error}; is the board plugged in "
                          "(--port names its serial port)?") from None
    low_latency = getattr(line, "set_low_latency_mode", None)
    if "://" not in port and low_latency is not None:
        try:
            low_latency(True)
        except (OSError, ValueError, AttributeError, NotImplementedError):
            pass  # no ASYNC_LOW_LATENCY here (a pty, a non-Linux ioctl set): slower, not wrong
    return line


class Device:
    """One board, through its serial link.

    Parameters
    ----------
    port : str
        A serial port or a pyserial URL (``open_port``: low-latency mode
        where the platform has it).
    baud : int
    timeout : float
        Seconds to wait for each reply.
    """

    def __init__(self, port, baud=BAUD, timeout=10.0):
        self._port = open_port(port, baud, timeout)
        self._name = port
        self.bytes_sent = self.bytes_received = 0  # line traffic, for transfer times
        self.info = self._info()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self._port.close()

    # ---- frames
    def send_raw(self, data):
        """Bytes straight onto the line (tests send garbage with this)."""
        self._port.write(data)
        self._port.flush()
        self.bytes_sent += len(data)

    def _read(self, n):
        data = self._port.read(n)
        self.bytes_received += len(data)
        if len(data) != n:
            raise DeviceError(f"no answer from {self._name} (timed out); is the eiegen "
                              "bitstream loaded (eiegen flash)?")
        return data

    def reply(self):
        """The next reply frame: ``(status, payload)``."""
        while self._read(1)[0] != DEVICE_SYNC:
            pass  # anything before a frame is noise
        header = self._read(3)
        length = header[1] | header[2] << 8
        payload = self._read(length)
        crc = self._read(2)
        if crc16(header + payload) != (crc[0] | crc[1] << 8):
            raise DeviceError(f"corrupt reply from {self._name} (CRC mismatch)")
        return header[0], payload

    def request(self, cmd, payload=b"", expect=Status.OK):
        """Send one frame and return the reply's payload, checking its status."""
        self.send_raw(encode_frame(HOST_SYNC, cmd, payload))
        status, data = self.reply()
        if status != expect:
            raise DeviceError(f"the device answered {Status.NAMES.get(status, hex(status))} "
                              f"to command {cmd:#04x}")
        return data

    # ---- commands
    def _info(self):
        data = self.request(Command.INFO)
        if len(data) != 10 or data[0] != 1:
            raise DeviceError(f"{self._name} is not an eiegen EIE board (INFO reply {data!r})")
        return {"pes": data[1], "act_bits": data[2], "act_bytes": data[3],
                "load_bytes": data[4], "max_cols": data[5] | data[6] << 8,
                "max_layers": data[7], "max_payload": data[8] | data[9] << 8}

    def status(self):
        data = self.request(Command.STATUS)
        return {"busy": bool(data[0] & 1), "cycles": int.from_bytes(data[1:5], "little"),
                "frames_ok": int.from_bytes(data[5:7], "little"),
                "frames_bad": int.from_bytes(data[7:9], "little")}

    def _chunks(self, records, size):
        per = max(1, MAX_PAYLOAD // size)
        for start in range(0, len(records), per):
            yield b"".join(records[start:start + per])

    def load(self, image, progress=None):
        """Write a model's memory images (``EieImage``) through the load port."""
        db = self.info["load_bytes"] - 5
        records = [bytes([mem, pe]) + addr.to_bytes(3, "little") + data.to_bytes(db, "little")
                   for mem, pe, addr, data in image.load_beats()]
        for k, chunk in enumerate(self._chunks(records, self.info["load_bytes"])):
            self.request(Command.LOAD, chunk)
            if progress and k % 64 == 0:
                progress(f"loading: {min(len(records), (k + 1) * (MAX_PAYLOAD // self.info['load_bytes']))}"
                         f" of {len(records)} words")

    def infer(self, x, outputs):
        """One input vector in, ``outputs`` activations back (integers)."""
        pes, ab = self.info["pes"], self.info["act_bytes"]
        words = -(-len(x) // pes) * pes
        values = np.zeros(words, dtype=np.int64)
        values[:len(x)] = x
        records = [int(v).to_bytes(ab, "little", signed=True) for v in values]
        for chunk in self._chunks([b"".join(records[i:i + pes])
                                   for i in range(0, words, pes)], pes * ab):
            self.request(Command.INPUT, chunk)
        beats = -(-outputs // pes)
        while True:
            self.send_raw(encode_frame(HOST_SYNC, Command.OUTPUT, beats.to_bytes(2, "little")))
            status, data = self.reply()
            if status == Status.OK:
                break
            if status != Status.NOT_READY:
                raise DeviceError(f"the device answered {Status.NAMES.get(status)} to OUTPUT")
        if len(data) != beats * pes * ab:
            raise DeviceError(f"expected {beats * pes * ab} output bytes, got {len(data)}")
        y = [int.from_bytes(data[i:i + ab], "little", signed=True)
             for i in range(0, len(data), ab)]
        return np.array(y[:outputs], dtype=np.int64)
