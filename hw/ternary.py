"""Ternary MAC array: 2-bit weights add, subtract or skip; no multipliers per input."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data

from sw.spec.lowbit import ternary_acc_bits, ternary_sum_bits

from .array import (LaneArray, check_acc_bits, check_dsp, check_fixed_point, check_lanes,
                    check_length, check_requantize)
from .multiply import multiply
from .pipeline import accumulate_stage, register_stage

__all__ = ["TernaryArray"]


class TernaryArray(LaneArray):
    """``lanes`` ternary dot products in parallel, ``width`` inputs per cycle each.

    Weights are -1, 0 or +1 (two-bit two's complement), so each input is
    added, subtracted or skipped: no multiplier per input. Raw mode sums
    ``+-a`` in one adder tree per lane, ``Y = X @ W.T + b`` exactly. Scaled
    mode (TTQ, TWN, BWN) keeps two sums per lane, ``P`` over the inputs whose
    weight is +1 and ``Q`` over those whose weight is -1, and after the last
    beat applies the lane's scales once, ``Wp * P - Wn * Q + b``, then
    requantizes (round half up, saturate) and optionally applies ReLU
    (``docs/numerics.md``).

    Parameters
    ----------
    lanes : int
        Output neurons in parallel (1 to 256).
    width : int
        Inputs consumed per cycle per lane (1 to 256).
    act_bits : int
        Width of the signed activations (2 to 32).
    scale_bits : int
        Width of the signed scales ``Wp`` and ``Wn`` (2 to 32); scaled mode.
    bias_bits : int, optional
        Width of the signed bias (default ``act_bits + scale_bits``).
    max_inputs, acc_bits, tree_regs_every
        As ``LaneArray``; ``max_inputs`` sizes the sums P and Q too, and
        ``acc_bits`` is the result's width before requantization (raw: the
        accumulator), by default ``sw.spec.lowbit.ternary_acc_bits``.
    scaled : bool
        Apply ``Wp``/``Wn`` and requantize; otherwise output the raw sum.
    shift : int, optional
        Requantize right shift (default ``scale_bits - 1``: scales in
        [-1, 1) leave the activation format unchanged).
    out_bits : int, optional
        Width of the requantized output (default ``act_bits``).
    relu : bool
        Clamp negative results to zero (scaled mode).
    dsp_multipliers : int, optional
        Of the ``2 * lanes`` scale multipliers, how many synthesis may put in
        DSP blocks (default all); the rest are built from LUTs.

    Ports
    -----
    i : In(stream) of ``{act: width x signed(act_bits), weight: lanes x width x
        signed(2), bias: lanes x signed(bias_bits), [wp, wn: lanes x
        signed(scale_bits),] first, last}``; bias and scales are read only on
        ``first`` beats.
    o : Out(stream) of ``lanes x signed(out_width)``, one beat per ``last``.

    Latency: ``latency`` cycles from a ``last`` beat to its results, the
    stages built: adder-tree stages + 1 (accumulate), + 2 in scaled mode
    (scale, requantize); the selection shares the tree's first level.
    Throughput: one beat, ``lanes * width`` MACs, per cycle; back-pressure
    on ``o`` stalls the pipeline without loss.
    """

    def __init__(self, *, lanes=4, width=8, act_bits=8, scale_bits=8, bias_bits=None,
                 max_inputs=1024, acc_bits=None, tree_regs_every=1, scaled=True, shift=None,
                 out_bits=None, relu=False, dsp_multipliers=None):
        check_lanes(lanes, width)
        bias_bits = check_fixed_point(act_bits, scale_bits, "scale", bias_bits)
        check_length(max_inputs, tree_regs_every)
        acc_bits = check_acc_bits(acc_bits, ternary_acc_bits(act_bits, max_inputs, bias_bits,
                                                             scale_bits if scaled else None),
                                  f"can overflow with --max-inputs {max_inputs}")
        dsp_multipliers = check_dsp(dsp_multipliers, 2 * lanes)
        shift, out_bits = check_requantize(scaled, shift, out_bits, acc_bits=acc_bits,
                                           act_bits=act_bits, coef_bits=scale_bits)
        if relu and not scaled:
            raise ValueError("ReLU needs the scaled mode: raw outputs are the exact sums")
        self._params = dict(lanes=lanes, width=width, act_bits=act_bits, scale_bits=scale_bits,
                            bias_bits=bias_bits, max_inputs=max_inputs, acc_bits=acc_bits,
                            tree_regs_every=tree_regs_every, scaled=bool(scaled), shift=shift,
                            out_bits=out_bits, relu=bool(relu),
                            dsp_multipliers=dsp_multipliers if scaled else 0)
        super().__init__(
            self._params,
            {"act": data.ArrayLayout(signed(act_bits), width),
             "weight": data.ArrayLayout(data.ArrayLayout(signed(2), width), lanes),
             **self._side_fields()},
            data.ArrayLayout(signed(self._params["out_bits"]), lanes))

    def _side_fields(self):
        """Per-lane values read on ``first`` beats: bias, and the scales."""
        p = self._params
        fields = {"bias": data.ArrayLayout(signed(p["bias_bits"]), p["lanes"])}
        if p["scaled"]:
            fields["wp"] = fields["wn"] = data.ArrayLayout(signed(p["scale_bits"]), p["lanes"])
        return fields

    @property
    def multipliers(self):
        """Scale multipliers (two a lane in scaled mode, used once a dot product)."""
        return 2 * self._params["lanes"] if self._params["scaled"] else 0

    def build(self, platform, path):
        p = self._params
        lanes, width, scaled = p["lanes"], p["width"], p["scaled"]
        m = Module()
        # Raw: one tree of +-a a lane. Scaled: two trees a lane, P (even) and Q (odd).
        term_bits = p["act_bits"] if scaled else p["act_bits"] + 1
        tree = path.through(self.adder_tree(m, "tree", lanes * (1 + scaled), term_bits,
                                            self._side_fields()))

        # Select: bit 0 of a weight says "use it", bit 1 "negative" (-1 = 0b11).
        # It feeds the tree's first adder level without a register of its own:
        # a register here doubled the flip-flops and kept a 4x16 array off
        # the UP5K, for 5% of Fmax on the ECP5.
        beat = self.i.payload
        moves = []
        for l in range(lanes):
            for k in range(width):
                a, w = beat.act[k], beat.weight[l][k]
                if scaled:
                    moves += [(tree.i.payload.terms[2 * l][k], Mux(w[0] & ~w[1], a, 0)),
                              (tree.i.payload.terms[2 * l + 1][k], Mux(w[0] & w[1], a, 0))]
                else:
                    moves.append((tree.i.payload.terms[l][k], Mux(w[0], Mux(w[1], -a, a), 0)))
        m.d.comb += [target.eq(value) for target, value in moves + self.side_band(tree)]
        m.d.comb += [tree.i.valid.eq(self.i.valid), self.i.ready.eq(tree.i.ready)]

        if not scaled:
            sums, done, done_ready = self.accumulate(m, path, tree, "bias", name="sums")
            self.output(m, path, done, done_ready, sums, requantize=False)
            return m

        # Accumulate P and Q; on a first beat the lane's bias and scales are
        # latched too, and stay with the finished sums until the next stage
        # takes them.
        summed = tree.o.payload
        first = summed.tag.first
        sum_bits = ternary_sum_bits(p["act_bits"], p["max_inputs"])
        sums = Signal(data.ArrayLayout(signed(sum_bits), 2 * lanes))
        held = Signal(data.StructLayout(self._side_fields()))
        updates = [(sums[j], Mux(first, 0, sums[j]) + summed.sums[j]) for j in range(2 * lanes)]
        updates += [(held[name], Mux(first, summed.tag[name], held[name]))
                    for name, _ in self._side_fields().items()]
        done, done_ready = accumulate_stage(m, tree.o.valid, tree.o.ready, summed.tag.last,
                                            updates, name="acc", path=path)

        # Scale once a dot product: Wp * P - Wn * Q + b, exact.
        scaled_sum = Signal(data.ArrayLayout(signed(p["acc_bits"]), lanes))
        products = []
        for l in range(lanes):
            wp = multiply(sums[2 * l], held.wp[l], in_luts=2 * l >= p["dsp_multipliers"])
            wn = multiply(sums[2 * l + 1], held.wn[l], in_luts=2 * l + 1 >= p["dsp_multipliers"])
            products.append((scaled_sum[l], wp - wn + held.bias[l]))
        valid, ready = register_stage(m, done, done_ready, products, name="scale", path=path)
        self.output(m, path, valid, ready, scaled_sum, requantize=True)
        return m
