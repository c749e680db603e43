"""The host link's frame receiver: a host frame whole into the frame buffer,
its length and CRC checked, before any of it is acted on."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.spec.protocol import HOST_SYNC, MAX_PAYLOAD, Status

from .framing import crc_byte

__all__ = ["FrameReceiver"]


class FrameReceiver(wiring.Component):
    """Receives one host frame at a time (``sync, cmd, length, payload, crc``).

    Bytes outside frames are skipped. The payload is written into the frame
    buffer as it arrives; a frame is given to the dispatcher only once its
    CRC holds, so a corrupt frame changes nothing. A frame whose line goes
    quiet for ``timeout`` cycles is given up (TIMEOUT), as is one longer
    than ``MAX_PAYLOAD`` (BAD_LENGTH, at once) or with a bad CRC (BAD_CRC).
    After each outcome the receiver waits, taking no bytes, until the reply
    is sent (``resume``), leaving the next bytes in the FIFO before it.

    Parameters
    ----------
    timeout : int
        Quiet cycles after which a frame is given up (at least 1).

    Ports
    -----
    bytes : In(stream) of 8 bits
        From the UART's receive FIFO; taken at once, except while a frame's
        reply is pending (then they wait in the FIFO).
    frame_addr, frame_data, frame_en : Out
        The frame buffer's write port: payload byte ``frame_addr``.
    frame : Out(stream) of ``{status}``, always ready
        A one-cycle event per frame: ``Status.OK`` for a whole frame, or the
        reason it was given up.
    cmd, length : Out
        The frame's command and payload length (registers, held until
        ``resume``).
    resume : In(1)
        The reply is sent: look for the next frame.

    Latency: the outcome is given in the cycle the last CRC byte arrives
    (or the frame is given up); throughput one byte a cycle, far above the
    UART's.
    """

    def __init__(self, timeout):
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise ValueError(f"timeout must be a positive number of cycles, not {timeout!r}")
        self._timeout = timeout
        super().__init__({
            "bytes": In(stream.Signature(8)),
            "frame_addr": Out(16),
            "frame_data": Out(8),
            "frame_en": Out(1),
            "frame": Out(stream.Signature(data.StructLayout({"status": 8}), always_ready=True)),
            "cmd": Out(8),
            "length": Out(16),
            "resume": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        byte, got = self.bytes.payload, self.bytes.valid

        crc = Signal(16, init=0xFFFF)
        idx = Signal(16)  # the payload byte being received
        quiet = Signal(range(self._timeout + 1))

        def give(code):
            """The frame's outcome, in this cycle; wait for the reply."""
            m.d.comb += [self.frame.valid.eq(1), self.frame.payload.status.eq(code)]
            m.next = "WAIT"

        receiving = ["CMD", "LEN0", "LEN1", "PAYLOAD", "CRC0", "CRC1"]
        with m.FSM() as fsm:
            with m.State("SYNC"):
                m.d.sync += [crc.eq(0xFFFF), quiet.eq(0)]
                with m.If(got & (byte == HOST_SYNC)):
                    m.next = "CMD"
            for name in receiving:
                with m.State(name):
                    with m.If(got):
                        m.d.sync += quiet.eq(0)
                        if name in ("CMD", "LEN0", "LEN1", "PAYLOAD"):
                            m.d.sync += crc.eq(crc_byte(crc, byte))
                        self._receive(m, name, byte, crc, idx, give)
                    with m.Elif(quiet == self._timeout):
                        give(Status.TIMEOUT)
                    with m.Else():
                        m.d.sync += quiet.eq(quiet + 1)
            with m.State("WAIT"):
                with m.If(self.resume):
                    m.next = "SYNC"
        # Bytes that arrive while a frame is carried out wait in the FIFO before
        # the receiver (hw.link.host_link), so nothing the host streams is lost.
        m.d.comb += self.bytes.ready.eq(~fsm.ongoing("WAIT"))
        return m

    def _receive(self, m, name, byte, crc, idx, give):
        """One received byte of a frame, in state ``name``."""
        cmd, length = self.cmd, self.length
        if name == "CMD":
            m.d.sync += cmd.eq(byte)
            m.next = "LEN0"
        elif name == "LEN0":
            m.d.sync += length[:8].eq(byte)
            m.next = "LEN1"
        elif name == "LEN1":
            m.d.sync += [length[8:].eq(byte), idx.eq(0)]
            with m.If(Cat(length[:8], byte) > MAX_PAYLOAD):
                give(Status.BAD_LENGTH)
            with m.Elif(Cat(length[:8], byte) == 0):
                m.next = "CRC0"
            with m.Else():
                m.next = "PAYLOAD"
        elif name == "PAYLOAD":
            m.d.comb += [self.frame_addr.eq(idx), self.frame_data.eq(byte),
                         self.frame_en.eq(1)]
            m.d.sync += idx.eq(idx + 1)
            with m.If(idx + 1 == length):
                m.next = "CRC0"
        elif name == "CRC0":
            m.d.sync += crc.eq(crc ^ byte)
            m.next = "CRC1"
        else:
            with m.If((crc[:8] == 0) & (crc[8:] == byte)):
                give(Status.OK)
            with m.Else():
                give(Status.BAD_CRC)
