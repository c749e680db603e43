"""Asynchronous serial (UART, 8 data bits, no parity, one stop bit)."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx", "divisor_for"]


def divisor_for(clock_hz, baud, max_baud=None):
    """Clock cycles per bit, refusing rates the clock cannot make within 2%.

    A clock makes ``clock_hz / d`` baud for each whole divisor ``d`` of at
    least 4. A refused rate is answered with the nearest of those, two above
    and two below it, to the nearest baud (within half a baud of exact), none
    over ``max_baud`` (the fastest the serial bridge on the other end
    carries): the user picks one the clock makes exactly.

    Parameters
    ----------
    clock_hz : float
    baud : int
    max_baud : int, optional
        Only to keep the suggestions within what the bridge carries; the
        caller refuses a ``baud`` over it.

    Returns
    -------
    int
        ``round(clock_hz / baud)``, at least 4.
    """
    if baud <= 0 or clock_hz <= 0:
        raise ValueError(f"baud rate and clock must be positive, not {baud} and {clock_hz}")
    divisor = round(clock_hz / baud)
    if divisor < 4:
        raise ValueError(f"a {clock_hz / 1e6:g} MHz clock cannot make {baud} baud "
                         f"(under 4 cycles a bit; its fastest is {round(clock_hz / 4)} baud, "
                         "divisor 4); lower --baud")
    error = abs(clock_hz / divisor - baud) / baud
    if error > 0.02:
        near = _rates_near(clock_hz, baud, max_baud)
        raise ValueError(f"{baud} baud is {100 * error:.2f}% off at {clock_hz / 1e6:g} MHz "
                         f"(limit 2%); rates this clock makes near it: {near}; "
                         "choose one with --baud")
    return divisor


def _rates_near(clock_hz, baud, max_baud):
    """``clock_hz / d`` for the two divisors above and the two below
    ``clock_hz / baud``, fastest first: ``"3333333 (divisor 15), ..."``."""
    ratio = clock_hz / baud
    faster = [d for d in range(int(ratio), int(ratio) - 2, -1)
              if d >= 4 and (max_baud is None or clock_hz / d <= max_baud)]
    slower = [d for d in range(int(ratio) + 1, int(ratio) + 3)
              if max_baud is None or clock_hz / d <= max_baud]
    return ", ".join(f"{round(clock_hz / d)} (divisor {d})"
                     for d in sorted(faster + slower))


class _Uart(wiring.Component):
    """What the receiver and the transmitter share: the bit time, ``divisor``
    clock cycles (validated), and ports by annotation."""

    def __init__(self, divisor):
        if not isinstance(divisor, int) or divisor < 4:
            raise ValueError(f"divisor must be an integer >= 4 cycles a bit, not {divisor!r}")
        self._divisor = divisor
        super().__init__()

    @property
    def divisor(self):
        """Clock cycles per bit."""
        return self._divisor


class UartRx(_Uart):
    """Receives bytes from a serial line.

    The line is synchronized (two flip-flops), a start bit is confirmed at
    its middle, and the data bits are sampled at theirs, every ``divisor``
    cycles. A byte whose stop bit is low is dropped and counted as a framing
    error; a byte that finds the previous one still untaken is dropped and
    counted as an overrun. Nothing the line does can stop the receiver.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (``divisor_for(clock_hz, baud)``), at least 4.

    Ports
    -----
    rx : In(1)
        The line, idle high.
    o : Out(stream) of 8 bits
        Each byte, at the middle of its stop bit.
    framing_error, overrun : Out(1)
        One-cycle pulses.
    """

    rx: In(1, init=1)
    o: Out(stream.Signature(8))
    framing_error: Out(1)
    overrun: Out(1)

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1)
        timer = Signal(range(d))
        bit = Signal(range(10))
        shift = Signal(8)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    m.d.sync += timer.eq(d // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Elif(line):
                    m.next = "IDLE"  # a glitch, not a start bit
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(d - 1), shift.eq(Cat(shift[1:], line)),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    with m.If(~line):
                        m.d.comb += self.framing_error.eq(1)
                        m.next = "BREAK"
                    with m.Elif(self.o.valid & ~self.o.ready):
                        m.d.comb += self.overrun.eq(1)
                        m.next = "IDLE"
                    with m.Else():
                        m.d.sync += [self.o.payload.eq(shift), self.o.valid.eq(1)]
                        m.next = "IDLE"
            with m.State("BREAK"):
                # A low stop bit: wait for the line to go idle before looking
                # for the next start bit.
                with m.If(line):
                    m.next = "IDLE"
        return m


class UartTx(_Uart):
    """Sends bytes on a serial line: start bit, 8 data bits LSB first, stop bit.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit, at least 4.

    Ports
    -----
    i : In(stream) of 8 bits
        Taken when the previous byte's stop bit is done; one byte every
        ``10 x divisor`` cycles.
    tx : Out(1)
        The line, idle high.
    """

    i: In(stream.Signature(8))
    tx: Out(1, init=1)

    def elaborate(self, platform):
        m = Module()
        d = self._divisor
        timer = Signal(range(d))
        bits = Signal(9)  # still to send after the current one, LSB first
        left = Signal(range(11))  # bit times still to finish
        with m.If(left == 0):
            m.d.comb += self.i.ready.eq(1)
            with m.If(self.i.valid):
                m.d.sync += [self.tx.eq(0), bits.eq(Cat(self.i.payload, 1)), left.eq(10),
                             timer.eq(d - 1)]
        with m.Elif(timer != 0):
            m.d.sync += timer.eq(timer - 1)
        with m.Else():
            # Shifting ones in leaves the line high after the stop bit.
            m.d.sync += [self.tx.eq(bits[0]), bits.eq(Cat(bits[1:], 1)), left.eq(left - 1),
                         timer.eq(d - 1)]
        return m
