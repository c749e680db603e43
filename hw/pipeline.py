"""Valid/ready pipeline registers, the one way every eiegen datapath is staged.

A stage holds its data until the next stage takes it, and takes new data
whenever it is empty or emptying: ``ready = ~valid | ready_downstream``.
Bubbles are squeezed out and a full pipeline moves one beat per cycle; the
ready path is combinational through the stages, which is short here (a few
stages of one gate each).
"""

from amaranth.hdl import Signal

__all__ = ["register_stage"]


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
