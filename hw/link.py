"""The host link: framed commands over a UART, in front of an engine."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sw.spec.protocol import DEVICE_SYNC, HOST_SYNC, MAX_PAYLOAD, Command, Status

from .memory import load_layout
from .uart import UartRx, UartTx

__all__ = ["HostLink", "link_sizes"]


def _crc_byte(crc, byte):
    """CRC-16/CCITT-FALSE after one more byte, unrolled (``sw.spec.protocol.crc16``)."""
    for i in range(8):
        top = crc[15] ^ byte[7 - i]
        crc = Cat(Const(0, 1), crc[:15]) ^ Mux(top, 0x1021, 0)
    return crc


def link_sizes(config):
    """Bytes of one load beat, one activation and one input or output beat."""
    load_data = load_layout(config).members["data"]
    act = -(-config.act_bits // 8)
    return {"load": 5 + -(-load_data // 8), "act": act, "beat": config.beat_lanes * act}


def _sign_extend(value, bits):
    return Cat(value, *([value[-1]] * (bits - len(value))))


class HostLink(wiring.Component):
    """Framed protocol (``sw.spec.protocol``, docs/formats.md) between a UART and the engine.

    A frame is received whole into a buffer and its CRC checked before any of
    it reaches the engine, so a corrupt frame changes nothing. Every frame
    gets exactly one reply: its status, with a payload for INFO, OUTPUT and
    STATUS. A frame whose line goes quiet for ``timeout_bits`` bit times is
    given up (TIMEOUT); bytes outside frames are skipped. Loads and inputs
    are refused (BUSY) while the engine runs and outputs asked for before the
    engine offers them are refused (NOT_READY), so no command waits on the
    engine for ever.

    Parameters
    ----------
    config : hw.eie.config.EieConfig or hw.dense_config.DenseConfig
        The engine behind the link (``beat_lanes`` activations a beat,
        ``load_data_bits``, ``act_bits``, ``max_cols``, ``max_layers``).
    divisor : int
        Clock cycles per UART bit.
    timeout_bits : int
        Quiet bit times after which a frame is given up.

    Ports
    -----
    rx : In(1), tx : Out(1)
        The serial line.
    load, input : Out(stream)
        To the engine's ports of the same names.
    output : In(stream)
        From the engine's output.
    busy : In(1)
        The engine's ``busy``.

    Throughput is the UART's, ``10 x divisor`` cycles a byte each way; the
    engine's cycles from start to its first output are counted for STATUS.
    """

    def __init__(self, config, divisor, timeout_bits=64):
        if timeout_bits < 16:
            raise ValueError(f"timeout must be at least 16 bit times, not {timeout_bits}")
        self._c = config
        self._divisor = divisor
        self._timeout = timeout_bits * divisor
        lanes = data.ArrayLayout(signed(config.act_bits), config.beat_lanes)
        super().__init__({
            "rx": In(1, init=1), "tx": Out(1, init=1),
            "load": Out(stream.Signature(load_layout(config))),
            "input": Out(stream.Signature(lanes)),
            "output": In(stream.Signature(lanes)),
            "busy": In(1),
        })

    def elaborate(self, platform):
        c = self._c
        m = Module()
        sizes = link_sizes(c)
        m.submodules.uart_rx = urx = UartRx(self._divisor)
        m.submodules.uart_tx = utx = UartTx(self._divisor)
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx), urx.o.ready.eq(1)]
        byte, got = urx.o.payload, urx.o.valid

        frame = Memory(shape=unsigned(8), depth=MAX_PAYLOAD, init=[])
        answer = Memory(shape=unsigned(8), depth=MAX_PAYLOAD, init=[])
        m.submodules.frame, m.submodules.answer = frame, answer
        f_wr, f_rd = frame.write_port(), frame.read_port()
        a_wr, a_rd = answer.write_port(), answer.read_port()

        cmd = Signal(8)
        length = Signal(16)
        crc = Signal(16, init=0xFFFF)
        idx = Signal(16)  # the payload byte being received, read or sent
        status = Signal(8)
        reply_len = Signal(16)
        quiet = Signal(range(self._timeout + 1))
        frames_ok = Signal(16)
        frames_bad = Signal(16)

        # ---- the engine seen from here: cycles of the last inference, and
        # whether it offers outputs (from the first one until it is idle)
        busy_was = Signal()
        counting = Signal()
        cycles = Signal(32)
        last_cycles = Signal(32)
        out_phase = Signal()
        m.d.sync += busy_was.eq(self.busy)
        with m.If(self.busy & ~busy_was):
            m.d.sync += [cycles.eq(1), counting.eq(1)]
        with m.Elif(counting):
            m.d.sync += cycles.eq(cycles + 1)
            with m.If(self.output.valid):
                m.d.sync += [counting.eq(0), last_cycles.eq(cycles)]
        with m.If(self.output.valid & self.busy):
            m.d.sync += out_phase.eq(1)
        with m.Elif(~self.busy):
            m.d.sync += out_phase.eq(0)

        # ---- fixed payloads (docs/formats.md), little-endian fields
        info = Cat(Const(1, 8), Const(c.beat_lanes, 8), Const(c.act_bits, 8),
                   Const(sizes["act"], 8), Const(sizes["load"], 8), Const(c.max_cols, 16),
                   Const(c.max_layers, 8), Const(MAX_PAYLOAD, 16))
        state = Cat(self.busy, Const(0, 7), last_cycles, frames_ok, frames_bad)
        fixed = {Command.INFO: info, Command.STATUS: state}

        # ---- beats gathered from the frame a byte at a time, little-endian
        beat_bits = 8 * max(sizes["load"], sizes["beat"])
        beat = Signal(beat_bits)
        beat_fill = Signal(range(beat_bits // 8 + 1))
        ab = 8 * sizes["act"]
        m.d.comb += [self.load.payload.mem.eq(beat[0:8]), self.load.payload.pe.eq(beat[8:16]),
                     self.load.payload.addr.eq(beat[16:40]),
                     self.load.payload.data.eq(beat[40:])]
        for k in range(c.beat_lanes):
            m.d.comb += self.input.payload[k].eq(beat[k * ab:k * ab + c.act_bits])
        out_word = Signal(8 * sizes["beat"])
        wanted = Signal(16)
        taken = Signal(16)

        def refuse(code):
            return [status.eq(code), reply_len.eq(0), idx.eq(0)]

        receiving = ["CMD", "LEN0", "LEN1", "PAYLOAD", "CRC0", "CRC1"]
        partial = Signal(range(beat_bits // 8 + 1))
        per_beat = Mux(cmd == Command.LOAD, sizes["load"], sizes["beat"])
        with m.FSM():
            with m.State("SYNC"):
                m.d.sync += [crc.eq(0xFFFF), quiet.eq(0), partial.eq(0)]
                with m.If(got & (byte == HOST_SYNC)):
                    m.next = "CMD"
            for name in receiving:
                with m.State(name):
                    with m.If(got):
                        m.d.sync += quiet.eq(0)
                        if name in ("CMD", "LEN0", "LEN1", "PAYLOAD"):
                            m.d.sync += crc.eq(_crc_byte(crc, byte))
                        if name == "PAYLOAD":
                            # Bytes into the current beat, so a payload that
                            # is not whole beats is known without a divider.
                            m.d.sync += partial.eq(Mux(partial + 1 == per_beat, 0, partial + 1))
                        self._receive(m, name, byte, cmd, length, crc, idx, f_wr,
                                      refuse)
                    with m.Elif(quiet == self._timeout):
                        m.d.sync += refuse(Status.TIMEOUT)
                        m.next = "REPLY"
                    with m.Else():
                        m.d.sync += quiet.eq(quiet + 1)

            with m.State("EXEC"):
                m.d.sync += [idx.eq(0), beat_fill.eq(0), status.eq(Status.OK),
                             reply_len.eq(0)]
                with m.Switch(cmd):
                    for code, payload in fixed.items():
                        with m.Case(code):
                            m.d.sync += reply_len.eq(len(payload) // 8)
                            m.next = "FIXED"
                    with m.Case(Command.LOAD, Command.INPUT):
                        with m.If(self.busy):
                            m.d.sync += refuse(Status.BUSY)
                            m.next = "REPLY"
                        with m.Elif(partial != 0):
                            m.d.sync += refuse(Status.BAD_LENGTH)
                            m.next = "REPLY"
                        with m.Else():
                            m.next = "READ"
                    with m.Case(Command.OUTPUT):
                        with m.If(length != 2):
                            m.d.sync += refuse(Status.BAD_LENGTH)
                            m.next = "REPLY"
                        with m.Elif(~out_phase):
                            m.d.sync += refuse(Status.NOT_READY)
                            m.next = "REPLY"
                        with m.Else():
                            m.next = "READ"
                    with m.Default():
                        m.d.sync += refuse(Status.UNKNOWN_COMMAND)
                        m.next = "REPLY"

            with m.State("FIXED"):
                # Copy the fixed payload into the answer buffer.
                payload = Mux(cmd == Command.INFO, info, state)
                m.d.comb += [a_wr.addr.eq(idx), a_wr.data.eq(payload.word_select(idx[:4], 8)),
                             a_wr.en.eq(1)]
                m.d.sync += idx.eq(idx + 1)
                with m.If(idx + 1 == reply_len):
                    m.d.sync += idx.eq(0)
                    m.next = "REPLY"

            # Frame bytes are read with the address a cycle ahead of the data.
            with m.State("READ"):
                m.d.comb += f_rd.addr.eq(idx)
                with m.If(idx == length):
                    m.d.sync += idx.eq(0)
                    m.next = "REPLY"
                with m.Else():
                    m.next = "GATHER"
            with m.State("GATHER"):
                # Byte k of a beat lands at bits 8k..8k+7 (little-endian).
                m.d.sync += [beat.word_select(beat_fill, 8).eq(f_rd.data),
                             beat_fill.eq(beat_fill + 1), idx.eq(idx + 1)]
                per = Mux(cmd == Command.LOAD, sizes["load"],
                          Mux(cmd == Command.INPUT, sizes["beat"], 2))
                with m.If(beat_fill + 1 == per):
                    m.next = "OFFER"
                with m.Else():
                    m.next = "READ"
            with m.State("OFFER"):
                m.d.sync += beat_fill.eq(0)
                with m.Switch(cmd):
                    with m.Case(Command.LOAD):
                        m.d.comb += self.load.valid.eq(1)
                        with m.If(self.load.ready):
                            m.next = "READ"
                    with m.Case(Command.INPUT):
                        # A frame holding more than one input vector: the
                        # engine started on the first, so the rest is refused
                        # rather than waited on.
                        with m.If(self.busy):
                            m.d.sync += refuse(Status.BUSY)
                            m.next = "REPLY"
                        with m.Else():
                            m.d.comb += self.input.valid.eq(1)
                            with m.If(self.input.ready):
                                m.next = "READ"
                    with m.Default():  # OUTPUT: the beats wanted
                        m.d.sync += [wanted.eq(beat[:16]), taken.eq(0), idx.eq(0)]
                        m.next = "TAKE"

            with m.State("TAKE"):
                # The engine offers its outputs until the last is taken, then
                # falls idle: fewer than wanted is not an error.
                max_beats = MAX_PAYLOAD // sizes["beat"]
                with m.If((taken == wanted) | (taken == max_beats) | ~self.busy):
                    m.d.sync += [reply_len.eq(idx), idx.eq(0)]
                    m.next = "REPLY"
                with m.Elif(self.output.valid):
                    m.d.comb += self.output.ready.eq(1)
                    m.d.sync += [out_word.eq(Cat(*[_sign_extend(self.output.payload[k], ab)
                                                   for k in range(c.beat_lanes)])),
                                 taken.eq(taken + 1), beat_fill.eq(0)]
                    m.next = "STORE"
            with m.State("STORE"):
                m.d.comb += [a_wr.addr.eq(idx), a_wr.data.eq(out_word.word_select(beat_fill, 8)),
                             a_wr.en.eq(1)]
                m.d.sync += [idx.eq(idx + 1), beat_fill.eq(beat_fill + 1)]
                with m.If(beat_fill + 1 == sizes["beat"]):
                    m.next = "TAKE"

            # ---- the reply: sync, status, length, payload, CRC
            header = Cat(Const(DEVICE_SYNC, 8), status, reply_len)
            with m.State("REPLY"):
                m.d.sync += [crc.eq(0xFFFF), beat_fill.eq(0)]
                with m.If(status == Status.OK):
                    m.d.sync += frames_ok.eq(frames_ok + 1)
                with m.Else():
                    m.d.sync += frames_bad.eq(frames_bad + 1)
                m.next = "HEADER"
            with m.State("HEADER"):
                m.d.comb += [utx.i.payload.eq(header.word_select(beat_fill, 8)),
                             utx.i.valid.eq(1)]
                with m.If(utx.i.ready):
                    m.d.sync += beat_fill.eq(beat_fill + 1)
                    with m.If(beat_fill != 0):
                        m.d.sync += crc.eq(_crc_byte(crc, utx.i.payload))
                    with m.If(beat_fill == 3):
                        m.d.sync += beat_fill.eq(0)
                        m.next = "BODY_ADDR"
            with m.State("BODY_ADDR"):
                m.d.comb += a_rd.addr.eq(idx)
                with m.If(idx == reply_len):
                    m.next = "TRAILER"
                with m.Else():
                    m.next = "BODY"
            with m.State("BODY"):
                m.d.comb += [utx.i.payload.eq(a_rd.data), utx.i.valid.eq(1), a_rd.addr.eq(idx)]
                with m.If(utx.i.ready):
                    m.d.sync += [crc.eq(_crc_byte(crc, a_rd.data)), idx.eq(idx + 1)]
                    m.next = "BODY_ADDR"
            with m.State("TRAILER"):
                m.d.comb += [utx.i.payload.eq(crc.word_select(beat_fill, 8)),
                             utx.i.valid.eq(1)]
                with m.If(utx.i.ready):
                    m.d.sync += beat_fill.eq(beat_fill + 1)
                    with m.If(beat_fill == 1):
                        m.next = "SYNC"
        return m

    def _receive(self, m, name, byte, cmd, length, crc, idx, f_wr, refuse):
        """One received byte of a frame, in state ``name``."""
        if name == "CMD":
            m.d.sync += cmd.eq(byte)
            m.next = "LEN0"
        elif name == "LEN0":
            m.d.sync += length[:8].eq(byte)
            m.next = "LEN1"
        elif name == "LEN1":
            m.d.sync += [length[8:].eq(byte), idx.eq(0)]
            with m.If(Cat(length[:8], byte) > MAX_PAYLOAD):
                m.d.sync += refuse(Status.BAD_LENGTH)
                m.next = "REPLY"
            with m.Elif(Cat(length[:8], byte) == 0):
                m.next = "CRC0"
            with m.Else():
                m.next = "PAYLOAD"
        elif name == "PAYLOAD":
            m.d.comb += [f_wr.addr.eq(idx), f_wr.data.eq(byte), f_wr.en.eq(1)]
            m.d.sync += idx.eq(idx + 1)
            with m.If(idx + 1 == length):
                m.next = "CRC0"
        elif name == "CRC0":
            m.d.sync += crc.eq(crc ^ byte)
            m.next = "CRC1"
        else:
            with m.If((crc[:8] == 0) & (crc[8:] == byte)):
                m.next = "EXEC"
            with m.Else():
                m.d.sync += refuse(Status.BAD_CRC)
                m.next = "REPLY"
