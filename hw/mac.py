"""Dense fixed-point MAC array in the style of DianNao's NFU."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.spec.numerics import accumulator_bits

from .adder_tree import AdderTree, tree_stages
from .multiply import multiply
from .pipeline import register_stage
from .requantize import Requantize

__all__ = ["MacArray"]

#: The golden model computes in int64; wider accumulators are refused.
MAX_ACC_BITS = 62


def _check_int(name, value, low, high, option):
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r} "
                         f"(option {option})")


def _check_acc_bits(acc_bits, needed, max_inputs):
    """The accumulator width: ``needed`` by default, a wider one if asked, never narrower."""
    if acc_bits is None:
        acc_bits = needed
    else:
        _check_int("accumulator width", acc_bits, 2, MAX_ACC_BITS, "--acc-bits")
        if acc_bits < needed:
            raise ValueError(f"accumulator width {acc_bits} can overflow with --max-inputs "
                             f"{max_inputs}: it needs at least {needed} bits "
                             f"(raise --acc-bits or lower --max-inputs)")
    if acc_bits > MAX_ACC_BITS:
        raise ValueError(f"accumulator would need {acc_bits} bits, over the limit of "
                         f"{MAX_ACC_BITS}: lower --max-inputs or the widths")
    return acc_bits


class MacArray(wiring.Component):
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
    leaving: 1 (multiply) + adder-tree stages + 1 (accumulate) + 1 if there is
    a requantize/ReLU stage. Throughput: one beat, ``lanes * width`` MACs,
    per cycle; back-pressure on ``o`` stalls the pipeline without loss.
    """

    def __init__(self, *, lanes=4, width=4, act_bits=8, weight_bits=8, bias_bits=None,
                 max_inputs=1024, acc_bits=None, tree_regs_every=1, requant=True,
                 shift=None, out_bits=None, relu=False, dsp_multipliers=None):
        _check_int("lane count", lanes, 1, 256, "--lanes")
        _check_int("width", width, 1, 256, "--width")
        _check_int("activation width", act_bits, 2, 32, "--act-bits")
        _check_int("weight width", weight_bits, 2, 32, "--weight-bits")
        bias_bits = act_bits + weight_bits if bias_bits is None else bias_bits
        _check_int("bias width", bias_bits, 1, MAX_ACC_BITS, "--bias-bits")
        _check_int("maximum input count", max_inputs, 1, 1 << 24, "--max-inputs")
        _check_int("adder-tree register spacing", tree_regs_every, 0, 16, "--tree-regs-every")
        acc_bits = _check_acc_bits(acc_bits, accumulator_bits(act_bits, weight_bits, max_inputs,
                                                              bias_bits), max_inputs)
        dsp_multipliers = lanes * width if dsp_multipliers is None else dsp_multipliers
        _check_int("DSP multiplier count", dsp_multipliers, 0, 1 << 16, "--dsp-multipliers")
        shift = weight_bits - 1 if shift is None else shift
        out_bits = act_bits if out_bits is None else out_bits
        if requant:
            _check_int("requantize shift", shift, 0, acc_bits, "--shift")
            _check_int("output width", out_bits, 2, acc_bits, "--out-bits")
        self._params = dict(lanes=lanes, width=width, act_bits=act_bits,
                            weight_bits=weight_bits, bias_bits=bias_bits,
                            max_inputs=max_inputs, acc_bits=acc_bits,
                            tree_regs_every=tree_regs_every, requant=bool(requant),
                            shift=shift if requant else 0,
                            out_bits=out_bits if requant else acc_bits, relu=bool(relu),
                            dsp_multipliers=min(dsp_multipliers, lanes * width))
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "act": data.ArrayLayout(signed(act_bits), width),
                "weight": data.ArrayLayout(data.ArrayLayout(signed(weight_bits), width), lanes),
                "bias": data.ArrayLayout(signed(bias_bits), lanes),
                "first": 1,
                "last": 1,
            }))),
            "o": Out(stream.Signature(data.ArrayLayout(signed(self.out_width), lanes))),
        })

    @property
    def _tag_layout(self):
        return data.StructLayout({
            "bias": data.ArrayLayout(signed(self._params["bias_bits"]), self._params["lanes"]),
            "first": 1, "last": 1})

    @property
    def params(self):
        """The validated parameters, defaults filled in (a new dict)."""
        return dict(self._params)

    @property
    def out_width(self):
        """Width of each signed result on ``o``."""
        return self._params["out_bits"]

    @property
    def has_output_stage(self):
        return self._params["requant"] or self._params["relu"]

    @property
    def latency(self):
        """Cycles from a ``last`` beat accepted on ``i`` to its results valid on ``o``."""
        tree = tree_stages(self._params["width"], self._params["tree_regs_every"])
        return 1 + tree + 1 + int(self.has_output_stage)

    @property
    def multipliers(self):
        return self._params["lanes"] * self._params["width"]

    def elaborate(self, platform):
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
        valid, ready = register_stage(m, self.i.valid, self.i.ready, moves, name="multiply")
        m.d.comb += [tree.i.valid.eq(valid), ready.eq(tree.i.ready)]

        # Accumulate: the register holds the running sum and, after a `last`
        # beat, the finished result, so no extra copy is needed. Unlike the
        # other stages it must not load on bubbles, hence no register_stage.
        acc = Signal(data.ArrayLayout(signed(p["acc_bits"]), p["lanes"]))
        done = Signal()
        done_ready = Signal()
        partial = tree.o.payload
        take = ~done | done_ready
        m.d.comb += tree.o.ready.eq(take)
        with m.If(take):
            m.d.sync += done.eq(tree.o.valid & partial.tag.last)
            with m.If(tree.o.valid):
                m.d.sync += [acc[l].eq(Mux(partial.tag.first, partial.tag.bias[l], acc[l])
                                       + partial.sums[l]) for l in range(p["lanes"])]

        if self.has_output_stage:
            m.submodules.requantize = post = Requantize(
                p["lanes"], p["acc_bits"], shift=p["shift"], out_bits=p["out_bits"],
                relu=p["relu"])
            m.d.comb += [post.i.valid.eq(done), post.i.payload.eq(acc),
                         done_ready.eq(post.i.ready)]
            wiring.connect(m, wiring.flipped(self.o), post.o)
        else:
            m.d.comb += [self.o.valid.eq(done), self.o.payload.eq(acc),
                         done_ready.eq(self.o.ready)]
        return m
