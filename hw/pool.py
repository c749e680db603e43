"""The tail of a conv layer: bias, requantize, ReLU and pooling, one window a beat.

A conv core (``hw.winograd``, ``hw.mac``) produces a layer's raw correlations;
the host gathers each pooling window's positions from them (padding marked in
the beat's mask) and feeds ``PoolUnit`` one window a beat. ``MeanDivider``
is its last part: the rounded mean by a reciprocal from a constant table.
"""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from sw.spec.numerics import signed_bits_for, signed_range

from .array import MAX_ACC_BITS
from .checks import check_int
from .pipeline import Pipelined
from .requantize import requantize_at_run_time

__all__ = ["MeanDivider", "PoolUnit", "reciprocal_table", "MAX_WINDOW"]

#: The most positions one window may have (an 8 x 8 pool).
MAX_WINDOW = 64

#: Tree levels (compare-or-add) between two registers of the window reduction:
#: a level is a compare's carry chain and two muxes, and two of them were the
#: slowest path of a 3 x 3 unit on the UP5K (31 MHz); latency is cheap here.
LEVELS_PER_STAGE = 1


def _floor_by_reciprocal(n, multiplier, shift):
    return (n * multiplier) >> shift


def _stage(m, path, advance, valid, moves, *, name):
    """One register stage, counted on ``path``, of a pipeline that moves as a
    whole: every stage loads (``valid`` and ``moves``) when ``advance``.

    ``hw.pipeline.register_stage`` chains each stage's ready through the
    next, one gate a stage; a unit this deep made that chain its slowest
    path (29 MHz on the UP5K). Here the input's ready is ``advance =
    ~last valid | ready downstream``, one gate, whatever the depth. The
    price: a bubble inside is not squeezed out while the output waits,
    which costs nothing when the output is taken every cycle. Returns the
    stage's valid.
    """
    path.stage()
    stage_valid = Signal(name=f"{name}_valid")
    with m.If(advance):
        m.d.sync += [stage_valid.eq(valid), *(reg.eq(value) for reg, value in moves)]
    return stage_valid


def reciprocal_table(max_count, max_dividend):
    """The reciprocals that divide every ``0 <= n <= max_dividend`` exactly.

    Returns ``(shift, multipliers)``: ``multipliers[d] = ceil(2**shift / d)``
    for ``d`` in 1 to ``max_count`` (``multipliers[0] = 0``, no divisor), and
    the smallest ``shift`` for which ``(n * multipliers[d]) >> shift ==
    n // d`` for every such ``n`` and ``d``, which is checked here, exactly.

    Why two dividends a divisor suffice: with ``M = ceil(2**s / d)``, ``e =
    M d - 2**s`` (``0 <= e < d``) and ``n = q d + r``, ``n M / 2**s = q + (r +
    n e / 2**s) / d``, so the floor is ``q`` exactly when ``r + n e / 2**s <
    d``. That left side grows with ``n`` inside each run of ``d`` dividends
    with the same ``q``, and its value at each run's end (``r = d - 1``)
    grows with ``n`` too, so its largest value on ``[0, max_dividend]`` is at
    the last run end ``n = q d + d - 1 <= max_dividend`` or at
    ``max_dividend`` itself. Some shift always works (Granlund and
    Montgomery: ``s = bits(max_dividend) + bits(max_count)`` makes ``n e <
    2**s``), so the search ends.
    """
    for shift in range(max_dividend.bit_length() + max_count.bit_length() + 1):
        multipliers = [0] + [-(-(1 << shift) // d) for d in range(1, max_count + 1)]
        if all(_floor_by_reciprocal(n, multipliers[d], shift) == n // d
               for d in range(1, max_count + 1)
               for n in (max_dividend, max_dividend - (max_dividend + 1) % d)):
            return shift, multipliers
    raise AssertionError("no shift divides exactly; Granlund-Montgomery says one must")


class MeanDivider(Pipelined, wiring.Component):
    """``average(total, count)`` of ``sw.spec.numerics``, saturated to ``value_bits``.

    The rounded mean ``floor((2 total + count) / (2 count))`` is
    ``floor((total + count // 2) / count)`` (nested floor divisions by
    positive integers compose), a floor division ``n / d`` of a signed ``n``
    by a run-time ``d``. For ``n < 0``, ``floor(n / d) = ~floor(~n / d)``
    (``~n = -n - 1 >= 0``), so the sign costs two rows of XOR and the
    division is of an unsigned ``u``. That one is a product with the
    reciprocal of ``d`` from a constant table and a fixed right shift,
    exact for every ``u`` the totals can make (``reciprocal_table``, checked
    when the divider is built). A mean of ``count`` values of ``value_bits``
    (some of them zeros) fits ``value_bits``; the saturation only bounds the
    result when ``count`` is less than the values summed.

    Parameters
    ----------
    terms : int
        The most values a total sums (1 to ``MAX_WINDOW``), and the largest
        count.
    value_bits : int
        Width of the signed values summed, and of the mean.

    Ports
    -----
    i : In(stream) of ``{total: signed(total_bits), count: unsigned}``
        ``total`` is the sum of at most ``terms`` values; ``count`` 1 to
        ``terms`` (the table has no other: another count gives 0 or -1).
    o : Out(stream) of ``signed(value_bits)``: the rounded mean.

    Latency ``latency`` cycles, three register stages (the operands and the
    table's reciprocal, the product, the shifted and signed mean), which
    move as a whole (``_stage``); throughput one beat per cycle;
    back-pressure on ``o`` stalls without loss.
    """

    def __init__(self, terms, value_bits):
        check_int("window size", terms, 1, MAX_WINDOW, "--window")
        check_int("activation width", value_bits, 2, 32, "--act-bits")
        self._terms, self._value_bits = terms, value_bits
        lo, hi = signed_range(value_bits)
        self._total_range = (terms * lo, terms * hi)
        count_bits = terms.bit_length()
        # n = total + count // 2, for every count the field can hold: no wrap.
        self._n_bits = signed_bits_for(terms * lo, terms * hi + ((1 << count_bits) - 1) // 2)
        # The dividends of real counts: n up to hi + count // 2, ~n up to -lo - 1.
        self._max_dividend = max(terms * hi + terms // 2, -terms * lo - 1)
        self._shift, self._multipliers = reciprocal_table(terms, self._max_dividend)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "total": signed(signed_bits_for(*self._total_range)),
                "count": unsigned(count_bits)}))),
            "o": Out(stream.Signature(signed(value_bits))),
        })

    @property
    def terms(self):
        """The most values a total sums, and the largest count."""
        return self._terms

    @property
    def value_bits(self):
        """Width of the values and of the mean."""
        return self._value_bits

    @property
    def reciprocals(self):
        """``(shift, multipliers)``: ``multipliers[d] = ceil(2**shift / d)``, 0 for ``d = 0``."""
        return self._shift, tuple(self._multipliers)

    @property
    def max_dividend(self):
        """The largest unsigned dividend the divisions meet (``reciprocal_table``)."""
        return self._max_dividend

    def build(self, platform, path):
        m = Module()
        beat = self.i.payload
        u_bits = self._max_dividend.bit_length()
        m_bits = max(self._multipliers).bit_length()

        # The operands: n made non-negative, and the count's reciprocal read
        # from the table beside that addition.
        n = Signal(signed(self._n_bits), name="dividend")
        m.d.comb += n.eq(beat.total + (beat.count >> 1))
        sign = n[-1]
        reciprocal = Signal(unsigned(m_bits), name="reciprocal")
        with m.Switch(beat.count):
            for d, multiplier in enumerate(self._multipliers):
                with m.Case(d):
                    m.d.comb += reciprocal.eq(multiplier)
        u, u_sign, u_recip = (Signal(u_bits, name="u"), Signal(name="u_sign"),
                              Signal(m_bits, name="u_reciprocal"))
        # Real counts keep u within u_bits (max_dividend), so the cut loses nothing.
        advance = Signal(name="advance")
        m.d.comb += self.i.ready.eq(advance)
        valid = _stage(
            m, path, advance, self.i.valid,
            [(u, (n ^ sign.replicate(len(n)))[:u_bits]), (u_sign, sign), (u_recip, reciprocal)],
            name="operands")

        # The product alone in its stage: a multiplier synthesis can put in a DSP.
        product, p_sign = Signal(u_bits + m_bits, name="product"), Signal(name="p_sign")
        valid = _stage(m, path, advance, valid, [(product, u * u_recip), (p_sign, u_sign)],
                       name="product")

        # floor(u / d) is the product's top bits; ~ gives back the negative quotient.
        quotient = Signal(signed(len(product) - self._shift + 1), name="quotient")
        m.d.comb += quotient.eq(product[self._shift:])
        mean = Mux(p_sign, ~quotient, quotient)
        lo, hi = signed_range(self._value_bits)
        valid = _stage(m, path, advance, valid,
                       [(self.o.payload, Mux(mean > hi, hi, Mux(mean < lo, lo, mean)))],
                       name="mean")
        m.d.comb += [self.o.valid.eq(valid), advance.eq(~valid | self.o.ready)]
        return m


class PoolUnit(Pipelined, wiring.Component):
    """Bias, requantize, ReLU and pooling of one window of raw correlations a beat.

    For each real position ``j`` of the window (``mask`` bit ``j`` set):
    ``v_j = relu?(requantize(acc_j + bias, shift, act_bits))`` (round half
    up, saturate: ``sw.spec.numerics.requantize``, ``docs/numerics.md``);
    the output is ``max_j v_j`` (``avg = 0``) or ``average(sum_j v_j,
    count)`` (``avg = 1``, ``sw.spec.numerics.average``), unset positions
    counting as nothing in a max and as zero in a sum. A one-position
    window with mask 1 is bias, requantize and ReLU alone (a conv layer
    without pooling). Everything is per beat: one stream serves layers of
    any shift, ReLU, pooling mode, kernel, stride and padding.

    Stages: ``total`` (``acc_j + bias``, the shift decoded as
    ``hw.requantize.requantize_at_run_time`` takes it), ``coarse`` (its
    barrel shift by ``shift - 1``), ``act`` (its rounding by the last bit,
    saturation and ReLU; unset positions made the lowest activation for a
    max, zero for a sum), a reduction tree of pairwise max-or-add
    (``tree1``...: a register every ``LEVELS_PER_STAGE`` levels of
    ``ceil(log2 window)``), then ``MeanDivider`` (three stages), which a
    max passes with count 1.

    Parameters
    ----------
    window : int
        The most positions in one window (1 to 64).
    acc_bits : int
        Width of the signed raw correlations (2 to 62).
    bias_bits : int
        Width of the signed bias, at the correlations' scale (1 to 62).
    act_bits : int
        Width of the signed output activations (2 to 32).
    max_shift : int
        The largest requantize shift, which sizes the ``shift`` field (0 to
        the width of ``acc + bias``); larger shifts the field holds work too.

    Ports
    -----
    i : In(stream) of ``{acc: window x signed(acc_bits), mask: unsigned(window),
        count: unsigned(bits of window), bias: signed(bias_bits),
        shift: unsigned(bits of max_shift), avg: 1, relu: 1}``
        One beat an output activation. ``count`` (1 to ``window``; another
        gives 0 or -1) is the average's divisor, read only on ``avg`` beats;
        a count below the real positions gives their sum's quotient,
        saturated.
    o : Out(stream) of ``signed(act_bits)``: the pooled activation.

    Latency ``latency`` cycles from a beat taken to its result valid:
    3 + ``ceil(ceil(log2 window) / LEVELS_PER_STAGE)`` + 3 (10 for a 3 x 3
    window, 6 for one position). Throughput one beat (one output) per cycle;
    back-pressure on ``o`` stalls the pipeline without loss. The stages
    before the divider move as a whole, and so do the divider's (``_stage``):
    ``i.ready`` is two gates from ``o.ready``.
    """

    def __init__(self, *, window=9, acc_bits=24, bias_bits=16, act_bits=8, max_shift=16):
        check_int("window size", window, 1, MAX_WINDOW, "--window")
        check_int("accumulator width", acc_bits, 2, MAX_ACC_BITS, "--acc-bits")
        check_int("bias width", bias_bits, 1, MAX_ACC_BITS, "--bias-bits")
        check_int("activation width", act_bits, 2, 32, "--act-bits")
        total_bits = max(acc_bits, bias_bits) + 1
        check_int("largest requantize shift", max_shift, 0, total_bits, "--max-shift")
        self._params = dict(window=window, acc_bits=acc_bits, bias_bits=bias_bits,
                            act_bits=act_bits, max_shift=max_shift)
        self._total_bits = total_bits
        self._divider = MeanDivider(window, act_bits)
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({
                "acc": data.ArrayLayout(signed(acc_bits), window),
                "mask": unsigned(window),
                "count": unsigned(window.bit_length()),
                "bias": signed(bias_bits),
                "shift": unsigned(max(max_shift.bit_length(), 1)),
                "avg": 1,
                "relu": 1,
            }))),
            "o": Out(stream.Signature(signed(act_bits))),
        })

    @property
    def params(self):
        """The parameters (a new dict)."""
        return dict(self._params)

    @property
    def window(self):
        """The most positions in one window."""
        return self._params["window"]

    @property
    def acc_bits(self):
        """Width of the raw correlations."""
        return self._params["acc_bits"]

    @property
    def bias_bits(self):
        """Width of the bias."""
        return self._params["bias_bits"]

    @property
    def act_bits(self):
        """Width of the output activations."""
        return self._params["act_bits"]

    @property
    def max_shift(self):
        """The largest requantize shift."""
        return self._params["max_shift"]

    @property
    def divider(self):
        """The ``MeanDivider`` of the averages (its reciprocal table)."""
        return self._divider

    def build(self, platform, path):
        p = self._params
        m = Module()
        beat = self.i.payload
        window, act_bits = p["window"], p["act_bits"]

        # total: the bias added, the shift decoded for the one barrel shifter
        # of requantize_at_run_time, a max made a mean of one.
        totals = [Signal(signed(self._total_bits), name=f"total{j}") for j in range(window)]
        coarse = Signal(len(beat.shift), name="total_coarse_shift")
        rounding, relu, avg, mask = (Signal(name="total_rounding"), Signal(name="total_relu"),
                                     Signal(name="total_avg"), Signal(window, name="total_mask"))
        count = Signal(len(beat.count), name="total_count")
        advance = Signal(name="advance")
        m.d.comb += self.i.ready.eq(advance)
        valid = _stage(m, path, advance, self.i.valid, [
            *((totals[j], beat.acc[j] + beat.bias) for j in range(window)),
            (coarse, Mux(beat.shift == 0, 0, beat.shift - 1)), (rounding, beat.shift != 0),
            (relu, beat.relu), (avg, beat.avg), (mask, beat.mask),
            (count, Mux(beat.avg, beat.count, 1))], name="total")

        # coarse: requantize_at_run_time's barrel shifter, alone in its stage
        # (with the rounding and the saturation after it, it was the slowest path).
        shifted = [Signal(signed(self._total_bits), name=f"coarse{j}") for j in range(window)]
        moves = [(shifted[j], totals[j] >> coarse) for j in range(window)]
        rounding, relu, avg, mask, count = self._carried(
            "coarse", moves, rounding=rounding, relu=relu, avg=avg, mask=mask, count=count)
        valid = _stage(m, path, advance, valid, moves, name="coarse")

        # act: rounded (the shift's last bit), saturated, ReLU; an unset
        # position can neither win a max nor add to a sum.
        lowest = signed_range(act_bits)[0]
        nodes = [Signal(signed(act_bits), name=f"act{j}") for j in range(window)]
        moves = []
        for j in range(window):
            value, _, _ = requantize_at_run_time(m, shifted[j], coarse_shift=0, rounding=rounding,
                                                 relu=relu, out_bits=act_bits)
            moves.append((nodes[j], Mux(mask[j], value, Mux(avg, 0, lowest))))
        avg, count = self._carried("act", moves, avg=avg, count=count)
        valid = _stage(m, path, advance, valid, moves, name="act")

        # The window reduced pairwise: a sum for an average, a max otherwise.
        level, stage = 0, 0
        while len(nodes) > 1:
            pairs = [nodes[k:k + 2] for k in range(0, len(nodes), 2)]
            nodes = [pair[0] if len(pair) == 1 else
                     Mux(avg, pair[0] + pair[1], Mux(pair[0] > pair[1], pair[0], pair[1]))
                     for pair in pairs]
            level += 1
            if level % LEVELS_PER_STAGE == 0 or len(nodes) == 1:
                stage += 1
                name = f"tree{stage}"
                regs = [Signal(signed(len(node)), name=f"{name}_node{k}")
                        for k, node in enumerate(nodes)]
                moves = list(zip(regs, nodes))
                avg, count = self._carried(name, moves, avg=avg, count=count)
                valid = _stage(m, path, advance, valid, moves, name=name)
                nodes = regs

        m.submodules.mean = divider = path.through(self._divider)
        m.d.comb += [divider.i.valid.eq(valid), divider.i.payload.total.eq(nodes[0]),
                     divider.i.payload.count.eq(count), advance.eq(~valid | divider.i.ready)]
        wiring.connect(m, wiring.flipped(self.o), divider.o)
        return m

    @staticmethod
    def _carried(stage, moves, **values):
        """Registers of stage ``stage`` that carry ``values`` along (their moves
        appended to ``moves``), in the order given."""
        regs = [Signal.like(value, name=f"{stage}_{name}") for name, value in values.items()]
        moves += zip(regs, values.values())
        return regs
