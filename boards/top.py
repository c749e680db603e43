"""The top level a board runs: clock (a PLL when faster than the oscillator),
reset until the clock is stable, and the EIE system on the board's UART."""

from amaranth.hdl import ClockDomain, ClockSignal, Elaboratable, Instance, Module, Signal

from hw.system import EieSystem

__all__ = ["BoardTop", "ice40_pll", "ecp5_pll"]


def ice40_pll(f_in, f_out):
    """SB_PLL40 settings closest to ``f_out`` MHz: (DIVR, DIVF, DIVQ, FILTER_RANGE, achieved)."""
    best = None
    for divr in range(16):
        pfd = f_in / (divr + 1)
        if not 10 <= pfd <= 133:
            continue
        for divf in range(128):
            vco = pfd * (divf + 1)
            if not 533 <= vco <= 1066:
                continue
            for divq in range(1, 7):
                out = vco / (1 << divq)
                if best is None or abs(out - f_out) < abs(best[-1] - f_out):
                    filt = next(i for i, top in enumerate([17, 26, 44, 66, 101, 133]) if pfd < top) + 1
                    best = (divr, divf, divq, filt, out)
    return best


def ecp5_pll(f_in, f_out):
    """EHXPLLL settings closest to ``f_out`` MHz: (CLKI_DIV, CLKFB_DIV, CLKOP_DIV, achieved)."""
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if not 3.125 <= pfd <= 400:
            continue
        for fb in range(1, 81):
            out = pfd * fb
            if not 10 <= out <= 400:
                continue
            for op in range(1, 129):
                if 400 <= out * op <= 800:
                    if best is None or abs(out - f_out) < abs(best[-1] - f_out):
                        best = (clki, fb, op, out)
                    break
    return best


#: Seconds of quiet inside a frame after which the board's link gives it up.
QUIET_S = 0.005


class BoardTop(Elaboratable):
    """``EieSystem`` on a board.

    Parameters
    ----------
    family : "ice40" or "ecp5"
    config, image, divisor
        As ``hw.system.EieSystem``.
    osc_mhz, clock_mhz : float
        The oscillator and the clock the system runs at (a PLL makes it when
        they differ; the achieved frequency is ``self.clock_mhz``).
    baud : int
        The serial rate; the UART divisor is ``hw.uart.divisor_for`` of it
        at the achieved clock (``self.divisor``), which refuses a rate that
        clock cannot make within 2%.
    max_baud : int, optional
        The board's serial bridge's limit, which that refusal's suggested
        rates stay within.
    """

    def __init__(self, family, config, image, osc_mhz, clock_mhz, baud, max_baud=None):
        from hw.uart import divisor_for
        self.family = family
        if clock_mhz == osc_mhz:
            self.pll = None
            self.clock_mhz = osc_mhz
        elif family == "ice40":
            self.pll = ice40_pll(osc_mhz, clock_mhz)
            self.clock_mhz = self.pll[-1]
        else:
            self.pll = ecp5_pll(osc_mhz, clock_mhz)
            self.clock_mhz = self.pll[-1]
        self.baud = baud
        self.divisor = divisor_for(self.clock_mhz * 1e6, baud, max_baud)
        # A USB bridge sends a frame in packets, with gaps of up to a millisecond
        # or so between them: a frame is given up after 5 ms of quiet, never
        # fewer than the link's 64 bit times.
        self.system = EieSystem(config, self.divisor, image,
                                timeout_bits=max(64, round(baud * QUIET_S)))

    def elaborate(self, platform):
        m = Module()
        m.submodules.system = system = self.system
        uart = platform.request("uart", 0)
        m.d.comb += [system.rx.eq(uart.rx.i), uart.tx.o.eq(system.tx)]
        if self.pll is None:
            return m  # the platform's own clock domain, from the oscillator
        m.domains.sync = cd_sync = ClockDomain("sync")
        m.domains.por = cd_por = ClockDomain("por", reset_less=True)
        locked = Signal()
        if self.family == "ice40":
            # The iCEBreaker's clock pin is the PLL's own pad: the PLL must
            # take the raw pin (SB_PLL40_PAD), or it disables that input.
            divr, divf, divq, filt, _ = self.pll
            m.submodules.pll = Instance(
                "SB_PLL40_PAD", p_FEEDBACK_PATH="SIMPLE", p_DIVR=divr, p_DIVF=divf,
                p_DIVQ=divq, p_FILTER_RANGE=filt,
                i_PACKAGEPIN=platform.request(platform.default_clk, dir="-").io, i_RESETB=1,
                i_BYPASS=0, o_PLLOUTGLOBAL=cd_sync.clk, o_LOCK=locked)
        else:
            clk_in = platform.request(platform.default_clk).i
            clki, fb, op, _ = self.pll
            m.submodules.pll = Instance(
                "EHXPLLL", p_CLKI_DIV=clki, p_CLKFB_DIV=fb, p_CLKOP_DIV=op,
                p_CLKOP_ENABLE="ENABLED", p_FEEDBK_PATH="CLKOP", p_CLKOP_CPHASE=op - 1,
                p_CLKOP_FPHASE=0, p_OUTDIVIDER_MUXA="DIVA",
                i_CLKI=clk_in, i_CLKFB=ClockSignal("sync"), i_RST=0, i_STDBY=0,
                i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1,
                i_PHASELOADREG=1, i_PLLWAKESYNC=0, i_ENCLKOP=0,
                o_CLKOP=cd_sync.clk, o_LOCK=locked)
        platform.add_clock_constraint(cd_sync.clk, self.clock_mhz * 1e6)
        # The system is held in reset until the PLL locks, and 15 us more:
        # iCE40 block RAMs read as zero for about 3 us after configuration.
        # The counter itself has no reset, or it would hold itself.
        m.d.comb += cd_por.clk.eq(cd_sync.clk)
        delay = max(15, int(15e-6 * self.clock_mhz * 1e6))
        hold = Signal(range(delay + 1), init=delay)
        with m.If(~locked):
            m.d.por += hold.eq(delay)
        with m.Elif(hold != 0):
            m.d.por += hold.eq(hold - 1)
        m.d.comb += cd_sync.rst.eq(hold != 0)
        return m
