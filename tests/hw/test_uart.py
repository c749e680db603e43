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
