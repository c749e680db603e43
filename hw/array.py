"""What the four stream arrays share: parameter checks, the ``i``/``o`` streams,
``params``, ``out_width`` and a latency counted from the built pipeline; and
what the three arrays of lanes share (``LaneArray``): an adder tree a lane,
an accumulator a lane, and the output stage."""

import operator

from amaranth.hdl import Mux, Shape, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .adder_tree import AdderTree
from .checks import check_int
from .pipeline import Pipelined, accumulate_stage
from .requantize import Requantize

__all__ = ["StreamArray", "LaneArray", "MAX_ACC_BITS", "check_acc_bits",
           "check_lanes", "check_length", "check_fixed_point", "check_dsp", "check_requantize"]

#: The golden models compute in int64; wider accumulators and outputs are refused.
MAX_ACC_BITS = 62


def check_acc_bits(acc_bits, needed, too_narrow):
    """The accumulator width: ``needed`` by default, a wider one if asked, never narrower.

    ``too_narrow`` says why a narrower one is refused (``"can overflow with
    --max-inputs 64"``); the message adds how many bits it needs and the way out.
    """
    if acc_bits is None:
        acc_bits = needed
    else:
        check_int("accumulator width", acc_bits, 2, MAX_ACC_BITS, "--acc-bits")
        if acc_bits < needed:
            raise ValueError(f"accumulator width {acc_bits} {too_narrow}: it needs at least "
                             f"{needed} bits (raise --acc-bits or lower --max-inputs)")
    if acc_bits > MAX_ACC_BITS:
        raise ValueError(f"accumulator would need {acc_bits} bits, over the limit of "
                         f"{MAX_ACC_BITS}: lower --max-inputs or the widths")
    return acc_bits


def check_lanes(lanes, width, max_width=256):
    """An array of lanes: 1 to 256 of them, each ``width`` (1 to ``max_width``) inputs a beat."""
    check_int("lane count", lanes, 1, 256, "--lanes")
    check_int("width", width, 1, max_width, "--width")


def check_length(max_inputs, tree_regs_every, tree="adder-tree"):
    """The longest dot product (1 to 2**24 inputs) and the spacing of the
    ``tree``'s registers (0 to 16 levels)."""
    check_int("maximum input count", max_inputs, 1, 1 << 24, "--max-inputs")
    check_int(f"{tree} register spacing", tree_regs_every, 0, 16, "--tree-regs-every")


def check_fixed_point(act_bits, coef_bits, coef, bias_bits):
    """Signed activations and coefficients of 2 to 32 bits (``coef`` names the
    coefficient and its option: ``"weight"``, ``"scale"``), and a bias of 1 to
    ``MAX_ACC_BITS``; the bias width returned, by default the two widths' sum."""
    check_int("activation width", act_bits, 2, 32, "--act-bits")
    check_int(f"{coef} width", coef_bits, 2, 32, f"--{coef}-bits")
    bias_bits = act_bits + coef_bits if bias_bits is None else bias_bits
    check_int("bias width", bias_bits, 1, MAX_ACC_BITS, "--bias-bits")
    return bias_bits


def check_dsp(dsp_multipliers, multipliers):
    """How many of the ``multipliers`` synthesis may put in DSP blocks: all by
    default, and never more than there are."""
    dsp_multipliers = multipliers if dsp_multipliers is None else dsp_multipliers
    check_int("DSP multiplier count", dsp_multipliers, 0, 1 << 16, "--dsp-multipliers")
    return min(dsp_multipliers, multipliers)


def check_requantize(requant, shift, out_bits, *, acc_bits, act_bits, coef_bits):
    """The ``(shift, out_bits)`` of a requantize stage from ``acc_bits``.

    With ``requant``: the shift (default ``coef_bits - 1``, so coefficients in
    [-1, 1) keep the activations' format) from 0 to ``acc_bits``, and the
    output width (default ``act_bits``) from 2 to ``acc_bits``. Without: the
    raw accumulator, ``(0, acc_bits)``, and the two are not checked.
    """
    shift = coef_bits - 1 if shift is None else shift
    out_bits = act_bits if out_bits is None else out_bits
    if not requant:
        return 0, acc_bits
    check_int("requantize shift", shift, 0, acc_bits, "--shift")
    check_int("output width", out_bits, 2, acc_bits, "--out-bits")
    return shift, out_bits


class StreamArray(Pipelined, wiring.Component):
    """Base of the stream arrays (``MacArray``, ``XnorArray``, ``TernaryArray``,
    ``WinogradTile``): a dot product (or a channel sum) streamed as beats on
    ``i`` from ``first`` to ``last``, one result beat on ``o`` per ``last``.

    Parameters
    ----------
    params : dict
        The validated parameters, defaults filled in (``params``).
    fields : dict
        The input beat's fields before ``first`` and ``last``, which every
        array has and appends last.
    output : shape-castable
        Layout of an output beat (arrays of one signed or unsigned value).

    ``latency`` is the stage count the subclass's ``elaborate`` builds on its
    ``hw.pipeline.Path``: cycles from a ``last`` beat accepted on ``i`` to
    its result valid on ``o``, when ``o`` is not holding an earlier result.
    """

    def __init__(self, params, fields, output):
        self._params = params
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({**fields, "first": 1, "last": 1}))),
            "o": Out(stream.Signature(output)),
        })

    @property
    def params(self):
        """The validated parameters, defaults filled in (a new dict)."""
        return dict(self._params)

    @property
    def out_width(self):
        """Width of each result value on ``o``."""
        shape = self.o.payload.shape()
        while isinstance(shape, data.ArrayLayout):
            shape = shape.elem_shape
        return Shape.cast(shape).width


class LaneArray(StreamArray):
    """Base of the arrays of ``lanes`` dot products, ``width`` inputs a beat
    each (``MacArray``, ``TernaryArray``, ``XnorArray``): the stages they
    build alike, on ``params`` ``lanes``, ``width``, ``tree_regs_every``,
    ``acc_bits`` (and ``shift``, ``out_bits``, ``relu`` for a requantize).

    A beat's terms go into an adder tree (``adder_tree``) with the beat's
    side band (``side_band``: the per-lane values read on ``first`` beats,
    then ``first`` and ``last``) as its tag; an accumulator a lane sums the
    tree's outputs from ``first`` to ``last`` (``accumulate``); the result
    leaves through ``output``, requantized or raw. Each stage adds to
    ``latency`` as ``StreamArray`` says.

    Every lane array takes these parameters (each says what differs):

    max_inputs : int
        Longest dot product accepted; sizes the accumulator.
    acc_bits : int, optional
        Accumulator width; by default the smallest that cannot overflow. A
        smaller one is refused.
    tree_regs_every : int
        A register after every this many adder-tree levels; 0 for a
        combinational tree.
    """

    @property
    def macs(self):
        """Multiply-accumulates (ternary, binary) per cycle at full throughput."""
        return self._params["lanes"] * self._params["width"]

    def adder_tree(self, m, name, trees, term_bits, side, *, signed=True):
        """The submodule ``name``: ``trees`` adder trees of ``width`` terms of
        ``term_bits``, tagged with the side band ``side`` (a field dict) and
        ``first`` and ``last``. Not yet counted on the path (``path.through``)."""
        tag = data.StructLayout({**side, "first": 1, "last": 1})
        tree = AdderTree(trees, self._params["width"], term_bits, signed=signed,
                         regs_every=self._params["tree_regs_every"], tag_shape=tag)
        m.submodules[name] = tree
        return tree

    def side_band(self, tree):
        """``(target, value)`` moves of the input beat's fields into ``tree``'s tag."""
        return [(tree.i.payload.tag[name], self.i.payload[name])
                for name, _ in tree.i.payload.tag.shape()]

    def accumulate(self, m, path, tree, start, step=operator.add, *, name="acc"):
        """The accumulator of each lane, register ``name``, on ``tree``'s output.

        A ``first`` beat starts it at the tag's per-lane ``start`` (the bias,
        the offset), every beat applies ``step(value, sum)`` (by default adds
        the lane's sum); after a ``last`` beat it holds the result until it is
        taken (``hw.pipeline.accumulate_stage``, one stage on ``path``).

        Returns
        -------
        (acc, done, done_ready)
            The accumulators, the result's valid, and its ready to drive.
        """
        p = self._params
        acc = Signal(data.ArrayLayout(signed(p["acc_bits"]), p["lanes"]), name=name)
        out = tree.o.payload
        done, done_ready = accumulate_stage(
            m, tree.o.valid, tree.o.ready, out.tag.last,
            [(acc[l], step(Mux(out.tag.first, out.tag[start][l], acc[l]), out.sums[l]))
             for l in range(p["lanes"])], name="acc", path=path)
        return acc, done, done_ready

    def output(self, m, path, valid, ready, value, *, requantize):
        """Drive ``o`` from ``value`` (valid ``valid``, ``ready`` driven here):
        through a ``Requantize`` stage (``params`` ``shift``, ``out_bits``,
        ``relu``; one more stage on ``path``), or as it is."""
        p = self._params
        if requantize:
            m.submodules.requantize = post = path.through(Requantize(
                p["lanes"], p["acc_bits"], shift=p["shift"], out_bits=p["out_bits"],
                relu=p["relu"]))
            m.d.comb += [post.i.valid.eq(valid), post.i.payload.eq(value),
                         ready.eq(post.i.ready)]
            wiring.connect(m, wiring.flipped(self.o), post.o)
        else:
            m.d.comb += [self.o.valid.eq(valid), self.o.payload.eq(value),
                         ready.eq(self.o.ready)]
