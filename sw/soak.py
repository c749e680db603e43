"""``eiegen soak``: random configurations of every core, random data and random
stalls, run in Verilator and compared with the golden models.

A case is named ``CORE:SPACE:CONFIG:DATA``: the core; the space its configuration
is drawn from ("ci": a few fixed configurations, so a short run builds little;
"wide": every parameter drawn); the seed of the configuration; and the seed of
the data and the stalls. The name alone rebuilds the same configuration, data
and stalls, so a failure replays from it: ``eiegen soak --replay eie:wide:12:345``.

Each core's configuration and data generators (``SOAKERS``) put in the hard
cases: for the EIE engine, PE counts that are not powers of two, queues of
one entry, relative indices of 1 bit (padding entries everywhere), empty
columns and layers, shifts of 0 (saturation) and past the product's width,
the memories single-ported (SPRAM) or baked in; for the arrays, lanes and
widths that do not divide the layer, all-zero and extreme values; for the
Winograd tile, both domains and pruned positions; the dense engine (the MAC
array running a model) gets the EIE engine's models. Stalls are drawn per case
on both streams, from none to nine cycles in ten.
"""

import json
import math
import time
from dataclasses import dataclass, field

import numpy as np

from sw.errors import EiegenError
from sw.formats.synthetic import edge_case_model, random_ints

__all__ = ["SPACES", "Case", "Soaker", "SOAKERS", "Tally", "case_config", "run_case",
           "run_logged", "describe", "eie_data", "soak"]

#: The configuration spaces: "ci" a few fixed configurations a core, "wide" all drawn.
SPACES = ("ci", "wide")


@dataclass(frozen=True)
class Case:
    """One soak case: ``core``, ``space``, the ``config`` seed and the ``data`` seed."""
    core: str
    space: str
    config: int
    data: int

    def __str__(self):
        return f"{self.core}:{self.space}:{self.config}:{self.data}"

    @classmethod
    def parse(cls, text):
        """The case named ``text`` (``CORE:SPACE:CONFIG:DATA``); ``EiegenError`` if malformed."""
        parts = str(text).split(":")
        fix = "give CORE:SPACE:CONFIG:DATA as a failure prints it, e.g. eie:wide:12:345"
        if len(parts) != 4:
            raise EiegenError(f"a case has four parts, not {len(parts)} ({text!r}): {fix}")
        core, space, *seeds = parts
        if core not in SOAKERS:
            raise EiegenError(f"no core {core!r} in the soak; the cores are "
                              f"{', '.join(SOAKERS)}")
        if space not in SPACES:
            raise EiegenError(f"the space must be {' or '.join(SPACES)}, not {space!r}: {fix}")
        if not all(s.isdigit() for s in seeds):
            raise EiegenError(f"the seeds must be integers >= 0, not {':'.join(seeds)!r}: {fix}")
        return cls(core, space, int(seeds[0]), int(seeds[1]))

    def replay(self):
        """The command that replays this case."""
        return f"eiegen soak --replay {self}"


@dataclass(frozen=True)
class Soaker:
    """How the soak draws and runs one core.

    ``ci`` are the core's fixed configurations (JSON-ready dicts) and
    ``wide(rng)`` draws one of every parameter; ``run(config, rng)`` draws data
    and stalls for a configuration, runs the core's flow in Verilator and
    returns ``(samples, report)``, the flow's report (``mismatches`` and
    ``outputs`` against the golden model); ``cases`` is how many cases a
    configuration gets by default (one if it bakes its model in: each model is
    a build of its own).
    """
    ci: list
    wide: object
    run: object
    cases: int

    def config(self, seed, space):
        """The configuration of ``seed``: the ``ci`` one it names (modulo their
        count, so consecutive seeds take them in turn), or ``wide`` drawn from it."""
        if space == "ci":
            return dict(self.ci[seed % len(self.ci)])
        return self.wide(np.random.default_rng(seed))

    def cases_for(self, config):
        return 1 if config.get("baked") else self.cases


def _stalls(rng):
    """Stall options of one run: a seed and each stream's rate (none to 0.9)."""
    def rate():
        return 0.0 if rng.random() < 0.25 else round(float(rng.uniform(0, 0.9)), 3)
    return dict(seed=int(rng.integers(1 << 31)), in_stall=rate(), out_stall=rate())


def _draw_valid(rng, draw, build):
    """``draw(rng)`` until ``build`` accepts it (a drawn parameter can contradict
    another: an output width over the accumulator's)."""
    for _ in range(100):
        params = draw(rng)
        try:
            build(params)
            return params
        except ValueError:
            continue
    raise RuntimeError("no valid configuration in 100 draws: the space is wrong")


# ---------------------------------------------------------------- EIE engine

#: The EIE engine's CI configurations: a small-format one (3 PEs, a queue of
#: one, 2-bit relative indices, one entry a word, every activation word
#: scanned), and the 4-PE and SPRAM engines of tests/sw/flows/test_eie.py
#: (their Verilator builds are shared with those tests).
_EIE_FORMATS = dict(index_bits=4, z_bits=4, act_bits=16, codebook_bits=16, bias_bits=32)
EIE_CI = [
    dict(pes=3, index_bits=3, z_bits=2, act_bits=8, codebook_bits=8, bias_bits=12,
         queue_depth=1, entries_per_word=1, nnz_depth=1536, ptr_depth=128, max_cols=40,
         rows_per_pe=14, bias_depth=42, max_layers=3, spram=False, sequential_scan=True,
         baked=False),
    dict(pes=4, **_EIE_FORMATS, queue_depth=4, entries_per_word=8, nnz_depth=2048,
         ptr_depth=256, max_cols=96, rows_per_pe=24, bias_depth=64, max_layers=3, spram=False,
         sequential_scan=False, baked=False),
    dict(pes=2, **_EIE_FORMATS, queue_depth=4, entries_per_word=2, nnz_depth=4096,
         ptr_depth=256, max_cols=96, rows_per_pe=48, bias_depth=128, max_layers=3, spram=True,
         sequential_scan=True, baked=False),
]


def _eie_wide(rng):
    from hw.eie.config import EieConfig

    def draw(rng):
        pes = int(rng.choice([1, 2, 3, 4, 5, 8]))
        max_cols = int(rng.integers(4, 65))
        max_layers = int(rng.integers(1, 4))
        rows_per_pe = -(-max_cols // pes) + int(rng.integers(0, 3))
        per_word = int(rng.choice([1, 2, 4, 8, 16]))
        spram = bool(rng.random() < 0.3)
        return dict(
            pes=pes, index_bits=int(rng.integers(1, 6)), z_bits=int(rng.integers(1, 5)),
            act_bits=int(rng.integers(3, 17)), codebook_bits=int(rng.integers(3, 17)),
            bias_bits=int(rng.integers(4, 33)), queue_depth=int(rng.choice([1, 2, 3, 4, 8, 16])),
            entries_per_word=per_word,
            # Room for every layer dense: a column of a PE's slice holds at most
            # its rows (a padding entry stands for a zero).
            nnz_depth=-(-max_layers * max_cols * rows_per_pe // per_word) * per_word,
            ptr_depth=max_layers * (max_cols + 1) + 1, max_cols=max_cols,
            rows_per_pe=rows_per_pe, bias_depth=max_layers * rows_per_pe,
            max_layers=max_layers, spram=spram, sequential_scan=bool(rng.random() < 0.3),
            baked=not spram and bool(rng.random() < 0.2))
    return _draw_valid(rng, draw, lambda c: EieConfig(**_engine(c)).validate())


def _engine(config):
    """The engine's parameters of a soak configuration (``baked`` is the soak's)."""
    return {k: v for k, v in config.items() if k != "baked"}


def _model(rng, config, formats, pes, most_rows, fits):
    """A model the engine ``config`` holds (``fits(model)`` refuses one it does
    not with ``ValueError``), with the hard cases in (``edge_case_model``):
    layer sizes from 1 to the engine's longest vector, up to its layer count."""
    layers = int(rng.integers(1, config["max_layers"] + 1))
    sizes = [int(rng.integers(1, config["max_cols"] + 1))] + [
        int(rng.integers(1, most_rows + 1)) for _ in range(layers)]
    for _ in range(50):
        model = edge_case_model(rng, sizes, pes, **formats)
        try:
            fits(model)
            return model
        except ValueError:
            # Too many pointers, biases or entries: shrink the largest layer.
            i = int(np.argmax(sizes))
            sizes[i] = max(1, sizes[i] // 2)
    raise RuntimeError(f"no model fits the engine {config}")


def _inputs(rng, config, model):
    """Raw inputs for ``model``: one all zero, some past the activations' range."""
    batch = int(rng.integers(1, 9))
    bits = config["act_bits"] + model.input_shift + int(rng.choice([0, 0, 2]))
    x = random_ints(rng, min(bits, 32), (batch, model.sizes[0]))
    x[int(rng.integers(batch))] = 0
    return x


def eie_data(rng, config):
    """``(model, x)``: a model for the EIE engine ``config`` and raw inputs for
    it, one all zero, some past the activations' range (they saturate)."""
    from sw.flows.eie_image import build_image, config_for
    c = config
    formats = {k: c[k] for k in ("index_bits", "z_bits", "act_bits", "codebook_bits",
                                 "bias_bits")}
    model = _model(rng, c, formats, c["pes"], min(c["max_cols"], c["rows_per_pe"] * c["pes"]),
                   lambda model: build_image(model, config_for(model, **_engine(c))))
    return model, _inputs(rng, c, model)


def _eie_run(config, rng):
    from sw.flows import eie
    model, x = eie_data(rng, config)
    _, report = eie.run(model, x, runtime_load=not config["baked"], **_stalls(rng),
                        **_engine(config))
    return len(x), report


# ---------------------------------------------------------------- the dense engine

#: The dense engine's CI configuration: 2 lanes of 6 inputs, 8-bit activations.
DENSE_CI = [dict(lanes=2, width=6, act_bits=8, weight_bits=10, bias_bits=20, max_cols=40,
                 weight_words=420, bias_words=60, max_layers=3, baked=False)]


def _dense_wide(rng):
    from hw.dense_config import DenseConfig

    def draw(rng):
        lanes = int(rng.choice([1, 2, 3, 4]))
        width = lanes * int(rng.integers(1, 4))
        max_cols = int(rng.integers(2, 49))
        max_layers = int(rng.integers(1, 4))
        groups = -(-max_cols // lanes)
        return dict(lanes=lanes, width=width, act_bits=int(rng.integers(3, 17)),
                    weight_bits=int(rng.integers(3, 17)), bias_bits=int(rng.integers(4, 33)),
                    max_cols=max_cols, weight_words=max_layers * groups * -(-max_cols // width),
                    bias_words=max_layers * groups, max_layers=max_layers,
                    baked=bool(rng.random() < 0.2))
    return _draw_valid(rng, draw, lambda c: DenseConfig(**_engine(c)).validate())


def dense_data(rng, config):
    """``(model, x)`` for the dense engine ``config``, as ``eie_data``."""
    from sw.flows.dense_image import build_dense_image, dense_config_for
    c = config
    formats = dict(index_bits=int(rng.integers(1, 6)), z_bits=4, act_bits=c["act_bits"],
                   codebook_bits=c["weight_bits"], bias_bits=c["bias_bits"])
    model = _model(rng, c, formats, 1, c["max_cols"], lambda model: build_dense_image(
        model, dense_config_for(model, **_engine(c))))
    return model, _inputs(rng, c, model)


def _dense_run(config, rng):
    from sw.flows import dense
    model, x = dense_data(rng, config)
    _, report = dense.run(model, x, runtime_load=not config["baked"], **_stalls(rng),
                          **_engine(config))
    return len(x), report


# ---------------------------------------------------------------- the arrays

def _maybe(rng, value, p=0.5):
    """``value`` with probability ``p``, else None (the parameter's default)."""
    return value if rng.random() < p else None


#: The arrays' CI configurations: some of tests/sw/flows/test_mac.py's and
#: test_lowbit.py's (their builds are shared), lanes and widths that divide few
#: layers, saturating outputs, combinational trees.
MAC_CI = [dict(lanes=5, width=8, tree_regs_every=2, max_inputs=64, relu=True, shift=9,
               out_bits=10),
          dict(lanes=2, width=7, tree_regs_every=0, shift=2, out_bits=6),
          dict(lanes=2, width=2, act_bits=2, weight_bits=2, shift=1, out_bits=2)]
XNOR_CI = [dict(lanes=3, width=7, sign=True, tree_regs_every=0),
           dict(lanes=2, width=8, max_inputs=40, acc_bits=9)]
TERNARY_CI = [dict(lanes=2, width=4, max_inputs=37, shift=0, out_bits=21, tree_regs_every=0),
              dict(lanes=4, width=4, scaled=False)]


def _mac_wide(rng):
    from sw.flows.mac import build_core
    return _draw_valid(rng, lambda rng: dict(
        lanes=int(rng.integers(1, 7)), width=int(rng.integers(1, 9)),
        act_bits=int(rng.integers(2, 13)), weight_bits=int(rng.integers(2, 13)),
        bias_bits=_maybe(rng, int(rng.integers(2, 25))), max_inputs=int(rng.integers(1, 101)),
        tree_regs_every=int(rng.integers(0, 4)), requant=bool(rng.random() < 0.7),
        shift=_maybe(rng, int(rng.integers(0, 25))), out_bits=_maybe(rng, int(rng.integers(2, 17))),
        relu=bool(rng.random() < 0.4)), build_core)


def _layer_shape(rng, params, most_rows):
    """(M, N, B) of a layer for an array: M up to ``most_rows``, N to its longest
    (at most 300: a longer one takes longer without exercising more)."""
    return (int(rng.integers(1, most_rows + 1)),
            int(rng.integers(1, min(params["max_inputs"], 300) + 1)), int(rng.integers(1, 7)))


def _zero_lines(rng, a):
    """Some of ``a``'s rows and columns made zero."""
    a[rng.random(a.shape[0]) < 0.2] = 0
    a[:, rng.random(a.shape[1]) < 0.2] = 0
    return a


def _mac_run(params, rng):
    from sw.flows import mac
    core = mac.build_core(params)
    p = core.params
    m, n, batch = _layer_shape(rng, p, 3 * p["lanes"] + 2)
    w = _zero_lines(rng, random_ints(rng, p["weight_bits"], (m, n)))
    x = _zero_lines(rng, random_ints(rng, p["act_bits"], (batch, n)))
    b = _maybe(rng, random_ints(rng, p["bias_bits"], m), 0.7)
    _, report = mac.run(params, w, x, b, **_stalls(rng))
    return batch, report


def _xnor_wide(rng):
    from sw.flows.xnor import build_core
    return _draw_valid(rng, lambda rng: dict(
        lanes=int(rng.integers(1, 7)), width=int(rng.integers(1, 41)),
        max_inputs=int(rng.integers(1, 301)), tree_regs_every=int(rng.integers(0, 4)),
        sign=bool(rng.random() < 0.5)), build_core)


def _bits(rng, shape):
    """Random bits: all 0, all 1, or each 1 with a drawn probability."""
    p = rng.choice([0.0, 1.0, rng.random()], p=[0.1, 0.1, 0.8])
    return (rng.random(shape) < p).astype(np.int64)


def _xnor_run(params, rng):
    from sw.flows import xnor
    core = xnor.build_core(params)
    p = core.params
    m, n, batch = _layer_shape(rng, p, 3 * p["lanes"] + 2)
    w, x = _bits(rng, (m, n)), _bits(rng, (batch, n))
    bias = _maybe(rng, rng.integers(-n - 2, n + 3, m), 0.6)
    thresholds = _maybe(rng, rng.integers(-n - 3, n + 4, m), 0.7) if p["sign"] else None
    try:
        xnor.check_layer(core, w, x, bias, thresholds)
    except ValueError:  # a bias the accumulator cannot start from: run without one
        bias = None
    _, report = xnor.run(params, w, x, bias, thresholds, **_stalls(rng))
    return batch, report


def _ternary_wide(rng):
    from sw.flows.ternary import build_core

    def draw(rng):
        scaled = bool(rng.random() < 0.6)
        return dict(
            lanes=int(rng.integers(1, 7)), width=int(rng.integers(1, 9)),
            act_bits=int(rng.integers(2, 13)), scale_bits=int(rng.integers(2, 13)),
            bias_bits=_maybe(rng, int(rng.integers(2, 25))), max_inputs=int(rng.integers(1, 101)),
            tree_regs_every=int(rng.integers(0, 4)), scaled=scaled,
            shift=_maybe(rng, int(rng.integers(0, 25))) if scaled else None,
            out_bits=_maybe(rng, int(rng.integers(2, 17))) if scaled else None,
            relu=scaled and bool(rng.random() < 0.4))
    return _draw_valid(rng, draw, build_core)


def _ternary_run(params, rng):
    from sw.flows import ternary
    core = ternary.build_core(params)
    p = core.params
    m, n, batch = _layer_shape(rng, p, 3 * p["lanes"] + 2)
    w = _zero_lines(rng, rng.integers(-1, 2, (m, n)) * (rng.random((m, n)) < rng.random()))
    x = _zero_lines(rng, random_ints(rng, p["act_bits"], (batch, n)))
    b = _maybe(rng, random_ints(rng, p["bias_bits"], m), 0.7)
    scales = None
    if p["scaled"]:
        scales = random_ints(rng, p["scale_bits"], (2,) if rng.random() < 0.3 else (m, 2))
    _, report = ternary.run(params, w, x, b, scales, **_stalls(rng))
    return batch, report


# ---------------------------------------------------------------- the Winograd tile

#: The tile's CI configurations, tests/sw/flows/test_winograd.py's (builds
#: shared): F(2x2, 3x3) pruned in the Winograd domain with ReLU, and F(3x3, 2x2).
WINOGRAD_CI = [dict(m=2, r=3, domain="winograd", relu=True, weight_bits=10, max_channels=4,
                    keep=[[1, 1, 0, 1], [1, 1, 1, 0], [0, 1, 1, 1], [1, 0, 1, 1]]),
               dict(m=3, r=2, act_bits=4, weight_bits=5, max_channels=3, dsp_multipliers=4)]


def _winograd_wide(rng):
    from sw.flows.winograd import build_core

    def draw(rng):
        # Tiles up to 6 x 6 (m + r - 1 <= 6): larger ones take minutes to build.
        r = int(rng.integers(1, 6))
        m = int(rng.integers(1, min(4, 7 - r) + 1))
        n = m + r - 1
        domain = str(rng.choice(["spatial", "winograd"]))
        params = dict(m=m, r=r, act_bits=int(rng.integers(2, 11)),
                      weight_bits=int(rng.integers(2, 11)), max_channels=int(rng.integers(1, 7)),
                      domain=domain)
        if domain == "winograd":
            keep = (rng.random((n, n)) < 0.8).astype(int)
            keep[int(rng.integers(n)), int(rng.integers(n))] = 1
            params.update(relu=bool(rng.random() < 0.5), keep=keep.tolist())
        return params
    return _draw_valid(rng, draw, build_core)


def _winograd_run(params, rng):
    from sw.flows import winograd
    core = winograd.build_core(params)
    p, t = core.params, core.transforms
    channels = int(rng.integers(1, p["max_channels"] + 1))
    filters = int(rng.integers(1, 4))
    batch = int(rng.integers(1, 3))
    h, w = (int(rng.integers(t.r, t.r + 3 * t.m + 1)) for _ in range(2))
    x = random_ints(rng, p["act_bits"], (batch, channels, h, w))
    x[int(rng.integers(batch)), int(rng.integers(channels))] = 0  # an all-zero channel
    side = t.r if p["domain"] == "spatial" else t.n
    weights = random_ints(rng, p["weight_bits"], (filters, channels, side, side))
    if p["domain"] == "winograd":
        weights *= np.array(p["keep"])  # zero where the tile has no multiplier
    _, report = winograd.run(params, x, weights, **_stalls(rng))
    return batch, report


#: The cores the soak drives, in the order it takes them.
SOAKERS = {
    "eie": Soaker(EIE_CI, _eie_wide, _eie_run, cases=4),
    "dense": Soaker(DENSE_CI, _dense_wide, _dense_run, cases=4),
    "mac": Soaker(MAC_CI, _mac_wide, _mac_run, cases=6),
    "xnor": Soaker(XNOR_CI, _xnor_wide, _xnor_run, cases=6),
    "ternary": Soaker(TERNARY_CI, _ternary_wide, _ternary_run, cases=6),
    "winograd": Soaker(WINOGRAD_CI, _winograd_wide, _winograd_run, cases=4),
}


# ---------------------------------------------------------------- running the soak

def case_config(case, soakers=None):
    """The configuration of ``case`` (its core's, from its space and config seed)."""
    return (soakers or SOAKERS)[case.core].config(case.config, case.space)


def run_case(case, soakers=None):
    """Run one case: ``(config, samples, report)``. The data and stalls come from
    the config seed and the data seed together, so one data seed means other
    data under another configuration."""
    soaker = (soakers or SOAKERS)[case.core]
    config = case_config(case, soakers)
    samples, report = soaker.run(config, np.random.default_rng([case.config, case.data]))
    return config, samples, report


@dataclass
class Tally:
    """What a soak ran: distinct configurations, cases, samples, outputs, and
    the cases that failed (``(case, reason)``), per core and in all."""
    configs: dict = field(default_factory=dict)  # core: set of configurations (JSON)
    cases: dict = field(default_factory=dict)
    samples: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    mismatches: dict = field(default_factory=dict)
    failures: list = field(default_factory=list)
    seconds: float = 0.0

    def add(self, case, config, samples, report):
        core = case.core
        self.configs.setdefault(core, set()).add(json.dumps(config, sort_keys=True))
        for counter, value in ((self.cases, 1), (self.samples, samples),
                               (self.outputs, report["outputs"]),
                               (self.mismatches, report["mismatches"])):
            counter[core] = counter.get(core, 0) + value

    def fail(self, case, reason):
        self.failures.append((case, reason))
        self.cases[case.core] = self.cases.get(case.core, 0) + 1

    def totals(self):
        """``{configs, cases, samples, outputs, mismatches, failures, seconds}`` in all."""
        return {"configs": sum(map(len, self.configs.values())),
                "cases": sum(self.cases.values()), "samples": sum(self.samples.values()),
                "outputs": sum(self.outputs.values()),
                "mismatches": sum(self.mismatches.values()), "failures": len(self.failures),
                "seconds": round(self.seconds, 1)}

    def report(self):
        """JSON-ready: the totals, each core's, its configurations, the failures."""
        cores = {core: {"configs": len(self.configs.get(core, ())),
                        "cases": self.cases.get(core, 0), "samples": self.samples.get(core, 0),
                        "outputs": self.outputs.get(core, 0),
                        "mismatches": self.mismatches.get(core, 0),
                        "configurations": [json.loads(c)
                                           for c in sorted(self.configs.get(core, ()))]}
                 for core in self.cases}
        return {**self.totals(), "cores": cores,
                "failures": [{"case": str(c), "reason": r, "replay": c.replay()}
                             for c, r in self.failures]}


def describe(config):
    """A configuration in one line: ``name=value`` of each parameter set."""
    return " ".join(f"{k}={v}" for k, v in config.items() if v is not None and k != "keep") + (
        f" keep={''.join(str(v) for row in config['keep'] for v in row)}"
        if config.get("keep") else "")


def soak(cores=None, *, seed=0, space="ci", configs=None, minutes=None, cases=None, say=print,
         soakers=None):
    """Soak ``cores`` (default all) until ``configs`` configurations a core have
    run or ``minutes`` have passed (the case running then finishes), whichever
    comes first; at least one configuration of each core runs.

    ``seed`` draws the configurations' and the cases' seeds; ``cases`` is the
    cases a configuration (default the core's own count). Each case's line, and
    any failure with the command that replays it, goes to ``say``. Returns the
    ``Tally``; a case whose outputs differ from the golden model, or whose run
    fails (a bench that deadlocks, a refused input), is a failure.
    """
    soakers = soakers or SOAKERS
    cores = list(cores or soakers)
    if space not in SPACES:
        raise EiegenError(f"the space must be {' or '.join(SPACES)}, not {space!r}")
    rng = np.random.default_rng(seed)
    started = time.monotonic()
    deadline = math.inf if minutes is None else started + 60 * minutes
    tally = Tally()
    first = {core: int(rng.integers(1 << 20)) for core in cores}
    rounds = 0
    while True:
        for core in cores:
            if rounds and time.monotonic() > deadline:
                break
            # In the CI space, consecutive rounds take a core's configurations in turn.
            config_seed = first[core] + rounds if space == "ci" else int(rng.integers(1 << 31))
            config = case_config(Case(core, space, config_seed, 0), soakers)
            say(f"{core} {space}:{config_seed}: {describe(config)}")
            for _ in range(cases or soakers[core].cases_for(config)):
                case = Case(core, space, config_seed, int(rng.integers(1 << 31)))
                run_logged(case, tally, say, soakers)
                if time.monotonic() > deadline:
                    break
        rounds += 1
        if (configs is not None and rounds >= configs) or time.monotonic() > deadline \
                or (configs is None and minutes is None):
            break
    tally.seconds = time.monotonic() - started
    return tally


#: What a case's run raising counts as its failure: a bench that failed or
#: deadlocked (``ToolchainError``), data a flow refused, an error in a flow.
RUN_FAILURES = (EiegenError, ValueError, RuntimeError, ArithmeticError, LookupError,
                AssertionError, StopIteration)


def run_logged(case, tally, say=print, soakers=None):
    """Run ``case`` into ``tally`` and ``say`` its line: its counts, or its
    failure and the command that replays it."""
    began = time.monotonic()
    try:
        config, samples, report = run_case(case, soakers)
    except RUN_FAILURES as error:  # the soak reports the failure and goes on
        reason = f"{type(error).__name__}: {error}"
        tally.fail(case, reason)
        say(f"  FAILED {case}: {reason}; replay: {case.replay()}")
        return
    tally.add(case, config, samples, report)
    seconds = time.monotonic() - began
    tally.seconds += seconds
    if report["mismatches"]:
        reason = (f"{report['mismatches']} of {report['outputs']} outputs differ from the "
                  f"golden model")
        tally.failures.append((case, reason))
        say(f"  MISMATCH {case}: {reason}; replay: {case.replay()}")
    else:
        say(f"  {case}: {samples} samples, {report['outputs']} outputs, 0 mismatches "
            f"({seconds:.1f} s)")
