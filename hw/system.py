"""What a board runs: an engine (EIE, or the dense MAC-array engine) behind the host link."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from .dense_engine import DenseEngine
from .eie import EieEngine
from .link import HostLink
from .uart import UartRx, UartTx
from .dense_config import DenseConfig

__all__ = ["EieSystem", "SimulatedBoard"]


class EieSystem(wiring.Component):
    """An engine and its host link, on two serial pins.

    Parameters
    ----------
    config : hw.eie.config.EieConfig or hw.dense_config.DenseConfig
        The EIE engine's, or the dense engine's (the MAC array).
    divisor : int
        Clock cycles per UART bit.
    image : sw.flows.eie_image.EieImage or sw.flows.dense_image.DenseImage, optional
        A model baked into the memories (otherwise loaded through the link).
    timeout_bits : int
        Quiet bit times inside a frame after which the link gives it up
        (``hw.link.HostLink``).

    Ports
    -----
    rx : In(1), tx : Out(1)
        The serial line to the host (``sw.spec.protocol``).
    """

    rx: In(1, init=1)
    tx: Out(1, init=1)

    def __init__(self, config, divisor, image=None, timeout_bits=64):
        engine = DenseEngine if isinstance(config, DenseConfig) else EieEngine
        self.engine = engine(config, image)
        self.link = HostLink(self.engine.config, divisor, timeout_bits)
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.engine = engine = self.engine
        m.submodules.link = link = self.link
        wiring.connect(m, link.load, engine.load)
        wiring.connect(m, link.input, engine.input)
        wiring.connect(m, engine.output, link.output)
        m.d.comb += [link.busy.eq(engine.busy), link.readback.eq(engine.readback),
                     link.rx.eq(self.rx), self.tx.eq(link.tx)]
        return m


class SimulatedBoard(wiring.Component):
    """A board in simulation: the system and the far end of its serial cable.

    The host's side of the cable (a USB-serial chip on a real board) is a
    UART too, so a testbench exchanges bytes, not bit times, while the
    system's own UART runs bit for bit.

    Ports
    -----
    host_tx : In(stream) of bytes
        Bytes the host sends (buffered, so a testbench hands over a frame at
        once and the cable sends it at line rate).
    host_rx : Out(stream) of bytes
        Bytes the host receives (buffered, so a slow testbench loses none).
    """

    host_tx: In(stream.Signature(8))
    host_rx: Out(stream.Signature(8))

    def __init__(self, config, divisor, image=None):
        self.system = EieSystem(config, divisor, image)
        self._divisor = divisor
        super().__init__()

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = system = self.system
        m.submodules.cable_tx = cable_tx = UartTx(self._divisor)
        m.submodules.cable_rx = cable_rx = UartRx(self._divisor)
        m.submodules.buffer = buffer = SyncFIFO(width=8, depth=1024)
        m.submodules.sending = sending = SyncFIFO(width=8, depth=1024)
        wiring.connect(m, wiring.flipped(self.host_tx), sending.w_stream)
        wiring.connect(m, sending.r_stream, cable_tx.i)
        wiring.connect(m, cable_rx.o, buffer.w_stream)
        wiring.connect(m, buffer.r_stream, wiring.flipped(self.host_rx))
        m.d.comb += [system.rx.eq(cable_tx.tx), cable_rx.rx.eq(system.tx)]
        return m
