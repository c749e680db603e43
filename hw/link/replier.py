"""The host link's replier: the device frame answering each host frame."""

from amaranth.hdl import Cat, Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from sw.spec.protocol import DEVICE_SYNC, Status

from .framing import crc_byte

__all__ = ["Replier"]


class Replier(wiring.Component):
    """Sends ``DEVICE_SYNC, status, length, payload, crc`` (``sw.spec.protocol``).

    The payload is read from the answer buffer; the CRC (CRC-16/CCITT-FALSE)
    covers the status, the length and the payload. Each reply is counted, as
    a good frame when its status is OK and a bad one otherwise.

    Parameters
    ----------
    None.

    Ports
    -----
    start : In(1)
        Send a reply (a one-cycle pulse; not while one is being sent).
    status, length : In
        Its status and payload length, held until ``done``.
    answer_addr : Out, answer_data : In
        The answer buffer's read port (data the cycle after the address).
    bytes : Out(stream) of 8 bits
        To the UART.
    done : Out(1)
        The reply's last byte is taken (a one-cycle pulse).
    frames_ok, frames_bad : Out(16)
        Replies sent so far with status OK, and with any other (wrapping).

    Latency: the first byte is offered two cycles after ``start``; a payload
    byte takes two cycles (its read, then its offer) beyond the UART's wait.
    Throughput is the UART's.
    """

    def __init__(self):
        super().__init__({
            "start": In(1),
            "status": In(8),
            "length": In(16),
            "answer_addr": Out(16),
            "answer_data": In(8),
            "bytes": Out(stream.Signature(8)),
            "done": Out(1),
            "frames_ok": Out(16),
            "frames_bad": Out(16),
        })

    def elaborate(self, platform):
        m = Module()
        crc = Signal(16, init=0xFFFF)
        idx = Signal(16)  # the payload byte being sent
        count = Signal(2)  # the header or trailer byte being sent
        tx = self.bytes
        header = Cat(Const(DEVICE_SYNC, 8), self.status, self.length)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.next = "REPLY"
            with m.State("REPLY"):
                m.d.sync += [crc.eq(0xFFFF), count.eq(0), idx.eq(0)]
                with m.If(self.status == Status.OK):
                    m.d.sync += self.frames_ok.eq(self.frames_ok + 1)
                with m.Else():
                    m.d.sync += self.frames_bad.eq(self.frames_bad + 1)
                m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += [tx.payload.eq(header.word_select(count, 8)), tx.valid.eq(1)]
                with m.If(tx.ready):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count != 0):
                        # The sync byte is outside the CRC.
                        m.d.sync += crc.eq(crc_byte(crc, tx.payload))
                    with m.If(count == 3):
                        m.d.sync += count.eq(0)
                        m.next = "BODY_ADDR"
            with m.State("BODY_ADDR"):
                m.d.comb += self.answer_addr.eq(idx)
                with m.If(idx == self.length):
                    m.next = "TRAILER"
                with m.Else():
                    m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += [tx.payload.eq(self.answer_data), tx.valid.eq(1),
                             self.answer_addr.eq(idx)]
                with m.If(tx.ready):
                    m.d.sync += [crc.eq(crc_byte(crc, self.answer_data)), idx.eq(idx + 1)]
                    m.next = "BODY_ADDR"
            with m.State("TRAILER"):
                m.d.comb += [tx.payload.eq(crc.word_select(count, 8)), tx.valid.eq(1)]
                with m.If(tx.ready):
                    m.d.sync += count.eq(count + 1)
                    with m.If(count == 1):
                        m.d.comb += self.done.eq(1)
                        m.next = "IDLE"
        return m
