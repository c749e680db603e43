"""Pipeline stages, the one way every eiegen datapath is staged and timed.

A valid/ready stage holds its data until the next stage takes it, and takes
new data whenever it is empty or emptying: ``ready = ~valid | ready_downstream``.
Bubbles are squeezed out and a full pipeline moves one beat per cycle; the
ready path is combinational through the stages, which is short here (a few
stages of one gate each).

Every stage is built on a ``Path``, which counts it: a component's latency is
the count its generator reaches (``Pipelined``), never a number written down
beside the code, so the two cannot drift apart.
"""

from amaranth.hdl import Fragment, Signal

__all__ = ["Path", "Pipelined", "register_stage", "accumulate_stage"]


class Path:
    """The register stages along one datapath, counted as they are built.

    Parameters
    ----------
    prefix : str, optional
        Stages made by ``stage()`` are named ``{prefix}{k}``, ``k`` counting
        from 1 in the order data flows (the EIE units: ``p1``, ``s2``, ...).

    Attributes
    ----------
    cycles : int
        Cycles from the path's input to its output: one a register stage,
        plus the latency of each component passed ``through``.
    """

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.cycles = 0

    def stage(self):
        """Count one register stage; return its name, the prefix of its signals."""
        self.cycles += 1
        return f"{self.prefix}{self.cycles}"

    def signal(self, stage, what, shape=1, **kwargs):
        """A register of ``stage`` named ``{stage}_{what}`` in the generated Verilog."""
        return Signal(shape, name=f"{stage}_{what}", **kwargs)

    def through(self, component):
        """Count a sub-component's latency (it is on the path); return it."""
        self.cycles += component.latency
        return component


class Pipelined:
    """Mix-in: ``latency`` is the ``Path`` count of the design as built.

    A subclass writes ``build(platform, path)`` (its ``elaborate``, building
    every stage on ``path``). Asked before the design is generated,
    ``latency`` builds it to count; the design built is kept and handed to
    the next ``elaborate`` without a platform, so nothing is built twice.

    Attributes
    ----------
    stage_prefix : str
        Prefix of the stages ``path.stage()`` names.
    """

    stage_prefix = ""
    _latency = None
    _counted = None

    def build(self, platform, path):
        raise NotImplementedError

    def elaborate(self, platform):
        counted, self._counted = self._counted, None
        if counted is not None and platform is None:
            return counted
        path = Path(self.stage_prefix)
        m = self.build(platform, path)
        self._latency = path.cycles
        return m

    def count(self):
        """Build the design, if not yet built, so that what it counts is known."""
        if self._latency is None:
            # A fragment, not the module: its sub-components are marked used.
            self._counted = Fragment.get(self.elaborate(None), None)

    @property
    def latency(self):
        """Cycles from an input accepted to its result valid: the stages built."""
        self.count()
        return self._latency


def _handshake(m, ready, *, name, valid_name, path):
    """A stage's valid/ready pair, counted on ``path``: its valid register
    ``{name}_{valid_name}``, its ready ``{name}_ready`` (for the caller to
    drive from the next stage) and ``take``, when the stage loads: it is
    empty or being emptied. ``ready`` (the source's) is driven with ``take``."""
    path.stage()
    stage_valid = Signal(name=f"{name}_{valid_name}")
    stage_ready = Signal(name=f"{name}_ready")
    take = ~stage_valid | stage_ready
    m.d.comb += ready.eq(take)
    return stage_valid, stage_ready, take


def register_stage(m, valid, ready, values, *, name, path):
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
    path : Path
        The datapath the stage is on; counts it.

    Returns
    -------
    (valid, ready) : (Signal, Signal)
        The stage's valid, and its ready for the caller to drive from the
        next stage. Latency one cycle, throughput one beat per cycle.
    """
    stage_valid, stage_ready, take = _handshake(m, ready, name=name, valid_name="valid",
                                                path=path)
    with m.If(take):
        m.d.sync += stage_valid.eq(valid)
        m.d.sync += [reg.eq(value) for reg, value in values]
    return stage_valid, stage_ready


def accumulate_stage(m, valid, ready, last, updates, *, name, path):
    """A register stage that accumulates over beats and then holds the result.

    Unlike ``register_stage`` it loads only on valid beats (a bubble must not
    be added in), and its valid rises only after a ``last`` beat: until then
    its registers hold a running value, afterwards the finished one, until
    the next stage takes it, so no extra copy is needed.

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
    path : Path
        Counts the stage: a ``last`` beat's result is valid a cycle later.

    Returns
    -------
    (done, done_ready) : (Signal, Signal)
        Valid of the finished result, and the ready for the caller to drive.
    """
    done, done_ready, take = _handshake(m, ready, name=name, valid_name="done", path=path)
    with m.If(take):
        m.d.sync += done.eq(valid & last)
        with m.If(valid):
            m.d.sync += [reg.eq(value) for reg, value in updates]
    return done, done_ready
