"""What every engine behind the host link offers: the same ports, so the link,
the driver and the cocotb bench serve the EIE engine and the dense engine alike."""

from amaranth.hdl import signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .memory import address_bits, load_layout, readback_layout

__all__ = ["Engine", "end_layer", "offer_outputs"]


class Engine(wiring.Component):
    """Base of the engines: ``config`` validated, ``image`` baked in or None.

    Ports
    -----
    load : In(stream) of ``hw.memory.load_layout``
        Memory writes, or reads (``read``), taken only while idle.
    readback : Out(hw.memory.readback_layout)
        The word a read beat asks for, a few cycles after it (none for a
        memory, PE or address the engine lacks).
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
            "readback": Out(readback_layout(self._c)),
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


def end_layer(m, *, src, layer, last, out_count, out_pending, outputs):
    """In an engine's FSM, as a layer's last result is written: the buffers
    swap (``src``), the layer count moves on, and the next layer starts
    (state ``START``) or, after the last layer (``last``), the outputs are
    read out from the first word (state ``outputs``, then ``offer_outputs``).
    """
    m.d.sync += [src.eq(~src), layer.eq(layer + 1)]
    with m.If(last):
        m.d.sync += [out_count.eq(0), out_pending.eq(0)]
        m.next = outputs
    with m.Else():
        m.next = "START"


def offer_outputs(m, output, word, *, out_count, out_pending, finished, done):
    """In an engine's FSM, the state that sends the outputs: ``word`` of the
    buffer, read at ``out_count`` (by the caller), shows the cycle after its
    address, so a word is read one cycle (``out_pending`` low) and offered on
    ``output`` from the next until taken: a beat every two cycles. After the
    beat that makes ``finished`` (an expression in ``out_count``) true, the
    statements ``done`` run and the engine is idle (state ``IDLE``).
    """
    m.d.comb += [output.payload.eq(word), output.valid.eq(out_pending)]
    with m.If(~out_pending):
        m.d.sync += out_pending.eq(1)
    with m.Elif(output.ready):
        m.d.sync += [out_pending.eq(0), out_count.eq(out_count + 1)]
        with m.If(finished):
            m.d.sync += done
            m.next = "IDLE"
