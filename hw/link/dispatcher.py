"""The host link's dispatcher: a checked frame's command carried out on the
engine, its reply's payload written into the answer buffer."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.spec.protocol import MAX_PAYLOAD, RX_FIFO, VERSION, Command, Encoding, Status

from ..memory import load_layout, readback_layout
from .framing import link_sizes

__all__ = ["Dispatcher"]

#: What INFER's next frame byte is: the sequence number, the encoding, a run's
#: zeros or count, or a byte of a value.
_SEQ, _ENC, _ZEROS, _COUNT, _VALUE = range(5)
#: Cycles an engine has to turn busy after the beat that completes its input.
_SETTLE = 3
#: Cycles a read beat's answer may take (``hw.memory.readback_layout``);
#: none by then means no such memory.
_READ_WAIT = 15


def _sign_extend(value, bits):
    return Cat(value, *([value[-1]] * (bits - len(value))))


class Dispatcher(wiring.Component):
    """Carries out one frame's command, then has the reply sent.

    INFO and STATUS copy a fixed payload (docs/formats.md, little-endian
    fields) into the answer buffer. INFER reads the frame buffer a byte at a
    time, decodes the input in its encoding (dense, unsigned bytes, or runs
    of zeros and values) into beats offered to the engine, the last one
    completed with zeros, then takes the engine's outputs, sign-extended to
    whole bytes, into the answer buffer after the frame's sequence number.
    An input that ends before the engine starts, or goes on after it has, is
    refused (BAD_LENGTH): the engine is given zero beats until it starts and
    its outputs are dropped, so no part of a refused input is left for the
    next one and no command waits on the engine for ever. LOAD_BURST offers a load beat
    for each data word, at consecutive addresses after its header; READ
    offers read beats at consecutive addresses and stores each answer's
    bytes, refusing (BAD_ADDRESS) a word no memory answers. All three are
    refused (BUSY) while the engine runs. Anything else is refused
    (UNKNOWN_COMMAND); a frame the receiver gave up on is refused with its
    reason.

    It also watches the engine: the cycles from its start to its first
    output (for STATUS), and whether it offers outputs (from the first one
    until it is idle).

    Parameters
    ----------
    config : hw.eie.config.EieConfig or hw.dense_config.DenseConfig
        The engine behind the link (``beat_lanes``, ``act_bits``,
        ``load_data_bits``, ``max_cols``, ``max_layers``).

    Ports
    -----
    frame : In(stream) of ``{status}``, always ready
        The receiver's outcome (``hw.link.receiver.FrameReceiver``).
    cmd, length : In
        The frame's, held by the receiver until the reply is sent.
    frame_addr : Out, frame_data : In
        The frame buffer's read port (data the cycle after the address).
    answer_addr, answer_data, answer_en : Out
        The answer buffer's write port.
    status, reply_len : Out
        The reply's status and payload length (registers, held from
        ``reply`` until the next frame).
    reply : Out(1)
        A one-cycle pulse: send the reply.
    frames_ok, frames_bad : In(16)
        The replier's counts, for STATUS.
    load, input : Out(stream); output : In(stream); readback, busy : In
        To and from the engine (``hw.engine.Engine``).

    divisor, rx_fifo : int
        The UART's cycles a bit and the receive FIFO's bytes, for INFO.

    Latency: a refusal's reply is asked for in the cycle of the frame's
    outcome; a command starts the next cycle and takes two cycles a frame
    byte (its read, then its use), plus a cycle an activation decoded (a
    zero of a run included) and a cycle a beat offered, and the engine's
    wait for it; a fixed payload takes a cycle a byte, an output beat one
    cycle to take and one a byte to store; a word READ reads, a cycle to
    offer its beat, the engine's answer (five cycles for the EIE engine,
    ``hw.memory.read_back``) and a cycle a byte to store.
    """

    def __init__(self, config, divisor=0, rx_fifo=RX_FIFO):
        self._c = config
        self._divisor = divisor
        self._rx_fifo = rx_fifo
        lanes = data.ArrayLayout(signed(config.act_bits), config.beat_lanes)
        super().__init__({
            "frame": In(stream.Signature(data.StructLayout({"status": 8}), always_ready=True)),
            "cmd": In(8),
            "length": In(16),
            "frame_addr": Out(16),
            "frame_data": In(8),
            "answer_addr": Out(16),
            "answer_data": Out(8),
            "answer_en": Out(1),
            "status": Out(8),
            "reply_len": Out(16),
            "reply": Out(1),
            "frames_ok": In(16),
            "frames_bad": In(16),
            "load": Out(stream.Signature(load_layout(config))),
            "input": Out(stream.Signature(lanes)),
            "output": In(stream.Signature(lanes)),
            "readback": In(readback_layout(config)),
            "busy": In(1),
        })

    def elaborate(self, platform):
        c = self._c
        m = Module()
        sizes = link_sizes(c)
        cmd, length, status, reply_len = self.cmd, self.length, self.status, self.reply_len
        idx = Signal(16)  # the payload byte being read or stored

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
        encodings = sum(1 << e for e in Encoding.ALL)
        info = Cat(Const(VERSION, 8), Const(c.beat_lanes, 8), Const(c.act_bits, 8),
                   Const(sizes["act"], 8), Const(sizes["load"], 8), Const(c.max_cols, 16),
                   Const(c.max_layers, 8), Const(MAX_PAYLOAD, 16), Const(self._divisor, 16),
                   Const(self._rx_fifo, 16), Const(encodings, 8))
        state = Cat(self.busy, Const(0, 7), last_cycles, self.frames_ok, self.frames_bad)
        fixed = {Command.INFO: info, Command.STATUS: state}

        # ---- load beats gathered from the frame a byte at a time, little-endian;
        # input beats decoded into a register of their own
        beat_bits = 8 * sizes["load"]
        beat = Signal(beat_bits)
        beat_fill = Signal(range(max(beat_bits, 8 * sizes["beat"]) // 8 + 1))
        ab = 8 * sizes["act"]
        ibeat = Signal(c.beat_lanes * ab)
        m.d.comb += [self.load.payload.mem.eq(beat[0:8]), self.load.payload.pe.eq(beat[8:16]),
                     self.load.payload.addr.eq(beat[16:40]),
                     self.load.payload.data.eq(beat[40:])]
        for k in range(c.beat_lanes):
            m.d.comb += self.input.payload[k].eq(ibeat[k * ab:k * ab + c.act_bits])
        out_word = Signal(8 * sizes["beat"])
        # READ: words still to read, cycles waited for an answer, the answer.
        data_bytes = sizes["load"] - 5
        words, wait = Signal(16), Signal(range(_READ_WAIT + 1))
        read_word = Signal(8 * data_bytes)
        # INFER's decoder: the frame's sequence number and encoding, what the
        # next byte is (phase), the current run's zeros and values still to
        # come, the value being gathered, and the beat's next lane.
        seq, enc, phase = Signal(8), Signal(8), Signal(range(5))
        zeros, count = Signal(8), Signal(8)
        value, vfill = Signal(ab), Signal(range(sizes["act"] + 1))
        vbytes = Mux(enc == Encoding.RUNS_BYTES, 1, sizes["act"])
        lane = Signal(range(c.beat_lanes + 1))
        ending = Signal()  # the input is read: complete the beat, then run
        settle = Signal(range(_SETTLE + 1))
        short = Signal()  # the input ended before the engine started
        taken = Signal(16)

        def reply(code=None):
            """Have the reply sent (refusing with ``code``, if given)."""
            if code is not None:
                m.d.sync += [status.eq(code), reply_len.eq(0)]
            m.d.comb += self.reply.eq(1)
            m.next = "IDLE"

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.frame.valid):
                    with m.If(self.frame.payload.status == Status.OK):
                        m.next = "EXEC"
                    with m.Else():
                        reply(self.frame.payload.status)

            with m.State("EXEC"):
                m.d.sync += [idx.eq(0), beat_fill.eq(0), status.eq(Status.OK),
                             reply_len.eq(0)]
                with m.Switch(cmd):
                    for code, payload in fixed.items():
                        with m.Case(code):
                            m.d.sync += reply_len.eq(len(payload) // 8)
                            m.next = "FIXED"
                    with m.Case(Command.INFER):
                        with m.If(self.busy):
                            reply(Status.BUSY)
                        with m.Elif(length < 2):
                            reply(Status.BAD_LENGTH)
                        with m.Else():
                            m.d.sync += [phase.eq(_SEQ), lane.eq(0), vfill.eq(0), short.eq(0),
                                         ending.eq(0)]
                            m.next = "I_READ"
                    with m.Case(Command.LOAD_BURST, Command.READ):
                        with m.If(self.busy):
                            reply(Status.BUSY)
                        with m.Elif(Mux(cmd == Command.READ, length != 8, length < 6)):
                            reply(Status.BAD_LENGTH)
                        with m.Else():
                            m.next = "B_READ"
                    with m.Default():
                        reply(Status.UNKNOWN_COMMAND)

            with m.State("FIXED"):
                # Copy the fixed payload into the answer buffer.
                payload = Mux(cmd == Command.INFO, info, state)
                m.d.comb += [self.answer_addr.eq(idx),
                             self.answer_data.eq(payload.word_select(idx[:4], 8)),
                             self.answer_en.eq(1)]
                m.d.sync += idx.eq(idx + 1)
                with m.If(idx + 1 == reply_len):
                    m.d.sync += idx.eq(0)
                    reply()

            with m.State("TAKE"):
                # The engine offers its outputs until the last is taken, then
                # falls idle. INFER's sequence number takes a byte of the buffer.
                max_beats = (MAX_PAYLOAD - 1) // sizes["beat"]
                with m.If((taken == max_beats) | ~self.busy):
                    m.d.sync += [reply_len.eq(idx), idx.eq(0)]
                    reply()
                with m.Elif(self.output.valid):
                    m.d.comb += self.output.ready.eq(1)
                    m.d.sync += [out_word.eq(Cat(*[_sign_extend(self.output.payload[k], ab)
                                                   for k in range(c.beat_lanes)])),
                                 taken.eq(taken + 1), beat_fill.eq(0)]
                    m.next = "STORE"
            # ---- INFER: the input decoded into beats, then the outputs taken.
            # Byte k of the frame is read in I_READ (address) and I_BYTE (data).
            with m.State("I_READ"):
                m.d.comb += self.frame_addr.eq(idx)
                with m.If(idx == length):
                    # A last beat the input left partial is completed with zeros.
                    m.d.sync += [zeros.eq(Mux(lane == 0, 0, c.beat_lanes - lane)),
                                 count.eq(0), ending.eq(1), settle.eq(0)]
                    m.next = "I_NEXT"
                with m.Else():
                    m.next = "I_BYTE"
            with m.State("I_BYTE"):
                byte = self.frame_data
                m.d.sync += idx.eq(idx + 1)
                m.next = "I_READ"
                with m.Switch(phase):
                    with m.Case(_SEQ):
                        m.d.sync += [seq.eq(byte), phase.eq(_ENC)]
                    with m.Case(_ENC):
                        m.d.sync += [enc.eq(byte), phase.eq(_ZEROS)]
                        with m.If(byte > max(Encoding.ALL)):
                            reply(Status.BAD_ENCODING)
                    with m.Case(_ZEROS):
                        m.d.sync += [zeros.eq(byte), phase.eq(_COUNT)]
                    with m.Case(_COUNT):
                        m.d.sync += count.eq(byte)
                        m.next = "I_NEXT"
                    with m.Case(_VALUE):
                        m.d.sync += [value.word_select(vfill, 8).eq(byte), vfill.eq(vfill + 1)]
                        with m.If(vfill + 1 == vbytes):
                            m.d.sync += vfill.eq(0)
                            m.next = "I_EMIT"
            with m.State("I_NEXT"):
                # A run's zeros first, then its values (read, then emitted), then
                # the next run; at the end, the zeros that complete the beat.
                with m.If(zeros != 0):
                    m.next = "I_EMIT"
                with m.Elif(ending):
                    m.next = "I_RUN"
                with m.Elif(count != 0):
                    m.d.sync += phase.eq(_VALUE)
                    m.next = "I_READ"
                with m.Else():
                    m.d.sync += phase.eq(_ZEROS)
                    m.next = "I_READ"
            with m.State("I_EMIT"):
                # One activation into the beat: a zero of the run, or its value
                # (an unsigned byte zero-extended, or act_bytes as they are).
                m.d.sync += [ibeat.word_select(lane, ab).eq(
                                 Mux(zeros != 0, 0, Mux(vbytes == 1, value[:8], value[:ab]))),
                             lane.eq(lane + 1)]
                with m.If(zeros != 0):
                    m.d.sync += zeros.eq(zeros - 1)
                with m.Else():
                    m.d.sync += count.eq(count - 1)
                with m.If(lane + 1 == c.beat_lanes):
                    m.next = "I_OFFER"
                with m.Else():
                    m.next = "I_NEXT"
            with m.State("I_OFFER"):
                m.d.comb += self.input.valid.eq(~self.busy)
                with m.If(self.busy):
                    # The engine started before the input ended: too long.
                    m.next = "I_DRAIN"
                with m.Elif(self.input.ready):
                    m.d.sync += lane.eq(0)
                    m.next = "I_NEXT"
            with m.State("I_RUN"):
                # The reply starts with the frame's sequence number, then the
                # outputs as OUTPUT sends them, once the engine offers them. An
                # input too short to start the engine is refused, not waited on.
                m.d.sync += settle.eq(settle + 1)
                with m.If(~out_phase & ~self.busy & (settle == _SETTLE)):
                    # Too short to start the engine: zero beats until it starts,
                    # so that no part of this input is left for the next one.
                    m.d.sync += [short.eq(1), zeros.eq(c.beat_lanes), settle.eq(0)]
                    m.next = "I_EMIT"
                with m.Elif(out_phase & short):
                    m.next = "I_DRAIN"
                with m.Elif(out_phase):
                    m.d.comb += [self.answer_addr.eq(0), self.answer_data.eq(seq),
                                 self.answer_en.eq(1)]
                    m.d.sync += [idx.eq(1), taken.eq(0)]
                    m.next = "TAKE"

            with m.State("I_DRAIN"):
                # A refused input's inference: its outputs taken and dropped.
                m.d.comb += self.output.ready.eq(1)
                with m.If(~self.busy):
                    reply(Status.BAD_LENGTH)

            # ---- LOAD_BURST: the sequence number, one header, then data words
            # at consecutive addresses; the reply echoes the sequence number.
            # READ's frame is the same header, then its word count.
            with m.State("B_READ"):
                m.d.comb += self.frame_addr.eq(idx)
                with m.If((cmd == Command.READ) & (idx == 6)):
                    m.next = "R_COUNT"
                with m.Elif(idx == length):
                    m.d.sync += idx.eq(0)
                    with m.If(beat_fill == 5):
                        m.d.comb += [self.answer_addr.eq(0), self.answer_data.eq(seq),
                                     self.answer_en.eq(1)]
                        m.d.sync += reply_len.eq(1)
                        reply()
                    with m.Else():
                        reply(Status.BAD_LENGTH)  # a partial last word
                with m.Else():
                    m.next = "B_BYTE"
            with m.State("B_BYTE"):
                m.d.sync += idx.eq(idx + 1)
                m.next = "B_READ"
                with m.If(idx == 0):
                    m.d.sync += seq.eq(self.frame_data)
                with m.Else():
                    m.d.sync += [beat.word_select(beat_fill, 8).eq(self.frame_data),
                                 beat_fill.eq(beat_fill + 1)]
                    with m.If(beat_fill + 1 == sizes["load"]):
                        m.next = "B_OFFER"
            with m.State("B_OFFER"):
                m.d.comb += self.load.valid.eq(1)
                with m.If(self.load.ready):
                    # The next word goes to the next address, after the same header.
                    m.d.sync += [beat[16:40].eq(beat[16:40] + 1), beat_fill.eq(5)]
                    m.next = "B_READ"

            # ---- READ: a read beat a word, its answer's bytes stored after the
            # sequence number, the next address until the count is done.
            with m.State("R_COUNT"):
                # Bytes 6 and 7, the count, read as B_READ and B_BYTE read the
                # header: an address, then its data the next cycle.
                m.d.comb += self.frame_addr.eq(idx)
                m.d.sync += idx.eq(idx + 1)
                with m.If(idx == 7):
                    m.d.sync += words[:8].eq(self.frame_data)
                with m.If(idx == 8):
                    m.d.sync += [words[8:].eq(self.frame_data), idx.eq(1)]
                    m.d.comb += [self.answer_addr.eq(0), self.answer_data.eq(seq),
                                 self.answer_en.eq(1)]
                    m.next = "R_CHECK"
            with m.State("R_CHECK"):
                with m.If(words * data_bytes + 1 > MAX_PAYLOAD):
                    reply(Status.BAD_LENGTH)  # more than one reply holds
                with m.Elif(beat[3:8].any() | beat[14:16].any() | beat[36:40].any()):
                    reply(Status.BAD_ADDRESS)  # wider than the load beat's fields
                with m.Else():
                    m.next = "R_ASK"
            with m.State("R_ASK"):
                with m.If(words == 0):
                    m.d.sync += reply_len.eq(idx)
                    reply()
                with m.Else():
                    m.d.comb += [self.load.valid.eq(1), self.load.payload.read.eq(1)]
                    m.d.sync += wait.eq(0)
                    with m.If(self.load.ready):
                        m.next = "R_WAIT"
            with m.State("R_WAIT"):
                m.d.sync += wait.eq(wait + 1)
                with m.If(self.readback.valid):
                    m.d.sync += [read_word.eq(self.readback.payload), beat_fill.eq(0)]
                    m.next = "R_STORE"
                with m.Elif(wait == _READ_WAIT):
                    reply(Status.BAD_ADDRESS)
            with m.State("R_STORE"):
                m.d.comb += [self.answer_addr.eq(idx),
                             self.answer_data.eq(read_word.word_select(beat_fill, 8)),
                             self.answer_en.eq(1)]
                m.d.sync += [idx.eq(idx + 1), beat_fill.eq(beat_fill + 1)]
                with m.If(beat_fill + 1 == data_bytes):
                    m.d.sync += [words.eq(words - 1), beat[16:40].eq(beat[16:40] + 1)]
                    m.next = "R_ASK"

            with m.State("STORE"):
                m.d.comb += [self.answer_addr.eq(idx),
                             self.answer_data.eq(out_word.word_select(beat_fill, 8)),
                             self.answer_en.eq(1)]
                m.d.sync += [idx.eq(idx + 1), beat_fill.eq(beat_fill + 1)]
                with m.If(beat_fill + 1 == sizes["beat"]):
                    m.next = "TAKE"
        return m
