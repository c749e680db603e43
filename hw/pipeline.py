"""Valid/ready pipeline registers, the one way every eiegen datapath is staged.

A stage holds its data until the next stage takes it, and takes new data
whenever it is empty or emptying: ``ready = ~valid | ready_downstream``.
Bubbles are squeezed out and a full pipeline moves one beat per cycle; the
ready path is combinational through the stages, which is short here (a few
stages of one gate each).
"""

from amaranth.hdl import Signal

__all__ = ["register_stage", "accumulate_stage"]


def register_stage(m, valid, ready, values, *, name):
    """Insert one register stage after a valid/ready source.

    Parameters
    ----------
    m : Module
    valid : Value
        The source's valid.
    ready : Signal
        The source's ready; driven here.
    values : list of (Signal, Value)
        Each register and the value it loads from the source's data.
    name : str
        Prefix of the stage's signals in the generated Verilog.

    Returns
    -------
    (valid, ready) : (Signal, Signal)
        The stage's valid, and its ready for the caller to drive from the
        next stage. Latency one cycle, throughput one beat per cycle.
    """
    stage_valid = Signal(name=f"{name}_valid")
    stage_ready = Signal(name=f"{name}_ready")
    take = ~stage_valid | stage_ready
    m.d.comb += ready.eq(take)
    with m.If(take):
        m.d.sync += stage_valid.eq(valid)
        m.d.sync += [reg.eq(value) for reg, value in values]
    return stage_valid, stage_ready


def accumulate_stage(m, valid, ready, last, updates, *, name):
    """A register stage that accumulates over beats and then holds the result.

    Unlike ``register_stage`` it loads only on valid beats (a bubble must not
    be added in), and its valid rises only after a ``last`` beat: until then
    its registers hold a running value, afterwards the finished one, until
    the next stage takes it.

    Parameters
    ----------
    m : Module
    valid, ready : Value, Signal
        The source's valid, and its ready (driven here).
    last : Value
        The source's flag that ends a dot product.
    updates : list of (Signal, Value)
        Each register and what it loads on an accepted beat (the value
        typically depends on the register itself and on a ``first`` flag).
    name : str

    Returns
    -------
    (done, done_ready) : (Signal, Signal)
        Valid of the finished result, and the ready for the caller to drive.
    """
    done = Signal(name=f"{name}_done")
    done_ready = Signal(name=f"{name}_ready")
    take = ~done | done_ready
    m.d.comb += ready.eq(take)
    with m.If(take):
        m.d.sync += done.eq(valid & last)
        with m.If(valid):
            m.d.sync += [reg.eq(value) for reg, value in updates]
    return done, done_ready
