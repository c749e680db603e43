"""Host driver: run inference on an eiegen board (or a simulated one).

Opens a serial port (``/dev/ttyUSB1``, ``COM3``) or any pyserial URL
(``socket://127.0.0.1:PORT`` for ``sw.host.simulated``) and speaks the framed
protocol of ``sw.spec.protocol``.
"""

from collections import deque

import numpy as np

from sw.errors import EiegenError
from sw.spec.protocol import (BAUD, DEVICE_SYNC, HOST_SYNC, MAX_PAYLOAD, VERSION, Command,
                              Encoding, Status, crc16, encode_frame)

__all__ = ["Device", "DeviceError", "open_port", "encode_input", "decode_outputs",
           "burst_frames", "RETRIES"]


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
        self.resent = self.refused = 0  # frames sent again, and refusals, while streaming
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
        if len(data) == 10 and data[0] == 1:
            raise DeviceError(f"{self._name} speaks protocol version 1 and this driver "
                              f"version {VERSION}: rebuild and flash its bitstream with this "
                              f"eiegen (eiegen build, eiegen flash)")
        if len(data) != 15 or data[0] != VERSION:
            raise DeviceError(f"{self._name} is not an eiegen board of protocol version "
                              f"{VERSION} (INFO reply {data!r})")
        return {"version": data[0], "pes": data[1], "act_bits": data[2], "act_bytes": data[3],
                "load_bytes": data[4], "max_cols": data[5] | data[6] << 8,
                "max_layers": data[7], "max_payload": data[8] | data[9] << 8,
                "divisor": data[10] | data[11] << 8, "rx_fifo": data[12] | data[13] << 8,
                "encodings": [e for e in Encoding.ALL if data[14] >> e & 1]}

    def status(self):
        data = self.request(Command.STATUS)
        return {"busy": bool(data[0] & 1), "cycles": int.from_bytes(data[1:5], "little"),
                "frames_ok": int.from_bytes(data[5:7], "little"),
                "frames_bad": int.from_bytes(data[7:9], "little")}

    def load(self, image, progress=None, verify=False):
        """Write a model's memory images (``EieImage``, ``DenseImage``) through the load port.

        Consecutive addresses of one memory go as LOAD_BURST frames (one
        header, then whole words), streamed without waiting for each reply.
        With ``verify`` every word is read back (``verify``) afterwards.
        """
        beats = image.load_beats()
        self.load_beats(beats, progress)
        if verify:
            self.verify(beats, progress=progress)

    def load_beats(self, beats, progress=None):
        """Write ``(mem, pe, addr, data)`` words, as LOAD_BURST frames streamed."""
        frames = [(Command.LOAD_BURST, payload)
                  for payload in burst_frames(beats, self._word_bytes)]
        self.stream(frames, progress=_every_tenth(progress, len(frames), "loading",
                                                  f"{len(beats)} words"))

    def read(self, mem, pe, addr, count):
        """``count`` words of memory ``mem`` of PE ``pe`` from ``addr`` on (READ)."""
        return self._read_runs([(mem, pe, addr, count)])[0]

    def verify(self, beats, progress=None):
        """Read back the words ``(mem, pe, addr, data)`` load beats wrote, a reply's
        worth a frame, streamed; refuse the first word that differs."""
        runs = _runs_of(beats, (self.info["max_payload"] - 1) // self._word_bytes)
        got = self._read_runs([(mem, pe, addr, len(words)) for mem, pe, addr, words in runs],
                              _every_tenth(progress, len(runs), "verifying",
                                           f"{len(beats)} words"))
        for (mem, pe, addr, wrote), read in zip(runs, got):
            for k, (want, have) in enumerate(zip(wrote, read)):
                if want != have:
                    raise DeviceError(f"memory {mem} of PE {pe} holds {have:#x} at address "
                                      f"{addr + k}, not the {want:#x} loaded; load the "
                                      f"model again, and if it persists rebuild the bitstream")

    def _read_runs(self, runs, progress=None):
        """The words of ``(mem, pe, addr, count)`` runs, READ frames streamed."""
        size = self._word_bytes
        frames = [(Command.READ, _header(mem, pe, addr) + count.to_bytes(2, "little"))
                  for mem, pe, addr, count in runs]
        return [[int.from_bytes(r[k:k + size], "little") for k in range(0, len(r), size)]
                for r in self.stream(frames, progress=progress)]

    @property
    def _word_bytes(self):
        """Bytes of a memory word in LOAD_BURST and READ: a load beat's, less its header."""
        return self.info["load_bytes"] - 5

    def infer(self, x, outputs):
        """One input vector in, ``outputs`` activations back (integers)."""
        return self.infer_batch([x], outputs)[0]

    def infer_batch(self, xs, outputs, progress=None):
        """Input vectors (B, inputs) streamed through the engine; (B, outputs) back.

        Each input goes as an INFER frame, runs of zeros and values
        (``encode_input``); the frames are streamed, several ahead
        of the replies (as many as the device's receive FIFO holds), so the
        engine never waits for the host while inputs remain. A frame refused
        or lost on the line is sent again; no result is lost or duplicated.
        """
        act_bytes = self.info["act_bytes"]
        beat = self.info["pes"] * act_bytes
        if -(-outputs // self.info["pes"]) * beat + 1 > self.info["max_payload"]:
            raise DeviceError(f"{outputs} outputs do not fit one reply frame "
                              f"({self.info['max_payload']} bytes)")
        frames = []
        for x in xs:
            encoding, data = encode_input(x, act_bytes, self.info["encodings"])
            frames.append((Command.INFER, bytes([encoding]) + data))
        results = self.stream(frames, progress=progress)
        return np.array([decode_outputs(r, act_bytes, outputs) for r in results],
                        dtype=np.int64).reshape(len(frames), outputs)

    def stream(self, frames, progress=None, window=None):
        """Send ``(cmd, body)`` frames (INFER, LOAD_BURST, READ: the device echoes the
        sequence number put before each body), several ahead of their replies;
        the reply payloads after their sequence numbers, in frame order.

        Frames are answered in order, so a refusal (bad CRC, timeout, busy) is
        the oldest outstanding frame's, and frames older than an answered one
        were lost on the line (a truncated frame swallows the next). Those, and
        every outstanding frame when no reply comes in time, are sent again, at
        most ``RETRIES`` times a frame; a late answer to a frame already
        answered is dropped. ``self.resent`` and ``self.refused`` count them.
        """
        longest = max((len(b) for _, b in frames), default=0) + 7
        if window is None:
            window = max(2, min(8, 1 + self.info["rx_fifo"] // longest))
        results = [None] * len(frames)
        pending = []             # indices sent and not yet answered, oldest first
        todo = deque(range(len(frames)))
        tries = [0] * len(frames)
        done = quiet = 0

        def again(indices):
            self.resent += len(indices)
            todo.extendleft(reversed(indices))

        while done < len(frames):
            while todo and len(pending) < window:
                k = todo.popleft()
                if tries[k] > RETRIES:
                    raise DeviceError(f"frame {k} was refused or lost {tries[k]} times; got "
                                      f"{done} of {len(frames)} results from {self._name}")
                tries[k] += 1
                cmd, body = frames[k]
                self.send_raw(encode_frame(HOST_SYNC, cmd, bytes([k % 256]) + body))
                pending.append(k)
            try:
                status, data = self.reply()
                quiet = 0
            except DeviceError as error:
                timed_out = "timed out" in str(error)
                quiet = quiet + 1 if timed_out else 0
                if timed_out and (not pending or quiet > 1):
                    # Twice nothing at all: the line is dead, not merely spoiled.
                    raise DeviceError(f"the stream stopped: got {done} of {len(frames)} "
                                      f"results from {self._name} (no reply in "
                                      f"{self._port.timeout:g} s, twice)") from None
                again(pending)   # nothing came back in time, or garbled
                pending = []
                continue
            if status == Status.BAD_ADDRESS:
                # Not spoiled on the line: sending it again would not help.
                raise DeviceError(f"the device has no memory word frame {pending[0]} names "
                                  f"(bad address); got {done} of {len(frames)} results")
            if status != Status.OK or not data:
                self.refused += 1
                if pending:
                    again([pending.pop(0)])
                continue
            matches = [k for k in pending if k % 256 == data[0]]
            if not matches:
                continue
            k = matches[0]
            lost = pending[:pending.index(k)]
            again(lost)
            pending = pending[pending.index(k) + 1:]
            if results[k] is None:
                results[k] = data[1:]
                done += 1
                if progress:
                    progress(done)
        return results


#: Times a frame is sent again before the stream gives up.
RETRIES = 8


def burst_frames(beats, data_bytes):
    """LOAD_BURST payloads for ``(mem, pe, addr, data)`` load beats: runs of
    consecutive addresses of one memory, as many whole words as a frame holds."""
    return [_header(mem, pe, addr)
            + b"".join(word.to_bytes(data_bytes, "little") for word in words)
            for mem, pe, addr, words in _runs_of(beats, (MAX_PAYLOAD - 5) // data_bytes)]


def _header(mem, pe, addr):
    """LOAD_BURST's and READ's memory id, PE and first address."""
    return bytes([mem, pe]) + addr.to_bytes(3, "little")


def _runs_of(beats, most):
    """``(mem, pe, first addr, words)``: load beats as runs of consecutive
    addresses of one memory, at most ``most`` words each."""
    runs = []
    for mem, pe, addr, word in sorted(beats):
        last = runs[-1] if runs else None
        if last and last[:2] == (mem, pe) and last[2] + len(last[3]) == addr \
                and len(last[3]) < most:
            last[3].append(word)
        else:
            runs.append((mem, pe, addr, [word]))
    return runs


def _every_tenth(progress, total, doing, what):
    """A stream's progress callback that reports about every tenth frame, or None."""
    if progress is None:
        return None
    step = max(1, total // 10)
    return lambda done: (done % step == 0 or done == total) and progress(
        f"{doing}: {done} of {total} frames ({what})")


def encode_input(x, act_bytes, encodings=Encoding.ALL):
    """``(encoding, bytes)``: input activations ``x`` as runs of zeros and values
    (docs/formats.md, INFER), the values as unsigned bytes where they all are."""
    x = [int(v) for v in np.asarray(x).ravel()]
    lo, hi = -(1 << (8 * act_bytes - 1)), (1 << (8 * act_bytes - 1)) - 1
    if any(v < lo or v > hi for v in x):
        raise DeviceError(f"an input activation is outside {8 * act_bytes} bits")
    if all(0 <= v <= 255 for v in x) and Encoding.RUNS_BYTES in encodings:
        return Encoding.RUNS_BYTES, _runs(x, 1)
    if Encoding.RUNS not in encodings:
        raise DeviceError("the device takes none of this driver's input encodings")
    return Encoding.RUNS, _runs(x, act_bytes)


def _values(values, width):
    return b"".join(v.to_bytes(width, "little", signed=True) for v in values)


def _runs(x, width):
    """Runs: ``zeros, count, count values``; at most 255 of each a run."""
    out, k = bytearray(), 0
    while k < len(x):
        zeros = 0
        while k < len(x) and x[k] == 0 and zeros < 255:
            zeros, k = zeros + 1, k + 1
        values = []
        while k < len(x) and x[k] != 0 and len(values) < 255:
            values.append(x[k])
            k += 1
        out += bytes([zeros, len(values)])
        out += bytes(values) if width == 1 else _values(values, width)
    return bytes(out)


def decode_outputs(data, act_bytes, outputs):
    """The output activations of a reply payload (two's complement, little-endian)."""
    return [int.from_bytes(data[i:i + act_bytes], "little", signed=True)
            for i in range(0, outputs * act_bytes, act_bytes)]
