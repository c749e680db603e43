"""The boards' serial rates: defaults, their UART divisors, and the rates
refused before any tool runs (no bitstream is built here)."""

import pytest

from boards.flow import BOARDS, board_baud, board_engine, board_top
from hw.eie.config import EieConfig
from sw.errors import EiegenError
from sw.spec.protocol import BAUD


def top_of(board, **options):
    # 2 PEs: the engine fits every board (the iCEBreaker's SPRAMs among them).
    return board_top(board, EieConfig(**board_engine(board, {"pes": 2})), None, **options)


@pytest.mark.parametrize("board, bridge, max_baud, baud, clock_mhz, divisor", [
    # FT2232H: 3 Mbaud is 8 cycles of the iCEBreaker's 24 MHz PLL clock.
    ("icebreaker", "FT2232H", 12_000_000, 3_000_000, 24.0, 8),
    # FT231X: 3 Mbaud is 18 cycles at the 54.17 MHz the PLL makes for 54 (0.31% off).
    ("ulx3s-85f", "FT231X", 3_000_000, 3_000_000, 25 / 6 * 13, 18),
    # The iCELink's USB CDC bridge: the protocol's default rate.
    ("icesugar-pro", "iCELink", 921_600, BAUD, 50.0, 434),
])
def test_board_defaults(board, bridge, max_baud, baud, clock_mhz, divisor):
    assert (BOARDS[board]["bridge"], BOARDS[board]["max_baud"]) == (bridge, max_baud)
    assert board_baud(board) == baud
    top = top_of(board)
    assert (top.baud, top.clock_mhz, top.divisor) == (baud, clock_mhz, divisor)


def test_ulx3s_pll_makes_its_clock_within_limits():
    from boards.top import ecp5_pll
    clki, fb, op, mhz = top_of("ulx3s-85f").pll
    # CLKOP = 25 MHz / CLKI_DIV x CLKFB_DIV, the VCO (CLKOP x CLKOP_DIV) in
    # the ECP5's 400-800 MHz; the phase detector at 3.125 MHz or more.
    assert (clki, fb, op, mhz) == ecp5_pll(25.0, 54.0) == (6, 13, 8, 25 / 6 * 13)
    assert ecp5_pll(25.0, 60.0) == (5, 12, 7, 60.0)  # 60 MHz, with --clock 60
    assert 25.0 / clki * fb == mhz and 400 <= mhz * op <= 800 and 25.0 / clki >= 3.125


def test_rates_overridden_within_the_bridge():
    assert top_of("icesugar-pro", baud=921_600).divisor == 54
    assert top_of("ulx3s-85f", clock_mhz=50, baud=2_000_000).divisor == 25
    assert top_of("icebreaker", baud=6_000_000).divisor == 4
    assert board_baud(None) == BAUD and board_baud(None, 9600) == 9600


@pytest.mark.parametrize("board, baud, message", [
    ("ulx3s-85f", 4_000_000, "the ULX3S's FT231X carries at most 3000000 baud, not 4000000; "
                             "lower --baud"),
    ("icebreaker", 12_500_000, "the iCEBreaker's FT2232H carries at most 12000000 baud, not "
                               "12500000; lower --baud"),
    ("icesugar-pro", 1_000_000, "the iCESugar-Pro's iCELink carries at most 921600 baud (a USB "
                                "CDC bridge, unreliable past that), not 1000000; lower --baud"),
    ("icesugar-pro", 0, "--baud must be a positive rate, not 0"),
])
def test_rates_the_bridge_cannot_carry_are_refused(board, baud, message):
    with pytest.raises(EiegenError) as refused:
        board_baud(board, baud)
    assert str(refused.value) == message
    with pytest.raises(EiegenError) as refused:
        top_of(board, baud=baud)
    assert str(refused.value) == message


def test_rates_the_clock_cannot_make_are_refused_with_those_near():
    with pytest.raises(ValueError) as refused:
        top_of("ulx3s-85f", clock_mhz=50, baud=2_700_000)
    # Within the FT231X's 3 Mbaud: 3125000 (divisor 16) is not offered.
    assert str(refused.value) == (
        "2700000 baud is 2.53% off at 50 MHz (limit 2%); rates this clock makes near it: "
        "2941176 (divisor 17), 2777778 (divisor 18), 2631579 (divisor 19), 2500000 (divisor 20); "
        "choose one with --baud")
    with pytest.raises(ValueError, match="^a 24 MHz clock cannot make 8000000 baud"):
        top_of("icebreaker", baud=8_000_000)
