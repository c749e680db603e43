"""Dense fixed-point MAC array in the style of DianNao's NFU."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring

from sw.spec.numerics import accumulator_bits

from .adder_tree import AdderTree
from .array import MAX_ACC_BITS, StreamArray, check_acc_bits, check_int
from .multiply import multiply
from .pipeline import accumulate_stage, register_stage
from .requantize import Requantize

__all__ = ["MacArray"]


class MacArray(StreamArray):
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
    max_inputs : int
        Longest dot product accepted; sizes the accumulator.
    acc_bits : int, optional
        Accumulator width; by default the smallest that cannot overflow
        (``sw.spec.numerics.accumulator_bits``). A smaller one is refused.
    tree_regs_every : int
        A pipeline register after every this many adder-tree levels; 0 for a
        combinational tree.
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
        check_int("lane count", lanes, 1, 256, "--lanes")
        check_int("width", width, 1, 256, "--width")
        check_int("activation width", act_bits, 2, 32, "--act-bits")
        check_int("weight width", weight_bits, 2, 32, "--weight-bits")
        bias_bits = act_bits + weight_bits if bias_bits is None else bias_bits
        check_int("bias width", bias_bits, 1, MAX_ACC_BITS, "--bias-bits")
        check_int("maximum input count", max_inputs, 1, 1 << 24, "--max-inputs")
        check_int("adder-tree register spacing", tree_regs_every, 0, 16, "--tree-regs-every")
        acc_bits = check_acc_bits(acc_bits, accumulator_bits(act_bits, weight_bits, max_inputs,
                                                             bias_bits),
                                  f"can overflow with --max-inputs {max_inputs}")
        dsp_multipliers = lanes * width if dsp_multipliers is None else dsp_multipliers
        check_int("DSP multiplier count", dsp_multipliers, 0, 1 << 16, "--dsp-multipliers")
        shift = weight_bits - 1 if shift is None else shift
        out_bits = act_bits if out_bits is None else out_bits
        if requant:
            check_int("requantize shift", shift, 0, acc_bits, "--shift")
            check_int("output width", out_bits, 2, acc_bits, "--out-bits")
        out_bits = out_bits if requant else acc_bits
        super().__init__(
            dict(lanes=lanes, width=width, act_bits=act_bits, weight_bits=weight_bits,
                 bias_bits=bias_bits, max_inputs=max_inputs, acc_bits=acc_bits,
                 tree_regs_every=tree_regs_every, requant=bool(requant),
                 shift=shift if requant else 0, out_bits=out_bits, relu=bool(relu),
                 dsp_multipliers=min(dsp_multipliers, lanes * width)),
            {"act": data.ArrayLayout(signed(act_bits), width),
             "weight": data.ArrayLayout(data.ArrayLayout(signed(weight_bits), width), lanes),
             "bias": data.ArrayLayout(signed(bias_bits), lanes)},
            data.ArrayLayout(signed(out_bits), lanes))

    @property
    def _tag_layout(self):
        return data.StructLayout({
            "bias": data.ArrayLayout(signed(self._params["bias_bits"]), self._params["lanes"]),
            "first": 1, "last": 1})

    @property
    def has_output_stage(self):
        return self._params["requant"] or self._params["relu"]

    @property
    def multipliers(self):
        return self._params["lanes"] * self._params["width"]

    def build(self, platform, path):
        p = self._params
        m = Module()
        m.submodules.tree = tree = AdderTree(p["lanes"], p["width"],
                                             p["act_bits"] + p["weight_bits"],
                                             regs_every=p["tree_regs_every"],
                                             tag_shape=self._tag_layout)

        # Multiply: exact act x weight products, registered with the side band.
        beat = self.i.payload
        moves = [(tree.i.payload.terms[l][k],
                  multiply(beat.act[k], beat.weight[l][k],
                           in_luts=l * p["width"] + k >= p["dsp_multipliers"]))
                 for l in range(p["lanes"]) for k in range(p["width"])]
        moves += [(tree.i.payload.tag.bias, beat.bias),
                  (tree.i.payload.tag.first, beat.first),
                  (tree.i.payload.tag.last, beat.last)]
        valid, ready = register_stage(m, self.i.valid, self.i.ready, moves, name="multiply",
                                      path=path)
        m.d.comb += [tree.i.valid.eq(valid), ready.eq(tree.i.ready)]
        path.through(tree)

        # Accumulate: the register holds the running sum and, after a `last`
        # beat, the finished result.
        acc = Signal(data.ArrayLayout(signed(p["acc_bits"]), p["lanes"]))
        partial = tree.o.payload
        done, done_ready = accumulate_stage(
            m, tree.o.valid, tree.o.ready, partial.tag.last,
            [(acc[l], Mux(partial.tag.first, partial.tag.bias[l], acc[l]) + partial.sums[l])
             for l in range(p["lanes"])], name="acc", path=path)

        if self.has_output_stage:
            m.submodules.requantize = post = path.through(Requantize(
                p["lanes"], p["acc_bits"], shift=p["shift"], out_bits=p["out_bits"],
                relu=p["relu"]))
            m.d.comb += [post.i.valid.eq(done), post.i.payload.eq(acc),
                         done_ready.eq(post.i.ready)]
            wiring.connect(m, wiring.flipped(self.o), post.o)
        else:
            m.d.comb += [self.o.valid.eq(done), self.o.payload.eq(acc),
                         done_ready.eq(self.o.ready)]
        return m
