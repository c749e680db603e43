"""The MAC array's flow: generate, tile a layer into beats, simulate, synthesize.

The layer ``y = requantize(W x + b)`` of any shape M x N runs on an array of
``lanes`` x ``width``: rows go ``lanes`` at a time, inputs ``width`` at a
time, zero-padded at the edges (zeros add nothing to a dot product).
"""

import time

import numpy as np

from sw.golden.dense import dense_layer
from sw.spec.numerics import check_fits
from sw.flows.stream import (check_shapes, describe_core, layer_report, run_beats, synth_core,
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
    check_fits("weights", w, p["weight_bits"])
    check_fits("inputs", x, p["act_bits"])
    if b is not None:
        check_fits("bias", b, p["bias_bits"])


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
    beats = tile_rows(w, x, p["lanes"], p["width"], {"bias": b},
                      layout=core.i.payload.shape())
    batch, m = x.shape[0], w.shape[0]
    results, cycles = run_beats(core, TOP, beats, batch * -(-m // p["lanes"]), seed=seed,
                                in_stall=in_stall, out_stall=out_stall, workdir=workdir)
    y = untile(results, batch, m, p["lanes"])
    golden = dense_layer(x, w, b, requant=p["requant"], shift=p["shift"],
                         out_bits=p["out_bits"], relu=p["relu"])
    report = layer_report("mac", core, w, x, beats, cycles, y, golden, peak=core.multipliers,
                          seed=seed, in_stall=in_stall, out_stall=out_stall, started=started)
    return y, report


def synth(params, target, workdir=None):
    """Out-of-context synthesis report of the array on ``target``."""
    report, core = synth_core(build_core, params, TOP, target, workdir)
    report.update(core="mac", params=core.params, multipliers=core.multipliers,
                  peak_macs_per_cycle=core.multipliers)
    return report


# ---------------------------------------------------------------- eiegen generate|sim|synth mac
# Declared here, so the command line gains the core without a CLI module
# knowing it (sw.flows.registry). CLI helpers are imported when a command
# runs: the flow does not need the CLI.

def _cli_options(parser, verb):
    from sw.cli.common import fixed_point_options
    g = parser.add_argument_group("MAC array options")
    fixed_point_options(g, 4, "weight", "multipliers synthesis may put in DSP blocks, the "
                                        "rest in LUTs (default all; 8 suits an iCE40 UP5K)")
    g.add_argument("--raw", action="store_true",
                   help="no requantize, no ReLU: outputs are the exact accumulator")


def _cli_params(args):
    from sw.errors import EiegenError
    if args.raw and args.relu:
        raise EiegenError("--raw and --relu contradict each other: --raw means no ReLU")
    return dict(lanes=args.lanes, width=args.width, act_bits=args.act_bits,
                weight_bits=args.weight_bits, bias_bits=args.bias_bits,
                max_inputs=args.max_inputs, acc_bits=args.acc_bits,
                tree_regs_every=args.tree_regs_every, requant=not args.raw,
                shift=args.shift, out_bits=args.out_bits, relu=args.relu,
                dsp_multipliers=args.dsp_multipliers)


def _cli_sim_arguments(p):
    p.add_argument("--weights", required=True, help="W.npy, integers, shape (M, N)")
    p.add_argument("--inputs", required=True, help="X.npy, integers, shape (B, N)")
    p.add_argument("--bias", help="b.npy, integers at the product scale, shape (M,)")
    p.add_argument("--out", required=True, help="Y.npy, shape (B, M)")


def _cli_generate(args, params):
    import json
    from sw.cli.common import progress
    build_core(params)  # validate before creating anything
    verilog, meta = generate(params, args.out)
    info = json.loads(meta.read_text())
    progress(f"wrote {verilog} and {meta}: {info['multipliers']} multipliers, "
             f"latency {info['latency_cycles']} cycles, {info['peak_macs_per_cycle']} MACs/cycle")


def _cli_simulate(args, params):
    from sw.cli.common import load_array, simulate_layer
    core = build_core(params)
    w = load_array(args.weights, "weights")
    x = load_array(args.inputs, "inputs")
    b = None if args.bias is None else load_array(args.bias, "bias")
    check_layer(core, w, x, b)
    simulate_layer(args, run, params, "", w, x, b)


def _cli_synthesize(args, params):
    from sw.cli.common import synthesize_array
    build_core(params)
    synthesize_array(args, synth, params, "")


# Imported here, not above, to keep the declaration in one place.
from sw.flows.registry import Core, register  # noqa: E402

register(Core(name="mac", help="dense fixed-point MAC array", options=_cli_options,
              params=_cli_params, generate=_cli_generate, simulate=_cli_simulate,
              synthesize=_cli_synthesize, sim_arguments=_cli_sim_arguments))
