"""Proofs of the combinational numerics, for every input of small widths:
the LNZD tree against a naive leading-one search (hw.eie.lnzd), and both
requantizers against docs/numerics.md's definition (hw.requantize)."""

from amaranth.hdl import Assert, C, Module, Mux, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from hw.eie.lnzd import LeadingNonzero, at_most_one
from hw.requantize import Requantize, requantize_at_run_time
from sw.flows.formal import prove

#: Several configurations go into one proof: each run of the tools costs
#: about a second and a half before any solving.
LNZD_WIDTHS = [1, 2, 3, 5, 8, 13, 16]


class LowestBitSpec(wiring.Component):
    """``LeadingNonzero`` and ``at_most_one`` of ``width`` free bits against a
    priority chain and a population count, for each width."""

    def __init__(self, widths):
        self._widths = widths
        super().__init__({f"i{w}": In(w) for w in widths})

    def elaborate(self, platform):
        m = Module()
        for w in self._widths:
            i = getattr(self, f"i{w}")
            m.submodules[f"lnzd{w}"] = lnzd = LeadingNonzero(w)
            m.d.comb += lnzd.i.eq(i)
            naive = C(0, range(max(w, 2)))
            for k in reversed(range(w)):  # the lowest set bit wins
                naive = Mux(i[k], k, naive)
            ones = sum(i[k] for k in range(w))
            m.d.comb += [Assert(lnzd.any == (i != 0), "any is wrong"),
                         Assert(at_most_one(i) == (ones <= 1), "at_most_one is wrong")]
            with m.If(i != 0):
                m.d.comb += Assert(lnzd.index == naive, "not the lowest set bit")
        return m


def test_lnzd_is_the_lowest_set_bit(tmp_path):
    prove(LowestBitSpec(LNZD_WIDTHS), tmp_path, depth=1)


def check_requantized(m, y, x, s, out_bits, relu):
    """Assert ``y`` is ``clamp(floor((x + 2**(s-1)) / 2**s))`` (``x`` when
    ``s = 0``), clamped to ``[0 if relu else -2**(out_bits-1), 2**(out_bits-1) - 1]``:
    stated by what a floor and a clamp are, ``y * 2**s <= x + half < (y + 1) * 2**s``
    unless ``y`` is an end of the range, and no shifter or adder of the
    hardware's."""
    wide = signed(len(x) + (1 << len(s)) + len(y) + 4)
    below = Signal(len(s))  # s - 1
    m.d.comb += below.eq(s - 1)
    half = Mux(s == 0, 0, C(1, wide) << below)
    target = Signal(wide)
    m.d.comb += target.eq(x + half)
    hi = (1 << (out_bits - 1)) - 1
    lo = Mux(relu, 0, -(1 << (out_bits - 1)))
    y_at, next_at = Signal(wide), Signal(wide)
    m.d.comb += [y_at.eq(y.as_signed() << s), next_at.eq((y.as_signed() + 1) << s)]
    m.d.comb += Assert((y.as_signed() >= lo) & (y.as_signed() <= hi), "outside the range")
    with m.If(y.as_signed() > lo):
        m.d.comb += Assert(y_at <= target, "rounded up too far (or clamped too high)")
    with m.If(y.as_signed() < hi):
        m.d.comb += Assert(target < next_at, "rounded down too far (or clamped too low)")


class RunTimeSpec(wiring.Component):
    """``requantize_at_run_time`` of a free signed ``in_bits`` value by a free
    shift ``s`` of ``shift_bits`` (decoded as the engines decode it) and a
    free ReLU flag, against the definition, for each ``(in_bits, out_bits)``."""

    def __init__(self, widths, shift_bits):
        self._widths = widths
        ports = {}
        for k, (in_bits, _) in enumerate(widths):
            ports |= {f"x{k}": In(signed(in_bits)), f"s{k}": In(shift_bits), f"relu{k}": In(1)}
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        for k, (_, out_bits) in enumerate(self._widths):
            x, s, relu = (getattr(self, f"{name}{k}") for name in ("x", "s", "relu"))
            coarse = Signal(len(s), name=f"coarse{k}")  # max(s - 1, 0), as the engines hold it
            m.d.comb += coarse.eq(Mux(s == 0, 0, s - 1))
            value, nonzero, _ = requantize_at_run_time(m, x, coarse_shift=coarse,
                                                       rounding=s != 0, relu=relu,
                                                       out_bits=out_bits)
            check_requantized(m, value, x, s, out_bits, relu)
            m.d.comb += Assert(nonzero == (value != 0), "nonzero is wrong")
        return m


def test_run_time_requantize_is_the_definition(tmp_path):
    # Shifts 0-15, past the input width too; outputs of 2 bits or more (the
    # engines' activations: at 1 bit `nonzero` is wrong for a value
    # saturated to 0, a width no engine builds).
    prove(RunTimeSpec([(8, 4), (6, 6), (5, 2), (4, 5)], 4), tmp_path, depth=1)


class FixedSpec(wiring.Component):
    """``Requantize`` (one lane of ``IN_BITS``) behind its register stage, for
    each ``(shift, out_bits, relu)``: each beat it offers is the definition
    applied to the beat it took."""

    IN_BITS = 6

    def __init__(self, configs):
        self._configs = configs
        lane = data.ArrayLayout(signed(self.IN_BITS), 1)
        ports = {}
        for k, (_, out_bits, _) in enumerate(configs):
            ports |= {f"i{k}": In(stream.Signature(lane)),
                      f"o{k}": Out(stream.Signature(data.ArrayLayout(signed(out_bits), 1)))}
        super().__init__(ports)

    def elaborate(self, platform):
        m = Module()
        for k, (shift, out_bits, relu) in enumerate(self._configs):
            i, o = getattr(self, f"i{k}"), getattr(self, f"o{k}")
            m.submodules[f"dut{k}"] = dut = Requantize(1, self.IN_BITS, shift=shift,
                                                       out_bits=out_bits, relu=relu)
            wiring.connect(m, wiring.flipped(i), dut.i)
            wiring.connect(m, dut.o, wiring.flipped(o))
            taken = Signal(signed(self.IN_BITS), name=f"taken{k}")
            with m.If(i.valid & i.ready):
                m.d.sync += taken.eq(i.payload[0])
            with m.If(o.valid):
                check_requantized(m, o.payload[0], taken, C(shift, 4), out_bits, C(relu, 1))
        return m


def test_requantize_is_the_definition(tmp_path):
    # By induction: a beat offered was loaded with the beat taken beside it.
    prove(FixedSpec([(0, 7, False), (1, 3, True), (3, 4, False), (6, 2, False), (2, 1, False)]),
          tmp_path, depth=2)
