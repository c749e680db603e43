"""The design space of ``eiegen explore``: a TOML file of axes, checked before any work.

A space names values for compression and for hardware, each key an axis (a
list of values; one value is an axis of one); the grid is the product of
every axis, or a seeded random sample of it::

    [compression]
    density = [[0.08, 0.09, 0.26], [0.04, 0.05, 0.2]]  # per layer, or one for all
    index_bits = [3, 4]            # codebook index bits
    act_bits = [16]                # activation width
    codebook_bits = [16]           # codebook entry width
    retrain_epochs = [1, 3]        # masked retraining epochs a pruning round

    [hardware]
    pes = [1, 2]
    queue_depth = [1, 4]
    entries_per_word = [2]
    target = ["icebreaker"]        # a synthesis target or a board; none: no synthesis
    seed = [1]                     # nextpnr placement seeds

    [measure]
    cycle_samples = 20             # eval inputs the cycle model and energy run on
    rtl_points = 1                 # points also run in Verilator, RTL = model asserted
    rtl_samples = 3                # inputs each of those runs

``quality`` (threshold = quality x the dense layer's standard deviation)
may replace ``density``. A bad file is refused in one line naming the key:
an unknown key, an empty axis, a value the hardware or the golden model
cannot take.
"""

import itertools
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sw.errors import EiegenError

__all__ = ["Space", "load_space", "COMPRESSION", "HARDWARE", "MEASURE", "target_of"]

#: Compression axes: key -> what it is (help and messages).
COMPRESSION = {
    "quality": "pruning quality per layer (threshold = quality x the layer's std)",
    "density": "target density per layer (fraction of weights kept)",
    "index_bits": "codebook index bits",
    "act_bits": "activation width",
    "codebook_bits": "codebook entry width",
    "retrain_epochs": "masked retraining epochs a pruning round",
}
#: Hardware axes (``EieConfig`` fields, the synthesis target, the nextpnr seed,
#: the clock a point must meet).
HARDWARE = {
    "pes": "PEs", "queue_depth": "activation queue depth",
    "entries_per_word": "sparse-matrix entries per memory word",
    "nnz_depth": "entries per PE the engine holds (default: sized to each model)",
    "spram": "sparse matrix in iCE40 SPRAM", "sequential_scan": "sequential activation scan",
    "target": "synthesis target or board", "seed": "nextpnr placement seed",
    "clock_mhz": "clock a point must meet (default: the board's, none for a bare target)",
}
#: Measurement settings (single values, not axes) and their defaults.
MEASURE = {"cycle_samples": 20, "rtl_points": 1, "rtl_samples": 3}

#: Boards the ``target`` axis takes: their out-of-context synthesis target.
BOARD_TARGETS = {"icebreaker": "ice40-up5k", "ulx3s-85f": "ecp5-85f"}


def target_of(name):
    """``(synthesis target, board or None)`` of a ``target`` value."""
    return (BOARD_TARGETS[name], name) if name in BOARD_TARGETS else (name, None)


@dataclass
class Space:
    """A checked space: its axes and measurement settings."""
    compression: dict  # key -> list of values
    hardware: dict
    measure: dict
    layers: int  # weighted layers of the network it was checked against

    def grid(self):
        """Every point, in a fixed order: ``{"compression": {...}, "hardware": {...}}``."""
        keys = [("compression", k) for k in self.compression] + \
               [("hardware", k) for k in self.hardware]
        values = [getattr(self, part)[key] for part, key in keys]
        for combo in itertools.product(*values):
            point = {"compression": {}, "hardware": {}}
            for (part, key), value in zip(keys, combo):
                point[part][key] = value
            yield point

    def size(self):
        return int(np.prod([len(v) for v in {**self.compression, **self.hardware}.values()]))

    def points(self, samples=None, seed=0):
        """The grid, or ``samples`` of its points drawn with ``seed`` (grid order kept)."""
        grid = list(self.grid())
        if samples is None:
            return grid
        if samples > len(grid):
            raise EiegenError(f"--samples {samples} is more than the {len(grid)} points of the "
                              f"grid: lower it, or drop --samples for the whole grid")
        chosen = np.random.default_rng(seed).choice(len(grid), samples, replace=False)
        return [grid[i] for i in sorted(chosen)]


def _refuse(path, message):
    raise EiegenError(f"space file {path}: {message}")


def _axis(path, part, key, value):
    """A key's value as an axis (a list), refused if empty."""
    values = value if isinstance(value, list) else [value]
    if not values:
        _refuse(path, f"{part}.{key} is an empty axis: give it at least one value")
    return values


def _per_layer(path, key, value, layers, check):
    """One value of a per-layer axis: a number for every layer, or a list of ``layers``."""
    values = value if isinstance(value, list) else [value] * layers
    if len(values) != layers:
        _refuse(path, f"compression.{key} value {value} has {len(values)} entries for the "
                      f"network's {layers} weighted layers: give one a layer, or one number")
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not check(v):
            _refuse(path, f"compression.{key} value {v!r} is impossible: "
                          + ("a density is a fraction in (0, 1]" if key == "density"
                             else "a quality is a number >= 0"))
    return [float(v) for v in values]


def _integer(path, name, value, lo, hi):
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        _refuse(path, f"{name} value {value!r} is impossible: an integer from {lo} to {hi}")
    return value


def _check_hardware(path, key, value):
    from hw.eie.config import EieConfig
    from sw.flows.toolchain import TARGETS
    name = f"hardware.{key}"
    if key == "target":
        known = list(TARGETS) + list(BOARD_TARGETS)
        if value not in known:
            _refuse(path, f"{name} value {value!r} is unknown: choose from {', '.join(known)}")
        return value
    if key in ("spram", "sequential_scan"):
        if not isinstance(value, bool):
            _refuse(path, f"{name} value {value!r} is impossible: true or false")
        return value
    if key == "seed":
        return _integer(path, name, value, 0, 2 ** 31 - 1)
    if key == "clock_mhz":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            _refuse(path, f"{name} value {value!r} is impossible: a clock in MHz above 0")
        return float(value)
    if isinstance(value, bool) or not isinstance(value, int):
        _refuse(path, f"{name} value {value!r} is impossible: an integer")
    try:  # the generator's own ranges
        EieConfig(**{key: value}).validate()
    except ValueError as error:
        _refuse(path, f"{name} value {value!r} is impossible: "
                      + re.sub(r" \(option --[\w-]+\)", "", str(error)))
    return value


def load_space(path, layers, *, bundled=True):
    """Read and check the space file at ``path`` for a network of ``layers``
    weighted layers; ``bundled``: its data can retrain (``retrain_epochs``)."""
    from sw.compress.pipeline import check_format
    path = Path(path)
    if not path.is_file():
        _refuse(path, "not found" if not path.exists() else "is a folder, not a TOML file")
    try:
        text = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        _refuse(path, f"is not valid TOML ({str(error).splitlines()[0]})")
    sections = {"compression": COMPRESSION, "hardware": HARDWARE, "measure": MEASURE}
    for part, value in text.items():
        if part not in sections:
            _refuse(path, f"unknown section [{part}]: the sections are "
                          f"{', '.join(sections)}")
        if not isinstance(value, dict):
            _refuse(path, f"{part} must be a [{part}] table of keys")
        for key in value:
            if key not in sections[part]:
                _refuse(path, f"unknown key {part}.{key}: [{part}] takes "
                              f"{', '.join(sections[part])}")
    compression = {k: _axis(path, "compression", k, v)
                   for k, v in text.get("compression", {}).items()}
    hardware = {k: _axis(path, "hardware", k, v) for k, v in text.get("hardware", {}).items()}
    if "quality" in compression and "density" in compression:
        _refuse(path, "compression.quality and compression.density both given: a layer's "
                      "pruning is set by one of them")
    for key in ("quality", "density"):
        if key in compression:
            check = (lambda v: 0 < v <= 1) if key == "density" else (lambda v: v >= 0)
            compression[key] = [_per_layer(path, key, v, layers, check)
                                for v in compression[key]]
    widths = {"index_bits": ("index_bits", "codebook index bits"),
              "act_bits": ("act_bits", "activation width"),
              "codebook_bits": ("codebook_bits", "codebook width")}
    for key, (field, _) in widths.items():
        for v in compression.get(key, []):
            fmt = dict(pes=1, index_bits=4, z_bits=4, act_bits=16, codebook_bits=16,
                       bias_bits=32)
            try:
                check_format(**{**fmt, field: v})
            except ValueError as error:
                _refuse(path, f"compression.{key} value {v!r} is impossible: "
                              + re.sub(r" \(option --[\w-]+\)", "", str(error)))
    for v in compression.get("retrain_epochs", []):
        _integer(path, "compression.retrain_epochs", v, 0, 1000)
        if v and not bundled:
            _refuse(path, f"compression.retrain_epochs value {v} needs labelled training "
                          f"data: with --weights there is none, give 0")
    for key, values in hardware.items():
        hardware[key] = [_check_hardware(path, key, v) for v in values]
        if len(set(map(repr, values))) != len(values):
            _refuse(path, f"hardware.{key} names a value twice: each value once")
    for key, values in compression.items():
        if len(set(map(repr, values))) != len(values):
            _refuse(path, f"compression.{key} names a value twice: each value once")
    if not compression and not hardware:
        _refuse(path, "names no axis: give [compression] or [hardware] keys (docs/explore.md)")
    measure = dict(MEASURE)
    for key, value in text.get("measure", {}).items():
        measure[key] = _integer(path, f"measure.{key}", value,
                                1 if key != "rtl_points" else 0, 100_000)
    return Space(compression, hardware, measure, layers)
