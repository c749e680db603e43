"""The cores ``eiegen generate``, ``sim`` and ``synth`` offer, by name.

A core's flow module declares it at its bottom, ``register(Core(...))``, the
way hls4ml registers a backend: its name and help line, its options, how
they become the flow's parameters, and its three commands. The command line
builds the three verbs from ``cores()`` in one loop, so adding a core
touches no CLI module: its flow module registers it, and ``BUILTIN`` names
that module.

Flow modules import Amaranth generators and testbenches, so ``BUILTIN``
names them rather than importing them: a module is imported when one of
its cores is first asked for.
"""

import importlib
import re
from dataclasses import dataclass
from typing import Any, Callable

__all__ = ["Core", "Registry", "BUILTIN", "REGISTRY", "register", "core", "cores"]

#: The built-in cores and the flow modules that register them, in the order
#: ``eiegen generate|sim|synth --help`` lists them.
BUILTIN = {"mac": "sw.flows.mac", "eie": "sw.flows.eie", "xnor": "sw.flows.xnor",
           "ternary": "sw.flows.ternary", "winograd": "sw.flows.winograd",
           "dense": "sw.flows.dense", "network": "sw.flows.network"}


@dataclass(frozen=True)
class Core:
    """One core of ``eiegen generate|sim|synth CORE``.

    The command line adds what every core of a verb takes around the core's
    own options: ``generate`` an ``--out`` folder (``DIR/NAME.v``,
    ``DIR/NAME.json``), ``sim`` the stall and report options after the core's
    data files, ``synth`` ``--target`` and ``--report``. A command gets
    ``params(args)``, computed first, so bad options fail before any file
    is read.

    Parameters
    ----------
    name : str
        The CORE word on the command line, and the stem of ``generate``'s files.
    help : str
        Its line in ``eiegen VERB --help``.
    options : callable
        ``options(parser, verb)`` adds the core's options to ``verb``'s parser.
    params : callable
        ``params(args)``: the flow's parameters from the parsed options
        (``EiegenError`` or ``ValueError`` if they contradict each other).
    generate, simulate, synthesize : callable
        ``command(args, params)``: ``eiegen generate``, ``sim`` and ``synth``.
    sim_arguments : callable
        ``sim_arguments(parser)`` adds the data files ``sim`` reads and writes.
    sim_report : str
        The help of ``sim``'s ``--report``: what the report holds.
    """

    name: str
    help: str
    options: Callable[[Any, str], None]
    params: Callable[[Any], Any]
    generate: Callable[[Any, Any], None]
    simulate: Callable[[Any, Any], None]
    synthesize: Callable[[Any, Any], None]
    sim_arguments: Callable[[Any], None]
    sim_report: str = "R.json: cycles, mismatches, throughput"

    def __post_init__(self):
        if not isinstance(self.name, str) or not re.fullmatch(r"[a-z][a-z0-9_-]*", self.name):
            raise ValueError(f"core name must be a lowercase word, not {self.name!r}")

    def command(self, verb):
        """The command of ``verb``: ``generate``, ``sim`` or ``synth``."""
        commands = {"generate": self.generate, "sim": self.simulate, "synth": self.synthesize}
        if verb not in commands:
            raise ValueError(f"verb must be generate, sim or synth, not {verb!r}")
        return commands[verb]


class Registry:
    """Cores by name; ``builtin`` maps the names of cores registered by a
    module to that module, imported the first time one is asked for."""

    def __init__(self, builtin=None):
        self._builtin = dict(builtin or {})
        self._cores = {}

    def register(self, core):
        """Add ``core``; its name must be new. Returns ``core``."""
        if not isinstance(core, Core):
            raise TypeError(f"register takes a Core, not {core!r}")
        if core.name in self._cores:
            raise ValueError(f"core {core.name!r} is already registered")
        self._cores[core.name] = core
        return core

    def names(self):
        """The cores' names: the built-in ones in order, then the others as registered."""
        return list(self._builtin) + [name for name in self._cores if name not in self._builtin]

    def core(self, name):
        """The core called ``name``, importing its module if it is built in."""
        if name not in self._cores and name in self._builtin:
            importlib.import_module(self._builtin[name])
            if name not in self._cores:
                raise LookupError(f"{self._builtin[name]} does not register core {name!r}")
        if name not in self._cores:
            raise LookupError(f"no core {name!r}; the cores are {', '.join(self.names())}")
        return self._cores[name]

    def cores(self):
        """Every core, in ``names()`` order."""
        return [self.core(name) for name in self.names()]


#: The registry of the ``eiegen`` command line; the flow modules register into it.
REGISTRY = Registry(BUILTIN)
register = REGISTRY.register
core = REGISTRY.core
cores = REGISTRY.cores
