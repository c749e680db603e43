"""The UART receiver and transmitter in Amaranth's simulator."""

import random

import pytest
from amaranth.hdl import Module, Signal
from amaranth.sim import Simulator

from hw.uart import UartRx, UartTx, divisor_for


@pytest.mark.parametrize("divisor", [4, 7])
def test_uart_loopback_and_framing_error(divisor):
    m = Module()
    m.submodules.tx = tx = UartTx(divisor)
    m.submodules.rx = rx = UartRx(divisor)
    break_line = Signal()  # holds the line low, to break a stop bit
    m.d.comb += [rx.rx.eq(tx.tx & ~break_line), rx.o.ready.eq(1)]
    sent = [random.Random(divisor).randrange(256) for _ in range(12)]
    broken = 5
    got, errors = [], []

    async def bench(ctx):
        for k, byte in enumerate(sent):
            ctx.set(tx.i.payload, byte)
            ctx.set(tx.i.valid, 1)
            await ctx.tick().until(tx.i.ready)
            ctx.set(tx.i.valid, 0)
            for cycle in range(11 * divisor):
                # The stop bit is the tenth bit time.
                ctx.set(break_line, k == broken and 9 * divisor < cycle < 10 * divisor + 2)
                if ctx.get(rx.o.valid):
                    got.append(ctx.get(rx.o.payload))
                if ctx.get(rx.framing_error):
                    errors.append(k)
                await ctx.tick()
            ctx.set(break_line, 0)

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == sent[:broken] + sent[broken + 1:]
    assert errors == [broken]


def test_divisor_for_refuses_impossible_rates():
    assert divisor_for(12e6, 115200) == 104
    with pytest.raises(ValueError, match="lower --baud"):
        divisor_for(1e6, 1_000_000)
    with pytest.raises(ValueError, match="off at"):
        divisor_for(10e6, 1_000_000 * 10 / 4.5)


def test_divisor_for_names_the_rates_near_a_refused_one():
    with pytest.raises(ValueError) as refused:
        divisor_for(24e6, 2_800_000)
    assert str(refused.value) == (
        "2800000 baud is 4.76% off at 24 MHz (limit 2%); rates this clock makes near it: "
        "3428571 (divisor 7), 3000000 (divisor 8), 2666667 (divisor 9), 2400000 (divisor 10); "
        "choose one with --baud")
    # None over the bridge's limit; none under 4 cycles a bit.
    with pytest.raises(ValueError) as refused:
        divisor_for(50e6, 2_700_000, max_baud=2_800_000)
    assert "near it: 2777778 (divisor 18), 2631579 (divisor 19), 2500000 (divisor 20);" \
        in str(refused.value)
    with pytest.raises(ValueError) as refused:
        divisor_for(16e6, 3_700_000)
    assert "near it: 4000000 (divisor 4), 3200000 (divisor 5), 2666667 (divisor 6);" \
        in str(refused.value)
    with pytest.raises(ValueError, match=r"^a 1 MHz clock cannot make 1000000 baud \(under 4 "
                       r"cycles a bit; its fastest is 250000 baud, divisor 4\); lower --baud$"):
        divisor_for(1e6, 1_000_000)


@pytest.mark.parametrize("clock_hz, baud, divisor", [
    (24e6, 3_000_000, 8), (60e6, 3_000_000, 20), (50e6, 2_000_000, 25), (50e6, 921_600, 54),
    # 16.67 cycles: 2941176 baud, 1.96% off, inside the 2% a UART tolerates.
    (50e6, 3_000_000, 17)])
def test_divisor_for_fast_rates(clock_hz, baud, divisor):
    assert divisor_for(clock_hz, baud) == divisor
