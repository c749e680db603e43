"""The ternary array's flow: generate, tile a ternary layer into beats, simulate, synthesize.

A layer of ternary weights ``W`` (M, N: -1, 0, +1) times samples ``X``
(B, N integers) runs as the MAC array's layers do (``sw.flows.stream``);
in scaled mode each row group also carries its rows' ``Wp``, ``Wn`` and
bias, read on the first beat.
"""

import sys
import time

import numpy as np

from sw.golden.lowbit import check_ternary, ternary_layer
from sw.spec.numerics import check_fits
from sw.flows.stream import (check_shapes, describe_core, register_array, run_layer, synth_core,
                             write_design)

__all__ = ["build_core", "describe", "generate", "check_layer", "row_scales", "run", "synth"]

TOP = "eiegen_ternary"


def build_core(params):
    """A ``TernaryArray`` from CLI-style parameters (``ValueError`` if invalid)."""
    from hw.ternary import TernaryArray
    return TernaryArray(**params)


def describe(core):
    """JSON-ready description: parameters, ports, payload fields, latency."""
    return describe_core(core, "ternary", TOP, multipliers=core.multipliers,
                         peak_macs_per_cycle=core.macs)


def generate(params, out_dir):
    """Write ``ternary.v`` and ``ternary.json`` into ``out_dir``; return their paths."""
    core = build_core(params)
    return write_design(core, TOP, out_dir, "ternary", describe(core))


def row_scales(scales, m):
    """Scales as (M, 2) rows of (Wp, Wn): one pair for the layer (2,) or one a row."""
    scales = np.asarray(scales)
    if scales.shape == (2,):
        return np.tile(scales, (m, 1))
    if scales.shape != (m, 2):
        raise ValueError(f"scales have shape {scales.shape}, expected (2,) for the layer or "
                         f"({m}, 2) for its rows: (Wp, Wn)")
    return scales


def check_layer(core, w, x, b=None, scales=None):
    """Validate a ternary layer against the array; one-line ``ValueError`` if wrong."""
    p = core.params
    if scales is None and p["scaled"]:
        raise ValueError("the scaled mode needs the scales Wp and Wn (--scales S.npy), "
                         "or --raw for the exact sums")
    if scales is not None and not p["scaled"]:
        raise ValueError("scales need the scaled mode: drop --raw")
    check_shapes(w, x, p["max_inputs"], bias=b)
    check_ternary("weights", w)
    check_fits("inputs", x, p["act_bits"], option="--act-bits")
    if b is not None:
        check_fits("bias", b, p["bias_bits"], option="--bias-bits")
    if scales is not None:
        if not np.issubdtype(np.asarray(scales).dtype, np.integer):
            raise ValueError(f"scales must hold integers (fixed-point mantissas), "
                             f"not {np.asarray(scales).dtype}")
        check_fits("scales", row_scales(scales, w.shape[0]), p["scale_bits"],
                   option="--scale-bits")


def run(params, w, x, b=None, scales=None, *, seed=0, in_stall=0.0, out_stall=0.0,
        workdir=None):
    """Run a ternary layer through the generated Verilog in Verilator.

    Returns ``(y, report)``; ``report["mismatches"]`` counts outputs that
    differ from the golden model ``sw.golden.lowbit.ternary_layer``.
    """
    started = time.monotonic()
    core = build_core(params)
    w, x = np.asarray(w), np.asarray(x)
    b = None if b is None else np.asarray(b)
    check_layer(core, w, x, b, scales)
    p = core.params
    m = w.shape[0]
    side = {"bias": b}
    if scales is not None:
        scales = row_scales(scales, m)
        side.update(wp=scales[:, 0], wn=scales[:, 1])
    golden = ternary_layer(x, w, b, scales, shift=p["shift"], out_bits=p["out_bits"],
                           relu=p["relu"])
    return run_layer("ternary", core, TOP, w, x, side, golden, peak=core.macs, started=started,
                     seed=seed, in_stall=in_stall, out_stall=out_stall, workdir=workdir)


def synth(params, target, workdir=None, seeds=1):
    """Out-of-context synthesis report of the array on ``target``."""
    report, core = synth_core(build_core, params, TOP, target, workdir, seeds=seeds)
    report.update(core="ternary", params=core.params, multipliers=core.multipliers,
                  peak_macs_per_cycle=core.macs)
    return report


# ---------------------------------------------------------------- eiegen generate|sim|synth ternary
# Declared here, so the command line gains the core without a CLI module
# knowing it (sw.flows.registry).

def _cli_options(g):
    from sw.cli.common import fixed_point_options
    fixed_point_options(g, 8, "scale", "scale multipliers (Wp, Wn: 2 a lane) synthesis may put "
                                       "in DSP blocks, the rest in LUTs (default all)")


register_array(
    sys.modules[__name__], "ternary", "ternary (add/subtract/skip) MAC array",
    title="ternary array options", options=_cli_options,
    raw=("scaled", "no scales, no requantize: outputs are Y = X @ W.T (+ b) exactly"),
    params=("lanes", "width", "act_bits", "scale_bits", "bias_bits", "max_inputs", "acc_bits",
            "tree_regs_every", "scaled", "shift", "out_bits", "relu", "dsp_multipliers"),
    files={"weights": "W.npy, -1, 0, +1, shape (M, N)",
           "inputs": "X.npy, integers, shape (B, N)",
           "bias": "b.npy, integers, shape (M,)",
           "scales": "S.npy, integers (Wp, Wn): shape (2,) or (M, 2)"},
    kind="ternary", generated="{core.macs} ternary MACs a cycle, latency {core.latency} cycles")
