"""What every engine behind the host link offers: the same ports, so the link,
the driver and the cocotb bench serve the EIE engine and the dense engine alike."""

from amaranth.hdl import signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .memory import address_bits, load_layout

__all__ = ["Engine"]


class Engine(wiring.Component):
    """Base of the engines: ``config`` validated, ``image`` baked in or None.

    Ports
    -----
    load : In(stream) of ``{mem, pe, addr, data}``
        Memory writes, taken only while idle.
    input : In(stream) of ``config.beat_lanes x signed(act_bits)``
        The first layer's activations; the beat that completes the vector
        starts the network.
    output : Out(stream), the same layout
        The last layer's outputs.
    layer : Out
        The layer running, the layer count while the outputs stream out, 0
        when idle (it marks layer boundaries for cycle counts).
    busy : Out(1)
        High from the start until the last output beat is taken.
    """

    def __init__(self, config, image=None):
        self._c = config.validate()
        self._image = image
        lanes = data.ArrayLayout(signed(self._c.act_bits), self._c.beat_lanes)
        super().__init__({
            "load": In(stream.Signature(load_layout(self._c))),
            "input": In(stream.Signature(lanes)),
            "output": Out(stream.Signature(lanes)),
            "layer": Out(address_bits(self._c.max_layers + 1)),
            "busy": Out(1),
        })

    @property
    def config(self):
        return self._c

    @property
    def baked_image(self):
        """The memory images baked in, or None (loaded at run time)."""
        return self._image
