"""What the four units of an EIE processing element share: their constructor,
their load port and memories, and the naming and counting of their stages."""

from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..memory import load_layout, merge_answers, readback_layout
from ..pipeline import Pipelined
from .layouts import loadable_memory

__all__ = ["PeUnit"]


class PeUnit(Pipelined, wiring.Component):
    """Base of ``PointerRead``, ``SparseMatrixRead``, ``ArithmeticUnit`` and ``WriteBack``.

    Each unit is built for one PE of one engine: the configuration, the
    PE's number (which load beats write its memories) and optionally the
    contents to bake in. Its stages are named ``{stage_prefix}{k}``, ``k``
    from 1 in the order data flows (signals ``p1_valid``, ``s2_slot``, ...),
    and counted: ``latency`` is their number on the unit's path.

    Parameters
    ----------
    config : hw.eie.config.EieConfig
    index : int
        The PE's number (its load beats).
    image : sw.flows.eie_image.EieImage, optional
        Memory contents to bake in.
    ports : dict
        The unit's own ports; ``load`` is added.

    Ports
    -----
    load : In(stream) of ``load_layout``, always ready
        Writes the unit's memories (``memory``), or reads them back.
    readback : Out(readback_layout)
        Their answers to read beats (``answer_reads``), two cycles after the
        beat (``hw.memory.read_back``).
    """

    def __init__(self, config, index, image, ports):
        self._c, self._index, self._image = config, index, image
        super().__init__({**ports,
                          "load": In(stream.Signature(load_layout(config), always_ready=True)),
                          "readback": Out(readback_layout(config))})

    @property
    def config(self):
        """The engine's ``EieConfig``."""
        return self._c

    @property
    def index(self):
        """The PE's number."""
        return self._index

    @property
    def image(self):
        """The baked-in memory contents, or ``None``."""
        return self._image

    def memory(self, m, name, shape, depth, spram=False):
        """The unit's memory ``name``, written by ``load``: its datapath read port,
        and its answer to read beats, for ``answer_reads``."""
        return loadable_memory(m, name, shape, depth, self.load, self._index, self._image,
                               spram=spram)

    def answer_reads(self, m, *answers):
        """Drive ``readback`` with the answers of the unit's memories."""
        merge_answers(m, self.readback, answers)
