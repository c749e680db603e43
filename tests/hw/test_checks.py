"""The shared parameter checks (hw/checks.py, hw/array.py), the UART's base and
the fetcher's counted figures."""

import pytest

from hw.array import check_dsp, check_requantize
from hw.checks import check_int
from hw.eie.config import EieConfig
from hw.eie.fetcher import WordFetcher, fetch_timing
from hw.mac import MacArray
from hw.uart import UartRx, UartTx
from hw.xnor import XnorArray
from sw.golden import cycles


@pytest.mark.parametrize("value", [0, 9, True, 2.0, "4"])
def test_check_int_wrong(value):
    with pytest.raises(ValueError) as info:
        check_int("lane count", value, 1, 8, "--lanes")
    assert str(info.value) == (f"lane count must be an integer from 1 to 8, not {value!r} "
                               f"(option --lanes)")


def test_check_int_accepts_the_range():
    for value in (1, 8):
        check_int("lane count", value, 1, 8, "--lanes")


def test_check_dsp_defaults_to_all_and_caps():
    assert check_dsp(None, 12) == 12
    assert check_dsp(100, 12) == 12
    assert check_dsp(5, 12) == 5


def test_check_requantize_raw_skips_the_checks():
    # Without a requantize stage the results are the raw accumulator.
    assert check_requantize(False, 99, 1, acc_bits=20, act_bits=8, coef_bits=8) == (0, 20)
    assert check_requantize(True, None, None, acc_bits=20, act_bits=8, coef_bits=6) == (5, 8)
    with pytest.raises(ValueError, match=r"requantize shift must be an integer from 0 to 20, "
                                         r"not 21 \(option --shift\)"):
        check_requantize(True, 21, None, acc_bits=20, act_bits=8, coef_bits=8)


def test_lane_arrays_macs():
    assert MacArray(lanes=3, width=5).macs == MacArray(lanes=3, width=5).multipliers == 15
    assert XnorArray(lanes=2, width=7).macs == 14


@pytest.mark.parametrize("cls", [UartRx, UartTx])
def test_uart_init(cls):
    assert cls(16).divisor == 16


@pytest.mark.parametrize("cls", [UartRx, UartTx])
@pytest.mark.parametrize("divisor", [3, 4.0])
def test_uart_init_wrong_divisor(cls, divisor):
    with pytest.raises(ValueError) as info:
        cls(divisor)
    assert str(info.value) == f"divisor must be an integer >= 4 cycles a bit, not {divisor!r}"


@pytest.mark.parametrize("spram", [False, True])
@pytest.mark.parametrize("sequential_scan", [False, True])
def test_cycle_model_takes_the_fetchers_figures(spram, sequential_scan):
    config = EieConfig(spram=spram, sequential_scan=sequential_scan)
    figures = fetch_timing(config)
    assert cycles.fetch_figures(sequential_scan, spram) == figures
    fetcher = WordFetcher(config)
    assert figures == {"latency": fetcher.latency, "slots": fetcher.slots}


def test_cycle_model_names_come_from_the_hardware():
    assert cycles.FETCH_LATENCY == fetch_timing(EieConfig())["latency"]
    assert cycles.FETCH_SLOTS == fetch_timing(EieConfig())["slots"]
    assert cycles.WRITEBACK_LATENCY == cycles.pe_figures()["writeback"]
    with pytest.raises(AttributeError):
        cycles.NO_SUCH_FIGURE
