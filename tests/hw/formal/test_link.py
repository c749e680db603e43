"""Proofs of the host link's turn-taking (hw.link): every frame gets
exactly one reply, and no byte of a frame refused reaches the engine.

The receiver, the dispatcher and the replier are wired as ``HostLink``
wires them, behind free bytes (the UART and its FIFO deliver bytes at
will), a free serial side (``ready``), a free engine (``busy``, outputs,
read-back) and free buffer contents: the frame and answer buffers' words
are left to the solver, which covers every payload, so only the control is
proven, for any frame. Bounded, from power-on (Yosys's SAT solver): the
turns for ``LINK_BOUND`` cycles, a whole frame and its reply and the next
frame's outcome; the engine side on the dispatcher alone, given an outcome
at any cycle, for ``DISPATCH_BOUND`` cycles, time for the first load or
input beat of a frame.
"""

from amaranth.hdl import Assert, Assume, Module, ResetSignal, Signal
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.eie.config import EieConfig
from hw.link.dispatcher import Dispatcher
from hw.link.receiver import FrameReceiver
from hw.link.replier import Replier
from hw.memory import readback_layout
from sw.flows.formal import prove
from sw.spec.protocol import Status

CONFIG = EieConfig(pes=1, act_bits=2, max_cols=4, max_layers=1, rows_per_pe=2, nnz_depth=4,
                   ptr_depth=4, bias_depth=1, entries_per_word=1)
#: A header-only frame refused (six bytes, its outcome in the sixth cycle),
#: its reply sent (eight cycles), and the next frame's outcome (a bad
#: length, four bytes in): 18 cycles.
LINK_BOUND = 18
#: Room for an outcome and the first load or input beat a frame can give
#: (its header bytes read, two cycles each, and the beat offered).
DISPATCH_BOUND = 22


class LinkSpec(wiring.Component):
    """The link's three parts and the turns they must keep: receiving, then
    one reply asked for, then that reply sent, then receiving again."""

    def __init__(self):
        lanes = data.ArrayLayout(CONFIG.act_bits, CONFIG.beat_lanes)
        super().__init__({
            "bytes": In(stream.Signature(8)),
            "tx_ready": In(1),
            "frame_data": In(8), "answer_data": In(8),
            "busy": In(1),
            "output": In(stream.Signature(lanes)),
            "readback": In(readback_layout(CONFIG)),
            "load_ready": In(1), "input_ready": In(1),
            "tx": Out(stream.Signature(8)),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += Assume(~ResetSignal())  # from power-on
        m.submodules.receiver = rx = FrameReceiver(timeout=4)
        m.submodules.dispatcher = disp = Dispatcher(CONFIG, 4, 16)
        m.submodules.replier = reply = Replier()
        # As hw.link.host_link wires them, the buffers' words left free.
        wiring.connect(m, wiring.flipped(self.bytes), rx.bytes)
        wiring.connect(m, rx.frame, disp.frame)
        m.d.comb += [disp.cmd.eq(rx.cmd), disp.length.eq(rx.length),
                     reply.start.eq(disp.reply), reply.status.eq(disp.status),
                     reply.length.eq(disp.reply_len), rx.resume.eq(reply.done),
                     disp.frames_ok.eq(reply.frames_ok), disp.frames_bad.eq(reply.frames_bad),
                     disp.frame_data.eq(self.frame_data), reply.answer_data.eq(self.answer_data),
                     disp.busy.eq(self.busy), disp.readback.eq(self.readback),
                     disp.load.ready.eq(self.load_ready), disp.input.ready.eq(self.input_ready)]
        wiring.connect(m, wiring.flipped(self.output), disp.output)
        wiring.connect(m, reply.bytes, wiring.flipped(self.tx))

        # The turns: 0 receiving, 1 carrying out (a frame's outcome given),
        # 2 replying (the reply asked for).
        turn = Signal(2)
        outcome = rx.frame.valid
        with m.If(outcome):
            m.d.sync += turn.eq(1)
        with m.If(disp.reply):
            m.d.sync += turn.eq(2)
        with m.If(reply.done):
            m.d.sync += turn.eq(0)
        m.d.comb += [
            Assert(~outcome | (turn == 0), "a frame's outcome before the last reply was sent"),
            Assert(~disp.reply | ((turn == 1) | outcome), "a reply asked for without a frame"),
            Assert(~reply.done | (turn == 2), "a reply sent that was not asked for"),
            Assert(~rx.bytes.ready | (turn == 0), "bytes taken while a frame is carried out"),
        ]
        # A frame the receiver refused is answered at once.
        with m.If(outcome & (rx.frame.payload.status != Status.OK)):
            m.d.comb += Assert(disp.reply, "a refused frame not answered at once")
        return m


def engine_only_when_checked(m, disp, outcome, status):
    """Assert nothing reaches the engine (load or input beats) but between an
    OK outcome and its reply: no byte of a frame refused, or of no frame."""
    checked = Signal()  # an OK frame is being carried out
    with m.If(outcome):
        m.d.sync += checked.eq(status == Status.OK)
    with m.If(disp.reply):
        m.d.sync += checked.eq(0)
    m.d.comb += Assert(~(disp.load.valid | disp.input.valid) | checked,
                       "a frame's bytes reached the engine outside its checked turn")


class DispatcherSpec(wiring.Component):
    """The dispatcher alone, given a free outcome at any time the receiver
    may give one (not while a frame is carried out), free frame bytes and a
    free engine: nothing reaches the engine outside an OK frame's turn."""

    def __init__(self):
        lanes = data.ArrayLayout(CONFIG.act_bits, CONFIG.beat_lanes)
        super().__init__({
            "frame": In(stream.Signature(data.StructLayout({"status": 8}))),
            "cmd": In(8), "length": In(16), "frame_data": In(8),
            "busy": In(1),
            "output": In(stream.Signature(lanes)),
            "readback": In(readback_layout(CONFIG)),
            "load_ready": In(1), "input_ready": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        m.d.comb += Assume(~ResetSignal())
        m.submodules.dispatcher = disp = Dispatcher(CONFIG, 4, 16)
        busy_turn = Signal()  # an outcome given and not yet answered
        with m.If(self.frame.valid):
            m.d.sync += busy_turn.eq(1)
        with m.If(disp.reply):
            m.d.sync += busy_turn.eq(0)
        m.d.comb += Assume(~self.frame.valid | ~busy_turn)
        # The receiver holds cmd and length through the turn.
        held = Signal(24)
        with m.If(self.frame.valid):
            m.d.sync += held.eq(self.cmd | self.length << 8)
        with m.If(busy_turn):
            m.d.comb += Assume((self.cmd | self.length << 8) == held)
        m.d.comb += [disp.frame.valid.eq(self.frame.valid), disp.frame.payload.eq(self.frame.payload),
                     disp.cmd.eq(self.cmd), disp.length.eq(self.length),
                     disp.frame_data.eq(self.frame_data), disp.busy.eq(self.busy),
                     disp.readback.eq(self.readback),
                     disp.load.ready.eq(self.load_ready), disp.input.ready.eq(self.input_ready)]
        wiring.connect(m, wiring.flipped(self.output), disp.output)
        engine_only_when_checked(m, disp, self.frame.valid, self.frame.payload.status)
        return m


def test_one_reply_per_frame(tmp_path):
    prove(LinkSpec(), tmp_path, depth=LINK_BOUND, mode="bmc", engine="sat")


def test_no_byte_of_a_refused_frame_reaches_the_engine(tmp_path):
    prove(DispatcherSpec(), tmp_path, depth=DISPATCH_BOUND, mode="bmc", engine="sat")
