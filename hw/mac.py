"""Dense fixed-point MAC array in the style of DianNao's NFU."""

from amaranth.hdl import Module, signed
from amaranth.lib import data

from sw.spec.numerics import accumulator_bits

from .array import (LaneArray, check_acc_bits, check_dsp, check_fixed_point, check_lanes,
                    check_length, check_requantize)
from .multiply import multiply
from .pipeline import register_stage

__all__ = ["MacArray"]


class MacArray(LaneArray):
    """``lanes`` output neurons in parallel, ``width`` inputs per cycle each.

    Each lane is a row of ``width`` multipliers feeding a pipelined adder tree
    and an accumulator (DianNao's NFU-1/2/3). A dot product of any length is
    streamed as beats of ``width`` activations and ``lanes x width`` weights:
    ``first`` starts it (the accumulator loads the lane's bias), ``last``
    ends it and releases the ``lanes`` results. Arithmetic follows
    ``docs/numerics.md``: exact products, an accumulator that cannot overflow
    for up to ``max_inputs`` inputs, then optional requantize (round half up,
    saturate) and ReLU.

    Parameters
    ----------
    lanes : int
        Output neurons computed in parallel (1 to 256).
    width : int
        Inputs consumed per cycle, i.e. multipliers per lane (1 to 256).
    act_bits, weight_bits : int
        Widths of the signed activations and weights (2 to 32).
    bias_bits : int, optional
        Width of the signed bias, at the product scale. Default
        ``act_bits + weight_bits``.
    max_inputs, acc_bits, tree_regs_every
        As ``LaneArray``; the accumulator by default
        ``sw.spec.numerics.accumulator_bits`` wide.
    requant : bool
        Requantize the accumulator to ``out_bits``; otherwise results are the
        raw ``acc_bits`` accumulator.
    shift : int, optional
        Requantize right shift. Default ``weight_bits - 1``: weights in
        [-1, 1) leave the activation format unchanged.
    out_bits : int, optional
        Width of the requantized output. Default ``act_bits``.
    relu : bool
        Clamp negative results to zero.
    dsp_multipliers : int, optional
        How many multipliers synthesis may put in DSP blocks (default: all);
        the rest are built from LUTs. Set it to the device's DSP count
        (8 on an iCE40 UP5K) when the array has more multipliers than that.

    Ports
    -----
    i : In(stream) of ``{act: width x signed(act_bits), weight: lanes x width x
        signed(weight_bits), bias: lanes x signed(bias_bits), first, last}``.
        ``bias`` is read only on ``first`` beats.
    o : Out(stream) of ``lanes x signed(out_width)``, one beat per ``last``.

    Latency: ``latency`` cycles from a ``last`` beat entering to its results
    leaving, the stages built: 1 (multiply) + adder-tree stages + 1
    (accumulate) + 1 if there is a requantize/ReLU stage. Throughput: one
    beat, ``lanes * width`` MACs, per cycle; back-pressure on ``o`` stalls
    the pipeline without loss.
    """

    def __init__(self, *, lanes=4, width=4, act_bits=8, weight_bits=8, bias_bits=None,
                 max_inputs=1024, acc_bits=None, tree_regs_every=1, requant=True,
                 shift=None, out_bits=None, relu=False, dsp_multipliers=None):
        check_lanes(lanes, width)
        bias_bits = check_fixed_point(act_bits, weight_bits, "weight", bias_bits)
        check_length(max_inputs, tree_regs_every)
        acc_bits = check_acc_bits(acc_bits, accumulator_bits(act_bits, weight_bits, max_inputs,
                                                             bias_bits),
                                  f"can overflow with --max-inputs {max_inputs}")
        dsp_multipliers = check_dsp(dsp_multipliers, lanes * width)
        shift, out_bits = check_requantize(requant, shift, out_bits, acc_bits=acc_bits,
                                           act_bits=act_bits, coef_bits=weight_bits)
        super().__init__(
            dict(lanes=lanes, width=width, act_bits=act_bits, weight_bits=weight_bits,
                 bias_bits=bias_bits, max_inputs=max_inputs, acc_bits=acc_bits,
                 tree_regs_every=tree_regs_every, requant=bool(requant), shift=shift,
                 out_bits=out_bits, relu=bool(relu), dsp_multipliers=dsp_multipliers),
            {"act": data.ArrayLayout(signed(act_bits), width),
             "weight": data.ArrayLayout(data.ArrayLayout(signed(weight_bits), width), lanes),
             "bias": data.ArrayLayout(signed(bias_bits), lanes)},
            data.ArrayLayout(signed(out_bits), lanes))

    @property
    def has_output_stage(self):
        return self._params["requant"] or self._params["relu"]

    @property
    def multipliers(self):
        """Multipliers: one a multiply-accumulate (``macs``)."""
        return self.macs

    def build(self, platform, path):
        p = self._params
        m = Module()
        tree = self.adder_tree(m, "tree", p["lanes"], p["act_bits"] + p["weight_bits"],
                               {"bias": self.i.payload.bias.shape()})

        # Multiply: exact act x weight products, registered with the side band.
        beat = self.i.payload
        moves = [(tree.i.payload.terms[l][k],
                  multiply(beat.act[k], beat.weight[l][k],
                           in_luts=l * p["width"] + k >= p["dsp_multipliers"]))
                 for l in range(p["lanes"]) for k in range(p["width"])]
        valid, ready = register_stage(m, self.i.valid, self.i.ready,
                                      moves + self.side_band(tree), name="multiply", path=path)
        m.d.comb += [tree.i.valid.eq(valid), ready.eq(tree.i.ready)]
        path.through(tree)

        # Accumulate: the register holds the running sum and, after a `last`
        # beat, the finished result.
        acc, done, done_ready = self.accumulate(m, path, tree, "bias")
        self.output(m, path, done, done_ready, acc, requantize=self.has_output_stage)
        return m
