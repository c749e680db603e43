"""The Winograd tile's flow: generate, stream a layer as tiles, simulate, synthesize.

A layer X (C, H, W) * W (K, C, r, r) runs as beats: output tiles row-major,
then output channels, then input channels; each beat is one n x n input
tile of one channel and the Winograd-domain weights ``U[k, c]`` (computed
here off line from the spatial filters, as a host would load constants).
Each (tile, k) sums its channels in the Winograd domain and returns one
m x m output tile; tiles past the layer's edge are dropped.
"""

import time

import numpy as np

from sw.flows.stream import describe_fields, describe_ports, run_beats, synth_core, write_design
from sw.golden.conv import check_conv, correlate2d
from sw.golden.winograd import filter_transform, input_tiles, winograd_conv
from sw.spec.numerics import check_fits

__all__ = ["TOP", "build_core", "describe", "generate", "check_layer", "beats", "golden", "run",
           "run_cnn", "synth"]

TOP = "eiegen_winograd"


def build_core(params):
    """A ``WinogradTile`` from CLI-style parameters (``ValueError`` if invalid)."""
    from hw.winograd import WinogradTile
    return WinogradTile(**params)


def describe(core):
    """JSON-ready description: parameters, transforms, widths, ports, latency."""
    t, p = core.transforms, core.params
    return {
        "core": "winograd", "top": TOP, "params": p,
        "transforms": {"AT": t.at.tolist(), "G": t.g.tolist(), "BT": t.bt.tolist(),
                       "divisor": t.divisor, "points": [str(x) for x in t.points] + ["inf"]},
        "widths": {k: v for k, v in core.widths.items() if not k.endswith("range")},
        "ports": describe_ports(core),
        "input_fields": describe_fields(core),
        "latency_cycles": core.latency,
        "multipliers": core.multipliers,
        "multiplies_per_output": core.multipliers / (t.m * t.m),
        "direct_multiplies_per_output": t.r * t.r,
    }


def generate(params, out_dir):
    """Write ``winograd.v`` and ``winograd.json`` into ``out_dir``; return their paths."""
    core = build_core(params)
    return write_design(core, TOP, out_dir, "winograd", describe(core))


def check_layer(core, x, w):
    """Validate a layer against the tile; one-line ``ValueError`` if wrong.

    Spatial domain: ``w`` is (K, C, r, r) spatial filters. Winograd domain:
    ``w`` is (K, C, n, n) Winograd-domain weights, zero where pruned.
    """
    p, t = core.params, core.transforms
    x, w = np.asarray(x), np.asarray(w)
    side = t.r if p["domain"] == "spatial" else t.n
    if w.ndim != 4 or w.shape[2:] != (side, side):
        raise ValueError(f"weights must have shape (K, C, {side}, {side}) for "
                         f"F({t.m}x{t.m}, {t.r}x{t.r}) in the {p['domain']} domain, "
                         f"not {w.shape}")
    if p["domain"] == "spatial":
        check_conv(x, w, p["act_bits"], p["weight_bits"])
    else:
        # The same checks on the image, against a stand-in spatial filter.
        check_conv(x, np.zeros(w.shape[:2] + (t.r, t.r), dtype=np.int64), p["act_bits"])
        check_fits("weights", w, p["weight_bits"], option="--weight-bits")
        if np.any(w[:, :, np.array(p["keep"]) == 0] != 0):
            raise ValueError("weights are non-zero at positions the tile has no multiplier "
                             "for: prune them or keep those positions")
    if x.shape[0] > p["max_channels"]:
        raise ValueError(f"the layer has {x.shape[0]} input channels, over the tile's maximum "
                         f"{p['max_channels']}: raise --max-channels")


def beats(core, x, u):
    """Input beats for ``x`` (C, H, W) and Winograd weights ``u`` (K, C, n, n)."""
    t = core.transforms
    tiles = input_tiles(x, t.m, t.r)
    c, ty, tx = tiles.shape[:3]
    kept = core.positions
    out = []
    for i in range(ty):
        for j in range(tx):
            for k in range(u.shape[0]):
                for ch in range(c):
                    out.append({"d": tiles[ch, i, j].tolist(),
                                "u": [int(u[k, ch, a, b]) for a, b in kept],
                                "first": int(ch == 0), "last": int(ch == c - 1)})
    return out


def _untile(results, k, ty, tx, m, ho, wo):
    y = np.array(results, dtype=np.int64).reshape(ty, tx, k, m, m)
    return y.transpose(2, 0, 3, 1, 4).reshape(k, ty * m, tx * m)[:, :ho, :wo]


def golden(core, x, w):
    """The golden model for the core's domain: direct correlation (spatial) or
    the Winograd-domain layer (``sw.golden.winograd.winograd_conv``, undivided)."""
    p = core.params
    if p["domain"] == "spatial":
        return correlate2d(x, w)
    return winograd_conv(x, w, core.transforms, domain="winograd", relu=p["relu"])


def run(params, x, w, *, seed=0, in_stall=0.0, out_stall=0.0, workdir=None):
    """Run a layer through the generated Verilog in Verilator.

    ``x`` is one image (C, H, W) or a batch (B, C, H, W), streamed one after
    the other. Returns ``(y, report)``; ``report["mismatches"]`` counts
    outputs that differ from the golden model.
    """
    started = time.monotonic()
    core = build_core(params)
    x, w = np.asarray(x), np.asarray(w)
    images = x if x.ndim == 4 else x[None]
    if x.ndim not in (3, 4) or len(images) == 0:
        raise ValueError(f"inputs must have shape (C, H, W), not {x.shape}")
    for image in images:
        check_layer(core, image, w)
    t, p = core.transforms, core.params
    u = filter_transform(w, t) if p["domain"] == "spatial" else w
    stream = [beat for image in images for beat in beats(core, image, u)]
    k, (c, h, wd) = w.shape[0], images.shape[1:]
    ho, wo = h - t.r + 1, wd - t.r + 1
    ty, tx = -(-ho // t.m), -(-wo // t.m)
    per_image = ty * tx * k
    tiles, cycles = run_beats(core, TOP, stream, per_image * len(images), seed=seed,
                              in_stall=in_stall, out_stall=out_stall, workdir=workdir)
    y = np.stack([_untile(tiles[b * per_image:(b + 1) * per_image], k, ty, tx, t.m, ho, wo)
                  for b in range(len(images))])
    expected = np.stack([golden(core, image, w) for image in images])
    report = {
        "core": "winograd", "params": p, "images": len(images), "channels": c, "filters": k,
        "height": h, "width": wd, "tiles": ty * tx * len(images), "beats": len(stream),
        "cycles": cycles, "latency_cycles": core.latency,
        "mismatches": int(np.count_nonzero(y != expected)), "outputs": int(y.size),
        "multipliers": core.multipliers,
        "multiplies": len(stream) * core.multipliers,
        "direct_multiplies": int(y.size) * c * t.r * t.r,
        "seed": seed, "in_stall": in_stall, "out_stall": out_stall,
        "wall_s": round(time.monotonic() - started, 2),
    }
    return (y if x.ndim == 4 else y[0]), report


def run_cnn(params, q, x, **sim):
    """A quantized CNN (``sw.train.cnn.quantize``) with every conv layer on the tile.

    ``x`` are the integer inputs (B, C, H, W). Each conv layer's batch runs
    through the generated Verilog and is checked against direct correlation;
    the rest (bias, requantize, ReLU, pooling, fully connected layers) is
    the golden model's. Returns ``(logits, report)``.
    """
    from sw.train.cnn import infer_fixed
    layers = []

    def on_tile(xs, w):
        y, report = run(params, xs, w, **sim)
        layers.append(report)
        return y
    logits = infer_fixed(q, x, conv=on_tile)
    golden_logits = infer_fixed(q, x)
    return logits, {
        "layers": layers, "images": len(x),
        "mismatches": sum(r["mismatches"] for r in layers)
        + int(np.count_nonzero(logits != golden_logits)),
        "outputs": sum(r["outputs"] for r in layers) + int(logits.size),
        "cycles": sum(r["cycles"] for r in layers),
        "multiplies": sum(r["multiplies"] for r in layers),
        "direct_multiplies": sum(r["direct_multiplies"] for r in layers),
        "wall_s": round(sum(r["wall_s"] for r in layers), 2),
    }


#: Yosys 0.70's ABC (YoWASP build) exits without a message mapping these
#: netlists unless it is given the flip-flops too (``abc9 -dff``); benchmarks
#: that compare with the tile synthesize their baselines the same way.
SYNTH_FLAGS = "-dff"


def synth(params, target, workdir=None, seeds=1):
    """Out-of-context synthesis report of the tile on ``target``."""
    report, core = synth_core(build_core, params, TOP, target, workdir, synth_flags=SYNTH_FLAGS, seeds=seeds)
    report.update(core="winograd", params=core.params, multipliers=core.multipliers,
                  synth_flags=SYNTH_FLAGS,
                  widths={k: v for k, v in core.widths.items() if not k.endswith("range")})
    return report


# ---------------------------------------------------------------- eiegen generate|sim|synth winograd
# Declared here, so the command line gains the core without a CLI module
# knowing it (sw.flows.registry). CLI helpers are imported when a command
# runs: the flow does not need the CLI.

def _cli_options(parser, verb):
    g = parser.add_argument_group("Winograd tile options")
    g.add_argument("--m", type=int, default=2, help="output tile size (default 2)")
    g.add_argument("--r", type=int, default=3, help="filter size (default 3)")
    g.add_argument("--act-bits", type=int, default=8, help="signed activation width (default 8)")
    g.add_argument("--weight-bits", type=int, default=8,
                   help="signed weight width: spatial taps, or U in the Winograd domain "
                        "(default 8)")
    g.add_argument("--max-channels", type=int, default=64,
                   help="most input channels; sizes the accumulator (default 64)")
    g.add_argument("--domain", choices=["spatial", "winograd"], default="spatial",
                   help="spatial: weights (K, C, r, r), output = the correlation exactly; "
                        "winograd: weights U (K, C, n, n), output undivided (default spatial)")
    g.add_argument("--winograd-relu", action="store_true",
                   help="ReLU on the transformed inputs (Liu et al.; --domain winograd)")
    g.add_argument("--keep", help="MASK.npy, n x n of 0/1: Winograd positions with a "
                                  "multiplier (--domain winograd; default all)")
    g.add_argument("--points", help="the n-1 finite interpolation points, e.g. 0,1,-1,1/2 "
                                    "(default 0,1,-1,2,-2,1/2,-1/2 as needed)")
    g.add_argument("--dsp-multipliers", type=int,
                   help="multipliers synthesis may put in DSP blocks, the rest in LUTs "
                        "(default all; 8 suits an iCE40 UP5K)")


def _cli_params(args):
    from fractions import Fraction
    from sw.cli.common import load_array
    from sw.errors import EiegenError
    points = None
    if args.points:
        try:
            points = [Fraction(p.strip()) for p in args.points.split(",")]
        except (ValueError, ZeroDivisionError):
            raise EiegenError(f"--points takes comma-separated numbers such as 0,1,-1,1/2, "
                              f"not {args.points!r}") from None
    keep = None
    if args.keep:
        keep = load_array(args.keep, "mask")
        numeric = keep.dtype == bool or np.issubdtype(keep.dtype, np.integer)
        if not numeric or not np.isin(keep, (0, 1)).all():
            raise EiegenError(f"mask {args.keep} must hold only 0 and 1")
        keep = keep.tolist()
    return dict(m=args.m, r=args.r, act_bits=args.act_bits, weight_bits=args.weight_bits,
                max_channels=args.max_channels, domain=args.domain, relu=args.winograd_relu,
                keep=keep, points=points, dsp_multipliers=args.dsp_multipliers)


def _cli_sim_arguments(p):
    p.add_argument("--inputs", required=True, help="X.npy, integers, shape (C, H, W)")
    p.add_argument("--weights", required=True,
                   help="W.npy, integers, shape (K, C, r, r) (spatial) or (K, C, n, n)")
    from sw.cli.common import output_file
    p.add_argument("--out", required=True, type=output_file,
                   help="Y.npy, shape (K, H-r+1, W-r+1)")


def _cli_generate(args, params):
    import json
    from sw.cli.common import progress
    build_core(params)  # validate before creating anything
    verilog, meta = generate(params, args.out)
    info = json.loads(meta.read_text())
    p = info["params"]
    progress(f"wrote {verilog} and {meta}: F({p['m']}x{p['m']}, {p['r']}x{p['r']}), "
             f"{info['multipliers']} multipliers ({info['multiplies_per_output']:g} per output, "
             f"direct {info['direct_multiplies_per_output']}), "
             f"latency {info['latency_cycles']} cycles")


def _cli_simulate(args, params):
    from sw.cli.common import check_stalls, check_writable, load_array, progress, save_checked
    core = build_core(params)
    x = load_array(args.inputs, "inputs")
    w = load_array(args.weights, "weights")
    check_layer(core, x, w)
    check_writable(args.out, args.report)
    check_stalls(args)
    progress(f"simulating X {x.shape} * W {w.shape} on the F({args.m}x{args.m}, "
             f"{args.r}x{args.r}) tile in Verilator")
    y, report = run(params, x, w, seed=args.seed, in_stall=args.in_stall,
                    out_stall=args.out_stall)
    save_checked(args, y, report)
    progress(f"{report['outputs']} outputs, 0 mismatches against the golden model, "
             f"{report['cycles']} cycles, {report['multiplies']} multiplies "
             f"(direct: {report['direct_multiplies']}), wrote {args.out}")


def _cli_synthesize(args, params):
    from sw.cli.common import check_writable, fmax_summary, progress, write_json
    build_core(params)
    check_writable(args.report)
    progress(f"synthesizing the F({args.m}x{args.m}, {args.r}x{args.r}) tile for "
             f"{args.target} (Yosys, nextpnr)")
    report = synth(params, args.target, seeds=args.seeds)
    if args.report:
        write_json(args.report, report)
    progress(f"{args.target}: {report['luts']} LUTs, {report['ffs']} FFs, {report['dsps']} "
             f"DSPs, {fmax_summary(report)}, {report['multipliers']} multipliers")


# Imported here, not above, to keep the declaration in one place.
from sw.flows.registry import Core, register  # noqa: E402

register(Core(name="winograd", help="Winograd convolution tile F(m x m, r x r)",
              options=_cli_options, params=_cli_params, generate=_cli_generate,
              simulate=_cli_simulate, synthesize=_cli_synthesize,
              sim_arguments=_cli_sim_arguments,
              sim_report="R.json: cycles, mismatches, multiplies"))
