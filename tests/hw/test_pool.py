"""The pooling unit's divider and reciprocal table against sw.spec.numerics,
exhaustively for small widths, and its constructor's checks (Amaranth simulator)."""

import numpy as np
import pytest

from hw.pool import MeanDivider, PoolUnit, reciprocal_table
from sw.spec.numerics import average, signed_range

from sw.flows.testbench.amaranth import run_stream


@pytest.mark.parametrize("max_count", [1, 2, 3, 5, 7, 9, 12, 16])
@pytest.mark.parametrize("max_dividend", [0, 1, 6, 100, 1023])
def test_reciprocal_table_divides_every_dividend(max_count, max_dividend):
    shift, multipliers = reciprocal_table(max_count, max_dividend)
    n = np.arange(max_dividend + 1, dtype=np.int64)
    for d in range(1, max_count + 1):
        assert multipliers[d] == -(-(1 << shift) // d)
        assert ((n * multipliers[d]) >> shift).tolist() == (n // d).tolist()


def test_reciprocal_table_is_the_smallest_that_works():
    # One shift less divides some dividend wrongly, for some divisor.
    shift, _ = reciprocal_table(9, 9 * 128 + 4)
    n = np.arange(9 * 128 + 5, dtype=np.int64)
    assert any((((n * -(-(1 << (shift - 1)) // d)) >> (shift - 1)) != n // d).any()
               for d in range(1, 10))


@pytest.mark.parametrize("terms,value_bits", [(1, 3), (2, 2), (3, 3), (4, 3), (9, 3), (7, 4)])
def test_mean_divider_matches_average(terms, value_bits):
    dut = MeanDivider(terms, value_bits)
    lo, hi = signed_range(value_bits)
    totals = range(terms * lo, terms * hi + 1)
    beats = [{"total": t, "count": c} for t in totals for c in range(1, terms + 1)]
    out = run_stream(dut, beats, len(beats), seed=terms, max_cycles=20 * len(beats) + 100)
    expect = average([b["total"] for b in beats], [b["count"] for b in beats])
    # A total of more values than its count may leave the range: saturated.
    assert out == np.clip(expect, lo, hi).tolist()
    assert dut.latency == 3


def test_latency_counts_the_stages():
    # 3 (total, coarse, act) + tree stages (one a level) + 3 (the divider).
    assert PoolUnit(window=1).latency == 6
    assert PoolUnit(window=4).latency == 8
    assert PoolUnit(window=9).latency == 10
    assert PoolUnit(window=64).latency == 12


def test_init_fields():
    unit = PoolUnit(window=9, acc_bits=20, bias_bits=12, act_bits=6, max_shift=9)
    assert unit.params == dict(window=9, acc_bits=20, bias_bits=12, act_bits=6, max_shift=9)
    fields = {name: field.width for name, field in unit.i.payload.shape()}
    assert fields == {"acc": 9 * 20, "mask": 9, "count": 4, "bias": 12, "shift": 4, "avg": 1,
                      "relu": 1}
    assert unit.o.payload.shape().width == 6
    assert PoolUnit(window=1, max_shift=0).i.payload.shape()["shift"].width == 1


@pytest.mark.parametrize("kwargs,message", [
    (dict(window=0), "window size must be an integer from 1 to 64, not 0 (option --window)"),
    (dict(window=65), "window size must be an integer from 1 to 64, not 65 (option --window)"),
    (dict(acc_bits=1), "accumulator width must be an integer from 2 to 62, not 1 "
                       "(option --acc-bits)"),
    (dict(bias_bits=0), "bias width must be an integer from 1 to 62, not 0 (option --bias-bits)"),
    (dict(act_bits=33), "activation width must be an integer from 2 to 32, not 33 "
                        "(option --act-bits)"),
    (dict(acc_bits=24, bias_bits=16, max_shift=26),
     "largest requantize shift must be an integer from 0 to 25, not 26 (option --max-shift)"),
    (dict(max_shift=-1), "largest requantize shift must be an integer from 0 to 25, not -1 "
                         "(option --max-shift)"),
])
def test_init_wrong(kwargs, message):
    with pytest.raises(ValueError) as info:
        PoolUnit(**kwargs)
    assert str(info.value) == message


@pytest.mark.parametrize("mode,relu,count_pads", [("max", False, False), ("max", True, False),
                                                  ("avg", False, False), ("avg", True, True),
                                                  ("avg", False, True)])
def test_pool_unit_matches_golden(mode, relu, count_pads):
    # A whole small layer, window by window as the flow feeds it, against
    # pool2d(tail(...)); accumulators far beyond the activations saturate.
    from sw.flows.pool import fit_beats, golden, windows
    rng = np.random.default_rng(len(mode) + relu + 2 * count_pads)
    acc = rng.integers(-3000, 3000, size=(1, 2, 5, 5))
    bias = rng.integers(-200, 200, size=2)
    layer = dict(shift=4, relu=relu, mode=mode, kernel=(3, 3), stride=(2, 2), pads=(1, 1, 1, 1),
                 count_pads=count_pads)
    dut = PoolUnit(window=9, acc_bits=14, bias_bits=9, act_bits=5, max_shift=6)
    beats = fit_beats(windows(acc, bias, **layer), 9)
    out = run_stream(dut, beats, len(beats), seed=3)
    expect = golden(acc, bias, act_bits=5, **layer)
    assert out == expect.reshape(-1).tolist()
