"""EIE's activation write: accumulator plus bias, requantized, ReLU."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..memory import address_bits, load_layout
from .layouts import layer_config_layout, loadable_memory

__all__ = ["WriteBack"]


class WriteBack(wiring.Component):
    """Turns a row's accumulator into the next layer's activation.

    ``acc + bias``, shifted right by the layer's ``shift`` with round half
    up, saturated to ``act_bits`` and, for ReLU layers, clamped at zero
    (``docs/numerics.md``). Five register stages (the operands, sum, coarse
    shift, round, saturate) so no path holds more than one long carry chain.

    Parameters
    ----------
    config : hw.eie.config.EieConfig
    index : int
        The PE's number (its load beats).
    image : sw.flows.eie_image.EieImage, optional

    Ports
    -----
    row, start, keep : In
        Begin row ``row``: its bias is read now; its accumulator value must be
        on ``acc`` the next cycle. A row without ``keep`` (past the layer's
        last row) gives 0.
    acc : In(signed(accumulator_bits))
    layer : In(layer_config_layout)
    result, done, nonzero : Out
        The activation, six cycles after ``start``, and whether it is non-zero
        (registered with it, so the engine's non-zero flags need no
        comparison of the result).
    load : In(stream) of ``load_layout`` (writes ``bias``)

    Throughput one row a cycle.
    """

    def __init__(self, config, index, image=None):
        self._c, self._index, self._image = config, index, image
        super().__init__({
            "row": In(address_bits(config.rows_per_pe)),
            "start": In(1),
            "keep": In(1),
            "acc": In(signed(config.accumulator_bits)),
            "layer": In(layer_config_layout(config)),
            "result": Out(signed(config.act_bits)),
            "done": Out(1),
            "nonzero": Out(1),
            "load": In(stream.Signature(load_layout(config), always_ready=True)),
        })

    def elaborate(self, platform):
        c = self._c
        m = Module()
        acc_bits = c.accumulator_bits
        rd_bias = loadable_memory(m, "bias", signed(c.bias_bits), c.bias_depth, self.load,
                                  self._index, self._image)
        m.d.comb += rd_bias.addr.eq(self.layer.bias_base + self.row)

        # The accumulator and the bias are registered as they arrive (the
        # bias memory's output is slow), then summed.
        w1_valid = Signal()
        m.d.sync += w1_valid.eq(self.start)
        # Whether the row is kept rides along, one flag a stage.
        keep = [Signal(name=f"keep{k}") for k in range(5)]
        m.d.sync += [keep[0].eq(self.keep), *(keep[k + 1].eq(keep[k]) for k in range(4))]
        acc = Signal.like(self.acc)
        bias_value = Signal.like(rd_bias.data)
        w0_valid = Signal()
        m.d.sync += [acc.eq(self.acc), bias_value.eq(rd_bias.data), w0_valid.eq(w1_valid)]
        total = Signal(signed(acc_bits + 1))
        w2_valid = Signal()
        m.d.sync += [total.eq(acc + bias_value), w2_valid.eq(w0_valid)]
        # Round half up with one barrel shifter: floor((x + 2**(s-1)) / 2**s)
        # equals ((x >> (s - 1)) + 1) >> 1 for s >= 1 (docs/numerics.md).
        coarse = Signal(signed(acc_bits + 1))
        w3_valid = Signal()
        m.d.sync += [coarse.eq(total >> self.layer.coarse_shift), w3_valid.eq(w2_valid)]
        rounded = Signal(signed(acc_bits + 2))
        w4_valid = Signal()
        m.d.sync += [rounded.eq(Mux(self.layer.round, (coarse + 1) >> 1, coarse)),
                     w4_valid.eq(w3_valid)]
        # Saturate by the bits above the result's sign rather than with two
        # more carry chains: over the top when the value is non-negative and
        # any of them is set, under the bottom when negative and not all are
        # (or, with ReLU, when negative at all).
        top = rounded[c.act_bits - 1:]
        sign = rounded[-1]
        hi = (1 << (c.act_bits - 1)) - 1
        lo = -(1 << (c.act_bits - 1))
        with m.If(~keep[4]):
            m.d.sync += [self.result.eq(0), self.nonzero.eq(0)]
        with m.Elif(~sign & top.any()):
            m.d.sync += [self.result.eq(hi), self.nonzero.eq(1)]
        with m.Elif(sign & (self.layer.relu | ~top.all())):
            m.d.sync += [self.result.eq(Mux(self.layer.relu, 0, lo)),
                         self.nonzero.eq(~self.layer.relu)]
        with m.Else():
            m.d.sync += [self.result.eq(rounded),
                         self.nonzero.eq(rounded[:c.act_bits] != 0)]
        m.d.sync += self.done.eq(w4_valid)
        return m
