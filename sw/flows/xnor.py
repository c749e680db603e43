"""The XNOR array's flow: generate, tile a binary layer into beats, simulate, synthesize.

A binary layer ``W`` (M, N bits) times samples ``X`` (B, N bits) runs as
the MAC array's layers do (``sw.flows.stream``); a chunk of ``width`` bits
travels as one integer. The accumulator of each row group starts at the
offset ``N + b`` (raw) or ``N - T'`` with ``T' = T - b`` clamped to
``[-N, N + 1]`` (sign mode), as ``docs/numerics.md`` explains.
"""

import sys
import time

import numpy as np

from sw.golden.lowbit import check_bits, xnor_layer
from sw.spec.numerics import check_fits
from sw.flows.stream import (check_shapes, describe_core, register_array, run_layer, synth_core,
                             write_design)

__all__ = ["build_core", "describe", "generate", "check_layer", "offsets", "run", "synth"]

TOP = "eiegen_xnor"


def build_core(params):
    """An ``XnorArray`` from CLI-style parameters (``ValueError`` if invalid)."""
    from hw.xnor import XnorArray
    return XnorArray(**params)


def describe(core):
    """JSON-ready description: parameters, ports, payload fields, latency."""
    return describe_core(core, "xnor", TOP, peak_macs_per_cycle=core.macs)


def generate(params, out_dir):
    """Write ``xnor.v`` and ``xnor.json`` into ``out_dir``; return their paths."""
    core = build_core(params)
    return write_design(core, TOP, out_dir, "xnor", describe(core))


def offsets(core, n, bias, thresholds=None):
    """Each row's accumulator start for an N-bit dot product (see the module doc).

    ``bias`` is an (M,) integer array; ``thresholds`` too, or None for 0.
    """
    b = np.asarray(bias, dtype=np.int64)
    if not core.params["sign"]:
        return n + b
    t = np.zeros_like(b) if thresholds is None else np.asarray(thresholds, dtype=np.int64)
    return n - np.clip(t - b, -n, n + 1)


def check_layer(core, w, x, bias=None, thresholds=None):
    """Validate a binary layer against the array; one-line ``ValueError`` if wrong."""
    p = core.params
    if thresholds is not None and not p["sign"]:
        raise ValueError("thresholds need the sign output: drop --raw")
    check_shapes(w, x, p["max_inputs"], bias=bias, thresholds=thresholds)
    check_bits("weights", w)
    check_bits("inputs", x)
    n = w.shape[1]
    if bias is not None:
        start = offsets(core, n, bias, thresholds)
        # The accumulator runs from the offset down by up to 2N.
        for name, values in (("bias + N", start), ("bias - N", start - 2 * n)):
            try:
                check_fits(name, values, p["acc_bits"], option="--acc-bits")
            except ValueError as error:
                raise ValueError(f"{error}; raise --acc-bits") from None


def _bits_to_int(chunk):
    """A chunk of bits (bit k = input k) as one integer for an ``unsigned(width)`` field."""
    return int.from_bytes(np.packbits(chunk.astype(np.uint8), bitorder="little").tobytes(),
                          "little")


def run(params, w, x, bias=None, thresholds=None, *, seed=0, in_stall=0.0, out_stall=0.0,
        workdir=None):
    """Run a binary layer through the generated Verilog in Verilator.

    Returns ``(y, report)``: raw ``Y = N - 2 popcount(x xor w) + bias``, or
    in sign mode the bits ``Y >= thresholds`` (default 0);
    ``report["mismatches"]`` counts outputs that differ from the golden
    model ``sw.golden.lowbit.xnor_layer``.
    """
    started = time.monotonic()
    core = build_core(params)
    w, x = np.asarray(w), np.asarray(x)
    bias = None if bias is None else np.asarray(bias)
    thresholds = None if thresholds is None else np.asarray(thresholds)
    check_layer(core, w, x, bias, thresholds)
    p = core.params
    m, n = w.shape
    if p["sign"] and thresholds is None:
        thresholds = np.zeros(m, dtype=np.int64)
    start = offsets(core, n, np.zeros(m, dtype=np.int64) if bias is None else bias, thresholds)
    golden = xnor_layer(x, w, bias, thresholds)
    return run_layer("xnor", core, TOP, w, x, {"offset": start}, golden, peak=core.macs,
                     started=started, encode=_bits_to_int, seed=seed, in_stall=in_stall,
                     out_stall=out_stall, workdir=workdir)


def synth(params, target, workdir=None, seeds=1):
    """Out-of-context synthesis report of the array on ``target``."""
    report, core = synth_core(build_core, params, TOP, target, workdir, seeds=seeds)
    report.update(core="xnor", params=core.params, multipliers=0,
                  peak_macs_per_cycle=core.macs)
    return report


# ---------------------------------------------------------------- eiegen generate|sim|synth xnor
# Declared here, so the command line gains the core without a CLI module
# knowing it (sw.flows.registry).

def _cli_options(g):
    g.add_argument("--lanes", type=int, default=4, help="dot products in parallel (default 4)")
    g.add_argument("--width", type=int, default=32, help="bits per cycle per lane (default 32)")
    g.add_argument("--max-inputs", type=int, default=1024,
                   help="longest dot product in bits; sizes the accumulator (default 1024)")
    g.add_argument("--acc-bits", type=int, help="accumulator width (default: cannot overflow)")
    g.add_argument("--tree-regs-every", type=int, default=1,
                   help="popcount-tree levels per pipeline register, 0 = none (default 1)")


register_array(
    sys.modules[__name__], "xnor", "XNOR-popcount binary dot-product array",
    title="XNOR array options", options=_cli_options,
    raw=("sign", "output Y = N - 2 popcount(x xor w) exactly, not the sign bit Y >= T"),
    params=("lanes", "width", "max_inputs", "acc_bits", "tree_regs_every", "sign"),
    files={"weights": "W.npy, bits 0/1 (1 means +1), shape (M, N)",
           "inputs": "X.npy, bits, shape (B, N)",
           "bias": "b.npy, integers, shape (M,)",
           "thresholds": "T.npy, integers (M,): outputs Y >= T (default 0: the sign)"},
    kind="xnor", generated="{core.macs} xnor MACs a cycle, latency {core.latency} cycles")
