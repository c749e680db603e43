"""XNOR-popcount dot-product array: binary weights and binary activations."""

from amaranth.hdl import Module, signed, unsigned
from amaranth.lib import data

from sw.spec.lowbit import xnor_acc_bits

from .array import LaneArray, check_acc_bits, check_lanes, check_length

__all__ = ["XnorArray"]


class XnorArray(LaneArray):
    """``lanes`` binary dot products in parallel, ``width`` bits per cycle each.

    Bits stand for +1 (1) and -1 (0), so a dot product of N bits is
    ``N - 2 * popcount(x xor w)`` (XNOR-Net; ``docs/numerics.md``). Each lane
    XORs the beat's ``width`` input bits with its ``width`` weight bits and
    counts the ones in a pipelined popcount tree (an adder tree of one-bit
    terms); the accumulator loads the lane's ``offset`` on a ``first`` beat
    and subtracts twice each beat's count. The flow passes
    ``offset = N + b`` (raw) or ``N + b - T`` (sign mode) and pads both
    vectors with zero bits, which count nothing.

    Parameters
    ----------
    lanes : int
        Dot products (output neurons) in parallel (1 to 256).
    width : int
        Bits consumed per cycle per lane (1 to 1024).
    max_inputs, acc_bits, tree_regs_every
        As ``LaneArray``, the tree a popcount tree; the accumulator by
        default ``sw.spec.lowbit.xnor_acc_bits`` wide.
    sign : bool
        Output one bit per lane, ``acc >= 0`` (1 means +1): a binary layer's
        activation, ready for the next XNOR layer. Otherwise output the
        accumulator, ``Y`` (raw).

    Ports
    -----
    i : In(stream) of ``{act: unsigned(width), weight: lanes x unsigned(width),
        offset: lanes x signed(acc_bits), first, last}``; ``offset`` is read
        only on ``first`` beats.
    o : Out(stream) of ``lanes x signed(acc_bits)``, or ``lanes x unsigned(1)``
        in sign mode; one beat per ``last``.

    Latency: ``latency`` cycles from a ``last`` beat to its results, the
    stages built: popcount-tree stages + 1 (accumulate); the XOR shares the
    tree's first level (one LUT each).
    Throughput: one beat, ``lanes * width`` binary MACs, per cycle;
    back-pressure on ``o`` stalls the pipeline without loss.
    """

    def __init__(self, *, lanes=4, width=32, max_inputs=1024, acc_bits=None,
                 tree_regs_every=1, sign=False):
        check_lanes(lanes, width, max_width=1024)
        check_length(max_inputs, tree_regs_every, tree="popcount-tree")
        acc_bits = check_acc_bits(
            acc_bits, xnor_acc_bits(max_inputs, sign),
            f"cannot hold an XNOR dot product of --max-inputs {max_inputs} bits"
            f"{' against a threshold' if sign else ''}")
        super().__init__(
            dict(lanes=lanes, width=width, max_inputs=max_inputs, acc_bits=acc_bits,
                 tree_regs_every=tree_regs_every, sign=bool(sign)),
            {"act": unsigned(width),
             "weight": data.ArrayLayout(unsigned(width), lanes),
             "offset": data.ArrayLayout(signed(acc_bits), lanes)},
            data.ArrayLayout(unsigned(1) if sign else signed(acc_bits), lanes))

    def build(self, platform, path):
        p = self._params
        m = Module()
        tree = path.through(self.adder_tree(m, "popcount", p["lanes"], 1,
                                            {"offset": self.i.payload.offset.shape()},
                                            signed=False))
        beat = self.i.payload
        m.d.comb += [tree.i.payload.terms[l][k].eq(beat.act[k] ^ beat.weight[l][k])
                     for l in range(p["lanes"]) for k in range(p["width"])]
        m.d.comb += [target.eq(value) for target, value in self.side_band(tree)]
        m.d.comb += [tree.i.valid.eq(self.i.valid), self.i.ready.eq(tree.i.ready)]

        acc, done, done_ready = self.accumulate(m, path, tree, "offset",
                                                lambda offset, count: offset - (count << 1))
        if p["sign"]:
            # acc >= 0 is the inverted sign bit: no comparator, no register.
            m.d.comb += [self.o.payload[l].eq(~acc[l][-1]) for l in range(p["lanes"])]
            m.d.comb += [self.o.valid.eq(done), done_ready.eq(self.o.ready)]
        else:
            self.output(m, path, done, done_ready, acc, requantize=False)
        return m
