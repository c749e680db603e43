"""The XNOR array's flow: generate, tile a binary layer into beats, simulate, synthesize.

A binary layer ``W`` (M, N bits) times samples ``X`` (B, N bits) runs as
the MAC array's layers do (``sw.flows.stream``); a chunk of ``width`` bits
travels as one integer. The accumulator of each row group starts at the
offset ``N + b`` (raw) or ``N - T'`` with ``T' = T - b`` clamped to
``[-N, N + 1]`` (sign mode), as ``docs/numerics.md`` explains.
"""

import time

import numpy as np

from sw.golden.lowbit import check_bits, xnor_layer
from sw.spec.numerics import check_fits
from sw.flows.stream import (check_shapes, describe_core, layer_report, run_beats, synth_core,
                          tile_rows, untile, write_design)

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
                check_fits(name, values, p["acc_bits"])
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
    (m, n), batch = w.shape, x.shape[0]
    if p["sign"] and thresholds is None:
        thresholds = np.zeros(m, dtype=np.int64)
    start = offsets(core, n, np.zeros(m, dtype=np.int64) if bias is None else bias, thresholds)
    beats = tile_rows(w, x, p["lanes"], p["width"], {"offset": start}, encode=_bits_to_int,
                      layout=core.i.payload.shape())
    results, cycles = run_beats(core, TOP, beats, batch * -(-m // p["lanes"]), seed=seed,
                                in_stall=in_stall, out_stall=out_stall, workdir=workdir)
    y = untile(results, batch, m, p["lanes"])
    golden = xnor_layer(x, w, bias, thresholds)
    report = layer_report("xnor", core, w, x, beats, cycles, y, golden, peak=core.macs,
                          seed=seed, in_stall=in_stall, out_stall=out_stall, started=started)
    return y, report


def synth(params, target, workdir=None):
    """Out-of-context synthesis report of the array on ``target``."""
    report, core = synth_core(build_core, params, TOP, target, workdir)
    report.update(core="xnor", params=core.params, multipliers=0,
                  peak_macs_per_cycle=core.macs)
    return report


# ---------------------------------------------------------------- eiegen generate|sim|synth xnor
# Declared here, so the command line gains the core without a CLI module
# knowing it (sw.flows.registry). CLI helpers are imported when a command
# runs: the flow does not need the CLI.

def _cli_options(parser, verb):
    g = parser.add_argument_group("XNOR array options")
    g.add_argument("--lanes", type=int, default=4, help="dot products in parallel (default 4)")
    g.add_argument("--width", type=int, default=32, help="bits per cycle per lane (default 32)")
    g.add_argument("--max-inputs", type=int, default=1024,
                   help="longest dot product in bits; sizes the accumulator (default 1024)")
    g.add_argument("--acc-bits", type=int, help="accumulator width (default: cannot overflow)")
    g.add_argument("--tree-regs-every", type=int, default=1,
                   help="popcount-tree levels per pipeline register, 0 = none (default 1)")
    g.add_argument("--raw", action="store_true",
                   help="output Y = N - 2 popcount(x xor w) exactly, not the sign bit Y >= T")


def _cli_params(args):
    return dict(lanes=args.lanes, width=args.width, max_inputs=args.max_inputs,
                acc_bits=args.acc_bits, tree_regs_every=args.tree_regs_every, sign=not args.raw)


def _cli_sim_arguments(p):
    p.add_argument("--weights", required=True, help="W.npy, bits 0/1 (1 means +1), shape (M, N)")
    p.add_argument("--inputs", required=True, help="X.npy, bits, shape (B, N)")
    p.add_argument("--bias", help="b.npy, integers, shape (M,)")
    p.add_argument("--thresholds", help="T.npy, integers (M,): outputs Y >= T "
                                        "(default 0: the sign)")
    p.add_argument("--out", required=True, help="Y.npy, shape (B, M)")


def _cli_generate(args, params):
    from sw.cli.common import progress
    core = build_core(params)
    verilog, meta = generate(params, args.out)
    progress(f"wrote {verilog} and {meta}: {core.macs} xnor MACs a cycle, "
             f"latency {core.latency} cycles")


def _cli_simulate(args, params):
    from sw.cli.common import load_array, simulate_layer
    core = build_core(params)
    w = load_array(args.weights, "weights")
    x = load_array(args.inputs, "inputs")
    # An empty --thresholds means none, an empty --bias is a missing file.
    extra = [None if path is None else load_array(path, what)
             for path, what in ((args.bias, "bias"), (args.thresholds or None, "thresholds"))]
    check_layer(core, w, x, *extra)
    simulate_layer(args, run, params, "xnor ", w, x, *extra)


def _cli_synthesize(args, params):
    from sw.cli.common import synthesize_array
    build_core(params)
    synthesize_array(args, synth, params, "the xnor array ")


# Imported here, not above, to keep the declaration in one place.
from sw.flows.registry import Core, register  # noqa: E402

register(Core(name="xnor", help="XNOR-popcount binary dot-product array", options=_cli_options,
              params=_cli_params, generate=_cli_generate, simulate=_cli_simulate,
              synthesize=_cli_synthesize, sim_arguments=_cli_sim_arguments))
