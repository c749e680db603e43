"""The host link: framed commands over a UART, in front of an engine."""

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from sw.spec.protocol import MAX_PAYLOAD, RX_FIFO

from ..memory import load_layout, readback_layout
from ..uart import UartRx, UartTx
from .byte_fifo import ByteFifo
from .dispatcher import Dispatcher
from .receiver import FrameReceiver
from .replier import Replier

__all__ = ["HostLink"]


class HostLink(wiring.Component):
    """Framed protocol (``sw.spec.protocol``, docs/formats.md) between a UART and the engine.

    A frame is received whole into a buffer and its CRC checked before any of
    it reaches the engine, so a corrupt frame changes nothing. Bytes wait in a
    receive FIFO (``RX_FIFO`` bytes) while a frame is carried out, so the
    host streams frames: INFER frames come back as results while the next
    inputs arrive. Every frame
    gets exactly one reply: its status, with a payload for INFO, STATUS,
    INFER, LOAD_BURST and READ. A frame whose line goes quiet for
    ``timeout_bits`` bit times is given up (TIMEOUT); bytes outside frames
    are skipped. Loads, reads and inputs are refused (BUSY) while the engine
    runs, so no command waits on the engine for ever.

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
    output : In(stream), readback : In
        From the engine's ports of the same names.
    busy : In(1)
        The engine's ``busy``.

    Throughput is the UART's, ``10 x divisor`` cycles a byte each way; the
    engine's cycles from start to its first output are counted for STATUS.

    Components
    ----------
    ::

        rx ─► UartRx ─► FIFO ─► FrameReceiver ─► frame buffer ─► Dispatcher ─► load, input
                                     ▲  │ outcome, cmd, length ──►│ ▲ │          ◄── output
                                     │  └─────────────────────────┘ │ └► answer buffer
                                     └──────── done ── Replier ◄────┘ reply   │
                                                         │ ◄──────────────────┘
        tx ◄─ UartTx ◄───────────────────────────────────┘

    ``hw.link.receiver.FrameReceiver`` (a frame whole and checked),
    ``hw.link.dispatcher.Dispatcher`` (its command on the engine, the reply's
    payload) and ``hw.link.replier.Replier`` (the reply frame). They take
    turns, so each hands over in the cycle it finishes.
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
            "readback": In(readback_layout(config)),
            "busy": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = UartRx(self._divisor)
        m.submodules.uart_tx = utx = UartTx(self._divisor)
        m.submodules.receiver = rx = FrameReceiver(self._timeout)
        m.submodules.dispatcher = disp = Dispatcher(self._c, self._divisor, RX_FIFO)
        # The host streams frames without waiting for replies: what arrives
        # while a frame is carried out waits here (sw.spec.protocol.RX_FIFO).
        m.submodules.rx_fifo = fifo = ByteFifo(RX_FIFO)
        m.submodules.replier = reply = Replier()
        m.d.comb += [urx.rx.eq(self.rx), self.tx.eq(utx.tx)]
        wiring.connect(m, urx.o, fifo.i)
        wiring.connect(m, fifo.o, rx.bytes)
        wiring.connect(m, reply.bytes, utx.i)

        frame = Memory(shape=unsigned(8), depth=MAX_PAYLOAD, init=[])
        answer = Memory(shape=unsigned(8), depth=MAX_PAYLOAD, init=[])
        m.submodules.frame, m.submodules.answer = frame, answer
        f_wr, f_rd = frame.write_port(), frame.read_port()
        a_wr, a_rd = answer.write_port(), answer.read_port()
        m.d.comb += [f_wr.addr.eq(rx.frame_addr), f_wr.data.eq(rx.frame_data),
                     f_wr.en.eq(rx.frame_en),
                     f_rd.addr.eq(disp.frame_addr), disp.frame_data.eq(f_rd.data),
                     a_wr.addr.eq(disp.answer_addr), a_wr.data.eq(disp.answer_data),
                     a_wr.en.eq(disp.answer_en),
                     a_rd.addr.eq(reply.answer_addr), reply.answer_data.eq(a_rd.data)]

        # Receiver, dispatcher and replier take turns: a frame's outcome, its
        # reply, and the end of the reply each hand over in the same cycle.
        wiring.connect(m, rx.frame, disp.frame)
        m.d.comb += [disp.cmd.eq(rx.cmd), disp.length.eq(rx.length),
                     reply.start.eq(disp.reply), reply.status.eq(disp.status),
                     reply.length.eq(disp.reply_len), rx.resume.eq(reply.done),
                     disp.frames_ok.eq(reply.frames_ok), disp.frames_bad.eq(reply.frames_bad)]

        wiring.connect(m, disp.load, wiring.flipped(self.load))
        wiring.connect(m, disp.input, wiring.flipped(self.input))
        wiring.connect(m, wiring.flipped(self.output), disp.output)
        m.d.comb += [disp.busy.eq(self.busy), disp.readback.eq(self.readback)]
        return m
