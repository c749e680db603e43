"""EIE's activation write: accumulator plus bias, requantized, ReLU."""

from amaranth.hdl import Module, signed
from amaranth.lib.wiring import In, Out

from ..memory import address_bits
from ..requantize import requantize_at_run_time
from .layouts import layer_config_layout
from .unit import PeUnit

__all__ = ["WriteBack"]


class WriteBack(PeUnit):
    """Turns a row's accumulator into the next layer's activation.

    ``acc + bias``, shifted right by the layer's ``shift`` with round half
    up, saturated to ``act_bits`` and, for ReLU layers, clamped at zero
    (``docs/numerics.md``, ``hw.requantize.requantize_at_run_time``). Six
    register stages, ``w1`` to ``w6`` (the request, the operands, sum, coarse
    shift, round, saturate) so no path holds more than one long carry chain.

    Parameters
    ----------
    config, index, image
        As ``PeUnit``; ``image`` bakes in the biases.

    Ports
    -----
    row, start, keep : In
        Begin row ``row``: its bias is read now; its accumulator value must be
        on ``acc`` the next cycle. A row without ``keep`` (past the layer's
        last row) gives 0.
    acc : In(signed(accumulator_bits))
    layer : In(layer_config_layout)
    result, done, nonzero : Out
        The activation, ``latency`` (six) cycles after ``start``, and
        whether it is non-zero (registered with it, so the engine's non-zero
        flags need no comparison of the result).
    load : In(stream) of ``load_layout`` (writes ``bias``)

    Throughput one row a cycle.
    """

    stage_prefix = "w"

    def __init__(self, config, index, image=None):
        super().__init__(config, index, image, {
            "row": In(address_bits(config.rows_per_pe)),
            "start": In(1),
            "keep": In(1),
            "acc": In(signed(config.accumulator_bits)),
            "layer": In(layer_config_layout(config)),
            "result": Out(signed(config.act_bits)),
            "done": Out(1),
            "nonzero": Out(1),
        })

    def build(self, platform, path):
        c = self._c
        m = Module()
        acc_bits = c.accumulator_bits
        rd_bias, answer = self.memory(m, "bias", signed(c.bias_bits), c.bias_depth)
        self.answer_reads(m, answer)
        m.d.comb += rd_bias.addr.eq(self.layer.bias_base + self.row)

        # The request is registered while the bias is read; the accumulator
        # and the bias are registered as they arrive (the bias memory's
        # output is slow), then summed. Whether the row is kept rides along,
        # one flag a stage.
        w1 = path.stage()
        valid, keep = path.signal(w1, "valid"), path.signal(w1, "keep")
        m.d.sync += [valid.eq(self.start), keep.eq(self.keep)]
        w2 = path.stage()
        acc = path.signal(w2, "acc", signed(acc_bits))
        bias_value = path.signal(w2, "bias", signed(c.bias_bits))
        moved = path.signal(w2, "valid"), path.signal(w2, "keep")
        m.d.sync += [acc.eq(self.acc), bias_value.eq(rd_bias.data),
                     moved[0].eq(valid), moved[1].eq(keep)]
        valid, keep = moved
        w3 = path.stage()
        total = path.signal(w3, "total", signed(acc_bits + 1))
        moved = path.signal(w3, "valid"), path.signal(w3, "keep")
        m.d.sync += [total.eq(acc + bias_value), moved[0].eq(valid), moved[1].eq(keep)]
        valid, keep = moved
        # w4, w5: the coarse shift and the rounding.
        value, nonzero, flags = requantize_at_run_time(
            m, total, coarse_shift=self.layer.coarse_shift, rounding=self.layer.round,
            relu=self.layer.relu, out_bits=c.act_bits, path=path,
            along={"valid": valid, "keep": keep})
        # w6: saturated, or 0 past the layer's last row.
        path.stage()
        with m.If(flags["keep"]):
            m.d.sync += [self.result.eq(value), self.nonzero.eq(nonzero)]
        with m.Else():
            m.d.sync += [self.result.eq(0), self.nonzero.eq(0)]
        m.d.sync += self.done.eq(flags["valid"])
        return m
