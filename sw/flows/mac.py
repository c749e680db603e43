"""The MAC array's flow: generate, tile a layer into beats, simulate, synthesize.

The layer ``y = requantize(W x + b)`` of any shape M x N runs on an array of
``lanes`` x ``width``: rows go ``lanes`` at a time, inputs ``width`` at a
time, zero-padded at the edges (zeros add nothing to a dot product).
"""

import sys
import time

import numpy as np

from sw.golden.dense import dense_layer
from sw.spec.numerics import check_fits
from sw.flows.stream import (check_shapes, describe_core, register_array, run_layer, synth_core,
                             tile_rows, untile, write_design)

__all__ = ["build_core", "describe", "generate", "tile", "untile", "check_layer", "run", "synth"]

TOP = "eiegen_mac"


def build_core(params):
    """A ``MacArray`` from CLI-style parameters (``ValueError`` if invalid)."""
    from hw.mac import MacArray
    return MacArray(**params)


def describe(core):
    """JSON-ready description: parameters, ports, payload fields, latency."""
    return describe_core(core, "mac", TOP, multipliers=core.multipliers,
                         peak_macs_per_cycle=core.multipliers)


def generate(params, out_dir):
    """Write ``mac.v`` and ``mac.json`` into ``out_dir``; return their paths."""
    core = build_core(params)
    return write_design(core, TOP, out_dir, "mac", describe(core))


def check_layer(core, w, x, b=None):
    """Validate a layer against the array's formats; one-line ``ValueError`` if wrong."""
    p = core.params
    check_shapes(w, x, p["max_inputs"], bias=b)
    check_fits("weights", w, p["weight_bits"], option="--weight-bits")
    check_fits("inputs", x, p["act_bits"], option="--act-bits")
    if b is not None:
        check_fits("bias", b, p["bias_bits"], option="--bias-bits")


def tile(w, x, b, lanes, width):
    """The beats that compute ``W x + b`` for every sample, in order.

    Sample-major, then groups of ``lanes`` rows, then chunks of ``width``
    inputs. Returns a list of payload dicts for ``MacArray.i``.
    """
    return tile_rows(w, x, lanes, width, {"bias": b})


def run(params, w, x, b=None, *, seed=0, in_stall=0.0, out_stall=0.0, workdir=None):
    """Run a layer through the generated Verilog in Verilator.

    Returns ``(y, report)``; ``report["mismatches"]`` counts outputs that
    differ from the golden model ``sw.golden.dense.dense_layer``.
    """
    started = time.monotonic()
    core = build_core(params)
    w, x = np.asarray(w), np.asarray(x)
    b = None if b is None else np.asarray(b)
    check_layer(core, w, x, b)
    p = core.params
    golden = dense_layer(x, w, b, requant=p["requant"], shift=p["shift"],
                         out_bits=p["out_bits"], relu=p["relu"])
    return run_layer("mac", core, TOP, w, x, {"bias": b}, golden, peak=core.multipliers,
                     started=started, seed=seed, in_stall=in_stall, out_stall=out_stall,
                     workdir=workdir)


def synth(params, target, workdir=None, seeds=1):
    """Out-of-context synthesis report of the array on ``target``."""
    report, core = synth_core(build_core, params, TOP, target, workdir, seeds=seeds)
    report.update(core="mac", params=core.params, multipliers=core.multipliers,
                  peak_macs_per_cycle=core.multipliers)
    return report


# ---------------------------------------------------------------- eiegen generate|sim|synth mac
# Declared here, so the command line gains the core without a CLI module
# knowing it (sw.flows.registry).

def _cli_options(g):
    from sw.cli.common import fixed_point_options
    fixed_point_options(g, 4, "weight", "multipliers synthesis may put in DSP blocks, the "
                                        "rest in LUTs (default all; 8 suits an iCE40 UP5K)")


register_array(
    sys.modules[__name__], "mac", "dense fixed-point MAC array", title="MAC array options",
    options=_cli_options,
    raw=("requant", "no requantize, no ReLU: outputs are the exact accumulator"),
    params=("lanes", "width", "act_bits", "weight_bits", "bias_bits", "max_inputs", "acc_bits",
            "tree_regs_every", "requant", "shift", "out_bits", "relu", "dsp_multipliers"),
    files={"weights": "W.npy, integers, shape (M, N)",
           "inputs": "X.npy, integers, shape (B, N)",
           "bias": "b.npy, integers at the product scale, shape (M,)"},
    kind="", generated="{core.multipliers} multipliers, latency {core.latency} cycles, "
                       "{core.multipliers} MACs/cycle")
