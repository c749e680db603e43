"""The ``eiegen`` command line: generate, sim, synth, bench and demo.

Every verb takes the same core options. Errors are one line on stderr and a
non-zero exit status; nothing is written when the inputs are bad.
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from amaranth.hdl import UnusedElaboratable

from sw.flows.toolchain import TARGETS
from sw.errors import EiegenError

__all__ = ["main"]


def _progress(message):
    print(f"[eiegen] {message}", flush=True)


def _mac_options(parser):
    g = parser.add_argument_group("MAC array options")
    _fixed_point_options(g, 4, "weight", "multipliers synthesis may put in DSP blocks, the "
                                         "rest in LUTs (default all; 8 suits an iCE40 UP5K)")
    g.add_argument("--raw", action="store_true",
                   help="no requantize, no ReLU: outputs are the exact accumulator")


def _fixed_point_options(g, width, weight, dsp):
    """The options the MAC and ternary arrays share; ``weight``: "weight" or "scale"."""
    g.add_argument("--lanes", type=int, default=4, help="output neurons in parallel (default 4)")
    g.add_argument("--width", type=int, default=width,
                   help=f"inputs per cycle per lane (default {width})")
    g.add_argument("--act-bits", type=int, default=8, help="signed activation width (default 8)")
    g.add_argument(f"--{weight}-bits", type=int, default=8,
                   help=f"signed {weight} width (default 8)")
    g.add_argument("--bias-bits", type=int, help=f"signed bias width (default act+{weight} bits)")
    g.add_argument("--max-inputs", type=int, default=1024,
                   help="longest dot product; sizes the accumulator (default 1024)")
    g.add_argument("--acc-bits", type=int, help="accumulator width (default: cannot overflow)")
    g.add_argument("--tree-regs-every", type=int, default=1,
                   help="adder-tree levels per pipeline register, 0 = none (default 1)")
    g.add_argument("--shift", type=int,
                   help=f"requantize right shift (default {weight} bits - 1)")
    g.add_argument("--out-bits", type=int, help="requantized output width (default act bits)")
    g.add_argument("--relu", action="store_true", help="clamp negative outputs to zero")
    g.add_argument("--dsp-multipliers", type=int, help=dsp)


def _mac_params(args):
    if args.raw and args.relu:
        raise EiegenError("--raw and --relu contradict each other: --raw means no ReLU")
    return dict(lanes=args.lanes, width=args.width, act_bits=args.act_bits,
                weight_bits=args.weight_bits, bias_bits=args.bias_bits,
                max_inputs=args.max_inputs, acc_bits=args.acc_bits,
                tree_regs_every=args.tree_regs_every, requant=not args.raw,
                shift=args.shift, out_bits=args.out_bits, relu=args.relu,
                dsp_multipliers=args.dsp_multipliers)


EIE_OPTIONS = [
    ("--pes", "pes", "PEs (default: the model's, else 8)"),
    ("--queue-depth", "queue_depth", "activation queue depth (default 8)"),
    ("--index-bits", "index_bits", "codebook index bits (default: the model's, else 4)"),
    ("--z-bits", "z_bits", "relative index bits (default: the model's, else 4)"),
    ("--act-bits", "act_bits", "activation width (default: the model's, else 16)"),
    ("--codebook-bits", "codebook_bits", "codebook width (default: the model's, else 16)"),
    ("--bias-bits", "bias_bits", "bias width (default: the model's, else 32)"),
    ("--acc-bits", "acc_bits", "accumulator width (default: cannot overflow)"),
    ("--entries-per-word", "entries_per_word", "sparse-matrix entries per memory word (8)"),
    ("--nnz-depth", "nnz_depth", "entries per PE, all layers"),
    ("--ptr-depth", "ptr_depth", "column pointers per PE, all layers"),
    ("--max-cols", "max_cols", "longest activation vector"),
    ("--rows-per-pe", "rows_per_pe", "accumulators per PE"),
    ("--bias-depth", "bias_depth", "biases per PE, all layers"),
    ("--max-layers", "max_layers", "layers the engine holds"),
]
EIE_FLAGS = [
    ("--spram", "spram", "sparse matrix and activations in iCE40 SPRAM (single-ported, "
                         "starts empty: the model is loaded at run time)"),
    ("--sequential-scan", "sequential_scan", "read every activation word in turn instead of "
                                             "a tree skipping zero words: smaller for long "
                                             "vectors on few PEs"),
]


def _eie_options(parser, model_required):
    g = parser.add_argument_group("EIE engine options (default: sized to fit --model)")
    for flag, _, help in EIE_OPTIONS:
        g.add_argument(flag, type=int, help=help)
    for flag, _, help in EIE_FLAGS:
        g.add_argument(flag, action=argparse.BooleanOptionalAction, help=help)
    parser.add_argument("--model", required=model_required,
                        help="M.npz from eiegen compress" + (
                            "" if model_required else ": baked in, memories sized for it"))


def _eie_overrides(args):
    return {key: getattr(args, key) for _, key, _ in EIE_OPTIONS + EIE_FLAGS
            if getattr(args, key) is not None}


def _load_model_inputs(path, model):
    """Raw integer inputs (B, the first layer's inputs) for ``model``."""
    x = _load_array(path, "inputs")
    if x.ndim != 2 or x.shape[1] != model.layers[0].cols:
        raise EiegenError(f"inputs must have shape (B, {model.layers[0].cols}) for this model, "
                          f"not {x.shape}")
    if not np.issubdtype(x.dtype, np.integer):
        raise EiegenError(f"inputs must hold raw integers, not {x.dtype}")
    return x


def _load_model(path):
    from sw.formats import model as model_file
    return None if path is None else model_file.load(path)


def cmd_generate_eie(args):
    from sw.flows import eie as eie_sim
    model = _load_model(args.model)
    verilog, meta = eie_sim.generate(model, args.out, **_eie_overrides(args))
    info = json.loads(meta.read_text())
    c = info["config"]
    _progress(f"wrote {verilog} and {meta}: {c['pes']} PEs, queue depth {c['queue_depth']}, "
              f"{'model baked in' if info['baked_model'] else 'memories loaded at run time'}")


def cmd_sim_eie(args):
    from sw.flows import eie as eie_sim
    model = _load_model(args.model)
    x = _load_model_inputs(args.inputs, model)
    _check_writable(args.out, args.report)
    _check_stalls(args)
    overrides = _eie_overrides(args)
    eie_sim.engine_for(model, **overrides)  # refuse what does not fit before simulating
    y, report = eie_sim.run(model, x, runtime_load=args.runtime_load, seed=args.seed,
                            in_stall=args.in_stall, out_stall=args.out_stall,
                            progress=_progress, **overrides)
    _save_checked(args, y, report)
    per_layer = ", ".join(str(l["cycles"] // report["samples"]) for l in report["layers"])
    _progress(f"{report['samples']} inferences, 0 mismatches against the golden model; "
              f"{report['cycles_per_inference']:.0f} cycles per inference (layers {per_layer}), "
              f"PE utilization {100 * report['pe_utilization']:.1f}%, "
              f"{report['wall_s']} s wall; wrote {args.out}")


def cmd_synth_eie(args):
    from sw.flows import eie as eie_sim
    model = _load_model(args.model)
    _check_writable(args.report)
    overrides = _eie_overrides(args)
    if model is not None:
        eie_sim.engine_for(model, **overrides)
    _progress(f"synthesizing the EIE engine for {args.target} (Yosys, nextpnr)")
    report = eie_sim.synth(model, args.target, **overrides)
    if args.report:
        _write_json(args.report, report)
    _progress(f"{args.target}: {report['luts']} LUTs ({report['luts_per_pe']} per PE), "
              f"{report['ffs']} FFs, {report['dsps']} DSPs, {report['brams']} BRAMs, "
              f"Fmax {report['fmax_mhz']} MHz")


def _load_array(path, what):
    path = Path(path)
    if not path.is_file():
        raise EiegenError(f"{what} file {path} not found")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise EiegenError(f"{what} file {path} is not a readable .npy array ({error})") from None


def _check_writable(*paths):
    for path in paths:
        if path is not None and not Path(path).parent.is_dir():
            raise EiegenError(f"cannot write {path}: folder {Path(path).parent} does not exist")


def _write_json(path, report):
    Path(path).write_text(json.dumps(report, indent=2) + "\n")


def cmd_generate(args):
    from sw.flows import mac
    params = _mac_params(args)
    mac.build_core(params)  # validate before creating anything
    verilog, meta = mac.generate(params, args.out)
    info = json.loads(meta.read_text())
    _progress(f"wrote {verilog} and {meta}: {info['multipliers']} multipliers, "
              f"latency {info['latency_cycles']} cycles, {info['peak_macs_per_cycle']} MACs/cycle")


def _save_checked(args, y, report):
    """Write the report (if asked) and, only if the hardware agreed with the
    golden model everywhere, the outputs."""
    if args.report:
        _write_json(args.report, report)
    if report["mismatches"]:
        raise EiegenError(f"{report['mismatches']} of {report['outputs']} outputs differ from "
                          f"the golden model; {args.out} not written")
    np.save(args.out, y)


def _check_stalls(args):
    for name, p in (("--in-stall", args.in_stall), ("--out-stall", args.out_stall)):
        if not 0 <= p < 1:
            raise EiegenError(f"{name} is a probability in [0, 1), not {p}")


def cmd_sim(args):
    from sw.flows import mac
    params = _mac_params(args)
    core = mac.build_core(params)
    w = _load_array(args.weights, "weights")
    x = _load_array(args.inputs, "inputs")
    b = None if args.bias is None else _load_array(args.bias, "bias")
    mac.check_layer(core, w, x, b)
    _simulate_layer(args, mac, params, "", w, x, b)


def _simulate_layer(args, flow, params, what, w, x, *extra):
    """Run a checked layer on an array; write the outputs only if all agree."""
    _check_writable(args.out, args.report)
    _check_stalls(args)
    _progress(f"simulating {x.shape[0]} x {w.shape} on a {params['lanes']}x{params['width']} "
              f"{what}array in Verilator")
    y, report = flow.run(params, w, x, *extra, seed=args.seed, in_stall=args.in_stall,
                         out_stall=args.out_stall)
    _save_checked(args, y, report)
    _progress(f"{report['outputs']} outputs, 0 mismatches against the golden model, "
              f"{report['cycles']} cycles ({report['macs_per_cycle']} of "
              f"{report['peak_macs_per_cycle']} MACs/cycle), wrote {args.out}")


def cmd_synth(args):
    from sw.flows import mac
    params = _mac_params(args)
    mac.build_core(params)
    _synthesize_array(args, mac, params, "")


def _synthesize_array(args, flow, params, what):
    _check_writable(args.report)
    _progress(f"synthesizing {what}for {args.target} (Yosys, nextpnr)")
    report = flow.synth(params, args.target)
    if args.report:
        _write_json(args.report, report)
    _progress(f"{args.target}: {report['luts']} LUTs, {report['ffs']} FFs, {report['dsps']} DSPs, "
              f"{report['brams']} BRAMs, Fmax {report['fmax_mhz']} MHz")


def _load_float_layers(path):
    path = Path(path)
    if not path.is_file():
        raise EiegenError(f"weights file {path} not found")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except Exception as error:  # zip, npy and pickle errors all mean "unreadable"
        raise EiegenError(f"weights file {path} is not a readable .npz archive "
                          f"({error.__class__.__name__})") from None
    layers = []
    while f"W{len(layers)}" in arrays:
        i = len(layers)
        if f"b{i}" not in arrays:
            raise EiegenError(f"weights file {path} has W{i} but no b{i}")
        layers.append({"W": arrays[f"W{i}"], "b": arrays[f"b{i}"]})
    if not layers:
        raise EiegenError(f"weights file {path} holds no W0: expected arrays W0, b0, W1, b1, ...")
    return layers


def _format_options(args):
    return dict(pes=args.pes, index_bits=args.index_bits, z_bits=args.z_bits,
                act_bits=args.act_bits, codebook_bits=args.codebook_bits,
                bias_bits=args.bias_bits)


def cmd_compress(args):
    from sw.compress import pipeline as compress
    from sw.formats import model as model_file
    _check_writable(args.out, args.report)
    fmt = _format_options(args)
    compress.check_format(**{**compress.FORMAT_DEFAULTS,
                             **{k: v for k, v in fmt.items() if v is not None}})
    if args.model:
        if args.calibration or args.quality:
            raise EiegenError("--calibration and --quality go with --weights; a bundled "
                              "--model brings its own data and pruning qualities")
        model, report, _ = compress.compress_preset(args.model, seed=args.seed, init=args.init,
                                                    progress=_progress, **fmt)
    else:
        layers = _load_float_layers(args.weights)
        compress.check_float_layers(layers)
        calibration = None if args.calibration is None else \
            _load_array(args.calibration, "calibration")
        qualities = None
        if args.quality:
            try:
                qualities = [float(q) for q in args.quality.split(",")]
            except ValueError:
                raise EiegenError(f"--quality takes comma-separated numbers, not "
                                  f"{args.quality!r}") from None
        model, report = compress.compress_weights(
            layers, name=Path(args.weights).stem, qualities=qualities, calibration=calibration,
            seed=args.seed, init=args.init, progress=_progress, **fmt)
    model_file.save(model, args.out)
    if args.report:
        _write_json(args.report, report)
    _progress(f"wrote {args.out}: {report['compression_ratio']:.1f}x smaller, "
              f"density {100 * report['density']:.1f}%")
    print(_compression_table(report["layers"], report["total"]))


def _compression_table(rows, total):
    from sw.compress.pipeline import SIZE_COLUMNS, size_rows
    table = [dict((key, head) for key, head in SIZE_COLUMNS)] + list(size_rows(rows, total))
    widths = {key: max(len(row[key]) for row in table) for key, _ in SIZE_COLUMNS}
    return "\n".join(" ".join(row[key].rjust(widths[key]) for key, _ in SIZE_COLUMNS)
                     for row in table)


def cmd_inspect(args):
    from sw.formats import model as model_file
    m = model_file.load(args.model)
    print(f"{args.model}: {m.name}, {' -> '.join(map(str, m.sizes))}, {m.pes} PEs, "
          f"{m.index_bits}-bit indices, {m.z_bits}-bit relative indices, "
          f"{m.act_bits}-bit activations, {m.codebook_bits}-bit codebook")
    print(f"{'layer':>5} {'shape':>9} {'nonzeros':>9} {'entries':>8} {'density':>8} "
          f"{'max/PE':>7} {'min/PE':>7} {'w frac':>6} {'in frac':>7} {'out frac':>8} "
          f"{'shift':>5} {'relu':>4}")
    for i, l in enumerate(m.layers):
        per_pe = [len(v) for v in l.eie.v]
        nonzeros = sum(int((v != 0).sum()) for v in l.eie.v)
        print(f"{i:>5} {l.rows:>4}x{l.cols:<4} {nonzeros:>9} {sum(per_pe):>8} "
              f"{100 * nonzeros / (l.rows * l.cols):>7.1f}% {max(per_pe):>7} {min(per_pe):>7} "
              f"{l.weight_frac:>6} {l.in_frac:>7} {l.out_frac:>8} {l.shift:>5} "
              f"{'yes' if l.relu else 'no':>4}")
    for key, value in m.stats.items():
        print(f"{key}: {json.dumps(value)}")


def cmd_golden(args):
    from sw.formats import model as model_file
    from sw.golden.cycles import network_cycles
    from sw.golden.eie import infer
    m = model_file.load(args.model)
    x = _load_model_inputs(args.inputs, m)
    if args.queue_depth < 1:
        raise EiegenError(f"--queue-depth must be >= 1, not {args.queue_depth}")
    _check_writable(args.out, args.report)
    y, acts = infer(m, x, trace=True)
    np.save(args.out, y)
    _progress(f"wrote {args.out}: {y.shape[0]} x {y.shape[1]} integer outputs")
    if args.report:
        organization = {key: bool(getattr(args, key)) for _, key, _ in EIE_FLAGS}
        _progress(f"cycle model: {m.pes} PEs, queue depth {args.queue_depth}"
                  + "".join(f", {key.replace('_', ' ')}" for key, on in organization.items()
                            if on))
        layers, total = network_cycles(m, acts[:-1], args.queue_depth, **organization)
        _write_json(args.report, {"model": m.name, "pes": m.pes, "queue_depth": args.queue_depth,
                                  **organization,
                                  "samples": int(y.shape[0]), "layers": layers,
                                  "cycles": total["cycles"],
                                  "cycles_per_inference": total["cycles"] / max(1, y.shape[0])})
        for i, l in enumerate(layers):
            print(f"layer {i}: {l['cycles']} cycles, load balance "
                  f"{100 * l['load_balance_efficiency']:.1f}%, PE utilization "
                  f"{100 * l['pe_utilization']:.1f}%")


# ---------------------------------------------------------------- XNOR and ternary arrays

def _xnor_options(parser):
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


def _xnor_params(args):
    return dict(lanes=args.lanes, width=args.width, max_inputs=args.max_inputs,
                acc_bits=args.acc_bits, tree_regs_every=args.tree_regs_every, sign=not args.raw)


def _ternary_options(parser):
    g = parser.add_argument_group("ternary array options")
    _fixed_point_options(g, 8, "scale", "scale multipliers (Wp, Wn: 2 a lane) synthesis may put "
                                        "in DSP blocks, the rest in LUTs (default all)")
    g.add_argument("--raw", action="store_true",
                   help="no scales, no requantize: outputs are Y = X @ W.T (+ b) exactly")


def _ternary_params(args):
    if args.raw and args.relu:
        raise EiegenError("--raw and --relu contradict each other: --raw means no ReLU")
    return dict(lanes=args.lanes, width=args.width, act_bits=args.act_bits,
                scale_bits=args.scale_bits, bias_bits=args.bias_bits,
                max_inputs=args.max_inputs, acc_bits=args.acc_bits,
                tree_regs_every=args.tree_regs_every, scaled=not args.raw, shift=args.shift,
                out_bits=args.out_bits, relu=args.relu, dsp_multipliers=args.dsp_multipliers)


def _lowbit(args):
    """The flow module and validated parameters of ``args.core`` (xnor or ternary)."""
    from sw.flows import ternary
    from sw.flows import xnor
    flow, params = {"xnor": (xnor, _xnor_params), "ternary": (ternary, _ternary_params)}[args.core]
    params = params(args)
    return flow, params, flow.build_core(params)


def cmd_generate_lowbit(args):
    flow, params, core = _lowbit(args)
    verilog, meta = flow.generate(params, args.out)
    _progress(f"wrote {verilog} and {meta}: {core.macs} {args.core} MACs a cycle, "
              f"latency {core.latency} cycles")


def cmd_sim_lowbit(args):
    flow, params, core = _lowbit(args)
    w = _load_array(args.weights, "weights")
    x = _load_array(args.inputs, "inputs")
    extra = [None if path is None else _load_array(path, what)
             for path, what in ((args.bias, "bias"), (args.thresholds or args.scales,
                                                      "thresholds" if args.core == "xnor"
                                                      else "scales"))]
    flow.check_layer(core, w, x, *extra)
    _simulate_layer(args, flow, params, f"{args.core} ", w, x, *extra)


def cmd_synth_lowbit(args):
    flow, params, _ = _lowbit(args)
    _synthesize_array(args, flow, params, f"the {args.core} array ")


def _lowbit_parsers(cores, verb):
    """The ``xnor`` and ``ternary`` cores of one verb, with that verb's own arguments."""
    for name, options, help in (("xnor", _xnor_options, "XNOR-popcount binary dot-product array"),
                                ("ternary", _ternary_options, "ternary (add/subtract/skip) MAC "
                                                              "array")):
        p = cores.add_parser(name, help=help)
        options(p)
        if verb == "generate":
            p.add_argument("--out", required=True, help=f"output folder (DIR/{name}.v, "
                                                        f"DIR/{name}.json)")
            p.set_defaults(func=cmd_generate_lowbit)
        elif verb == "sim":
            kind = "bits 0/1 (1 means +1)" if name == "xnor" else "-1, 0, +1"
            p.add_argument("--weights", required=True, help=f"W.npy, {kind}, shape (M, N)")
            p.add_argument("--inputs", required=True,
                           help="X.npy, " + ("bits" if name == "xnor" else "integers")
                                + ", shape (B, N)")
            p.add_argument("--bias", help="b.npy, integers, shape (M,)")
            if name == "xnor":
                p.add_argument("--thresholds", help="T.npy, integers (M,): outputs Y >= T "
                                                    "(default 0: the sign)")
                p.set_defaults(scales=None)
            else:
                p.add_argument("--scales", help="S.npy, integers (Wp, Wn): shape (2,) or (M, 2)")
                p.set_defaults(thresholds=None)
            p.add_argument("--out", required=True, help="Y.npy, shape (B, M)")
            _run_options(p, "R.json: cycles, mismatches, throughput")
            p.set_defaults(func=cmd_sim_lowbit)
        else:
            _synth_options(p)
            p.set_defaults(func=cmd_synth_lowbit)


#: ``eiegen bench NAME``: the module and function that measure it.
BENCHES = {"mac": "report:bench_mac", "compress": "report:bench_compress",
           "eie": "report:bench_eie", "lowbit": "lowbit:bench_lowbit",
           "board": "board:bench_board", "winograd": "report:bench_winograd"}


def cmd_bench(args):
    import importlib
    module, function = BENCHES[args.core].split(":")
    bench = getattr(importlib.import_module(f"sw.benchmarks.{module}"), function)
    bench(Path(args.out), progress=_progress)


def cmd_demo(args):
    """Trained network -> Deep Compression -> EIE engine in Verilator -> a board's
    bitstream, and the host driver on the simulated board, on bundled defaults."""
    from boards.flow import build
    from sw.flows import eie as eie_sim
    from sw.flows import mac
    from sw.formats import model as model_file
    from sw.benchmarks.board import BOARD_CONFIGS, run_simulated_board
    from sw.host.simulated import board_design
    from sw.compress.pipeline import compress_preset
    from sw.train.datasets import load
    from sw.golden.eie import infer
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    _progress("1/6 compress: LeNet-300-100 on the bundled MNIST digits (Deep Compression)")
    model, comp, _ = compress_preset("lenet-300-100", progress=_progress)
    model_file.save(model, out / "lenet-300-100.npz")

    _progress(f"2/6 generate: the EIE engine for it ({model.pes} PEs) -> {out}/eie/eie.v")
    eie_sim.generate(model, out / "eie")
    data = load("mnist")
    x, labels = data.x_test[:args.digits], data.y_test[:args.digits]
    _progress(f"3/6 simulate: {len(x)} test digits on the engine in Verilator, "
              f"against the golden model")
    y, eie = eie_sim.run(model, x, progress=_progress)
    if eie["mismatches"]:
        raise EiegenError(f"{eie['mismatches']} engine outputs differ from the golden model")
    np.save(out / "eie_outputs.npy", y)
    eie["accuracy"] = float(np.mean(y.argmax(axis=1) == labels))

    # Eight multipliers: the UP5K's DSP count, so the array fits both targets.
    params = dict(lanes=2, width=4, relu=True)
    rng = np.random.default_rng(2017)
    # A dense fixed-point layer: 8-bit weights in [-1, 1), 8-bit activations,
    # biases at the product scale; ReLU keeps what the next layer would see.
    w = rng.integers(-128, 128, (32, 100))
    xm = rng.integers(-128, 128, (16, 100))
    b = rng.integers(-4096, 4096, 32)
    _progress(f"4/6 MAC array: {params['lanes']}x{params['width']} -> {out}/mac.v, a 100 -> 32 "
              f"layer with random stalls in Verilator")
    mac.generate(params, out)
    _, sim = mac.run(params, w, xm, b, seed=1, in_stall=0.2, out_stall=0.2)
    if sim["mismatches"]:
        raise EiegenError(f"{sim['mismatches']} MAC outputs differ from the golden model")

    # The iCEBreaker runs the same network at the PE count that fits the UP5K,
    # its sparse matrix in SPRAM: loaded over the link, not in the bitstream.
    board, name, options = BOARD_CONFIGS[0]
    pes = options["pes"]
    small, engine = board_design(board, model, pes)
    _progress(f"5/6 build: the {board} bitstream for {name} ({pes} PEs, sparse matrix in "
              f"SPRAM)")
    built = build(board, engine.config, engine.baked_image, out / board, progress=_progress)
    built.pop("utilization")
    xs = data.x_test[:5]
    _progress(f"6/6 the host driver on the simulated {board} (system top, UART included, in "
              f"Verilator): load the model, then {len(xs)} digits")
    ys, cycles, _, _ = run_simulated_board(small, engine, xs, progress=_progress)
    board_cycles = cycles[-1]
    board_mismatches = int((ys != infer(small, xs)).sum())
    if board_mismatches:
        raise EiegenError(f"{board_mismatches} outputs of the simulated board differ from "
                          "the golden model")
    summary = {"compression": comp, "eie": eie, "mac_simulation": sim, "board": built,
               "board_simulation": {"samples": len(xs), "mismatches": board_mismatches,
                                    "cycles": board_cycles},
               "wall_s": round(time.monotonic() - started, 1)}
    _write_json(out / "demo.json", summary)
    acc = comp["accuracy"]
    print()
    print(f"LeNet-300-100, Deep Compression: {comp['compression_ratio']:.1f}x smaller "
          f"(1066 KB -> {comp['total']['huffman_bytes'] / 1000:.1f} KB), test accuracy "
          f"{100 * acc['dense']:.1f}% dense -> {100 * acc['fixed_point']:.1f}% fixed point")
    print(f"EIE engine, {model.pes} PEs: {eie['samples']} digits, {eie['mismatches']} mismatches "
          f"against the golden model, accuracy {100 * eie['accuracy']:.1f}%, "
          f"{eie['cycles_per_inference']:.0f} cycles per inference, PE utilization "
          f"{100 * eie['pe_utilization']:.1f}% ({eie['wall_s']} s in Verilator)")
    print(f"MAC array {params['lanes']}x{params['width']}, 8-bit: {sim['outputs']} outputs, "
          f"{sim['mismatches']} mismatches, {sim['macs_per_cycle']} of "
          f"{sim['peak_macs_per_cycle']} MACs/cycle under random stalls")
    print(f"{board} ({name}, {pes} PEs): {built['bitstream']}, {built['luts']} LUTs, "
          f"{built['dsps']} DSPs, {built['brams']} BRAMs, {built['sprams']} SPRAMs, Fmax "
          f"{built['fmax_mhz']} MHz at a "
          f"{built['clock_mhz']} MHz clock; simulated board through the host driver: "
          f"{len(xs)} digits, 0 mismatches, {board_cycles} engine cycles for the last")
    print(f"report: {out / 'demo.json'}; took {summary['wall_s']} s")


def _winograd_parser(cores, verb):
    """``eiegen generate|sim|synth winograd``: its options, files and handler."""
    p = cores.add_parser("winograd", help="Winograd convolution tile F(m x m, r x r)")
    g = p.add_argument_group("Winograd tile options")
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
    if verb == "generate":
        p.add_argument("--out", required=True,
                       help="output folder (DIR/winograd.v, DIR/winograd.json)")
        p.set_defaults(func=cmd_generate_winograd)
    elif verb == "sim":
        p.add_argument("--inputs", required=True, help="X.npy, integers, shape (C, H, W)")
        p.add_argument("--weights", required=True,
                       help="W.npy, integers, shape (K, C, r, r) (spatial) or (K, C, n, n)")
        p.add_argument("--out", required=True, help="Y.npy, shape (K, H-r+1, W-r+1)")
        _run_options(p, "R.json: cycles, mismatches, multiplies")
        p.set_defaults(func=cmd_sim_winograd)
    else:
        _synth_options(p)
        p.set_defaults(func=cmd_synth_winograd)


def _winograd_params(args):
    from fractions import Fraction
    points = None
    if args.points:
        try:
            points = [Fraction(p.strip()) for p in args.points.split(",")]
        except (ValueError, ZeroDivisionError):
            raise EiegenError(f"--points takes comma-separated numbers such as 0,1,-1,1/2, "
                              f"not {args.points!r}") from None
    keep = None
    if args.keep:
        keep = _load_array(args.keep, "mask")
        numeric = keep.dtype == bool or np.issubdtype(keep.dtype, np.integer)
        if not numeric or not np.isin(keep, (0, 1)).all():
            raise EiegenError(f"mask {args.keep} must hold only 0 and 1")
        keep = keep.tolist()
    return dict(m=args.m, r=args.r, act_bits=args.act_bits, weight_bits=args.weight_bits,
                max_channels=args.max_channels, domain=args.domain, relu=args.winograd_relu,
                keep=keep, points=points, dsp_multipliers=args.dsp_multipliers)


def cmd_generate_winograd(args):
    from sw.flows import winograd as winograd_sim
    params = _winograd_params(args)
    winograd_sim.build_core(params)  # validate before creating anything
    verilog, meta = winograd_sim.generate(params, args.out)
    info = json.loads(meta.read_text())
    p = info["params"]
    _progress(f"wrote {verilog} and {meta}: F({p['m']}x{p['m']}, {p['r']}x{p['r']}), "
              f"{info['multipliers']} multipliers ({info['multiplies_per_output']:g} per output, "
              f"direct {info['direct_multiplies_per_output']}), "
              f"latency {info['latency_cycles']} cycles")


def cmd_sim_winograd(args):
    from sw.flows import winograd as winograd_sim
    params = _winograd_params(args)
    core = winograd_sim.build_core(params)
    x = _load_array(args.inputs, "inputs")
    w = _load_array(args.weights, "weights")
    winograd_sim.check_layer(core, x, w)
    _check_writable(args.out, args.report)
    _check_stalls(args)
    _progress(f"simulating X {x.shape} * W {w.shape} on the F({args.m}x{args.m}, "
              f"{args.r}x{args.r}) tile in Verilator")
    y, report = winograd_sim.run(params, x, w, seed=args.seed, in_stall=args.in_stall,
                                 out_stall=args.out_stall)
    _save_checked(args, y, report)
    _progress(f"{report['outputs']} outputs, 0 mismatches against the golden model, "
              f"{report['cycles']} cycles, {report['multiplies']} multiplies "
              f"(direct: {report['direct_multiplies']}), wrote {args.out}")


def cmd_synth_winograd(args):
    from sw.flows import winograd as winograd_sim
    params = _winograd_params(args)
    winograd_sim.build_core(params)
    _check_writable(args.report)
    _progress(f"synthesizing the F({args.m}x{args.m}, {args.r}x{args.r}) tile for "
              f"{args.target} (Yosys, nextpnr)")
    report = winograd_sim.synth(params, args.target)
    if args.report:
        _write_json(args.report, report)
    _progress(f"{args.target}: {report['luts']} LUTs, {report['ffs']} FFs, {report['dsps']} "
              f"DSPs, Fmax {report['fmax_mhz']} MHz, {report['multipliers']} multipliers")


def _run_options(p, report_help):
    """What every ``sim`` verb takes besides its data: report, stall seed and rates."""
    p.add_argument("--report", help=report_help)
    p.add_argument("--seed", type=int, default=0, help="seed of the random stalls")
    p.add_argument("--in-stall", type=float, default=0.0,
                   help="probability the input stream withholds a beat each cycle")
    p.add_argument("--out-stall", type=float, default=0.0,
                   help="probability the output stream is not ready each cycle")


def _synth_options(p):
    """What every ``synth`` verb takes."""
    p.add_argument("--target", required=True, choices=list(TARGETS))
    p.add_argument("--report", help="R.json: LUTs, FFs, DSPs, BRAMs, Fmax")


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too, with where to look for help."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _parser():
    parser = _Parser(prog="eiegen", description=(
        "Compressed neural networks on open FPGAs: generate hardware, prove it bit-exact "
        "in Verilator against the golden model, synthesize it with Yosys and nextpnr."))
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB",
                                  parser_class=_Parser)

    def core_parsers(verb, help):
        cores = verbs.add_parser(verb, help=help).add_subparsers(
            dest="core", required=True, metavar="CORE", parser_class=_Parser)
        mac = cores.add_parser("mac", help="dense fixed-point MAC array")
        _mac_options(mac)
        eie = cores.add_parser("eie", help="EIE sparse matrix-vector engine")
        _lowbit_parsers(cores, verb)
        _winograd_parser(cores, verb)
        return mac, eie

    mac, eie = core_parsers("generate", "write a core's Verilog and description")
    mac.add_argument("--out", required=True, help="output folder (DIR/mac.v, DIR/mac.json)")
    mac.set_defaults(func=cmd_generate)
    _eie_options(eie, model_required=False)
    eie.add_argument("--out", required=True, help="output folder (DIR/eie.v, DIR/eie.json)")
    eie.set_defaults(func=cmd_generate_eie)

    mac, eie = core_parsers("sim", "run data through the generated Verilog in Verilator")
    mac.add_argument("--weights", required=True, help="W.npy, integers, shape (M, N)")
    mac.add_argument("--inputs", required=True, help="X.npy, integers, shape (B, N)")
    mac.add_argument("--bias", help="b.npy, integers at the product scale, shape (M,)")
    mac.add_argument("--out", required=True, help="Y.npy, shape (B, M)")
    mac.set_defaults(func=cmd_sim)
    _eie_options(eie, model_required=True)
    eie.add_argument("--inputs", required=True, help="X.npy of raw integer inputs (B, inputs)")
    eie.add_argument("--out", required=True, help="Y.npy: the last layer's integer outputs")
    eie.add_argument("--runtime-load", action="store_true",
                     help="load the memories through the load port instead of baking them in")
    eie.set_defaults(func=cmd_sim_eie)
    for p in (mac, eie):
        _run_options(p, "R.json: cycles, mismatches, throughput")

    mac, eie = core_parsers("synth", "out-of-context synthesis and place-and-route")
    mac.set_defaults(func=cmd_synth)
    _eie_options(eie, model_required=False)
    eie.set_defaults(func=cmd_synth_eie)
    for p in (mac, eie):
        _synth_options(p)

    p = verbs.add_parser("compress", help="Deep Compression into an EIE model file")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", choices=["lenet-300-100", "digits-mlp"],
                        help="train and compress a bundled network on its bundled data")
    source.add_argument("--weights", help="FILE.npz of float arrays W0, b0, W1, b1, ...")
    p.add_argument("--out", required=True, help="the model file to write (M.npz)")
    p.add_argument("--report", help="R.json: compression ratio, accuracy per stage, sizes")
    p.add_argument("--pes", type=int, help="PEs the rows are interleaved over (default 8)")
    p.add_argument("--index-bits", type=int, help="codebook index bits (default 4)")
    p.add_argument("--z-bits", type=int, help="relative index bits (default 4)")
    p.add_argument("--act-bits", type=int, help="activation width (default 16)")
    p.add_argument("--codebook-bits", type=int, help="codebook entry width (default 16)")
    p.add_argument("--bias-bits", type=int, help="bias width (default 32)")
    p.add_argument("--init", default="linear", choices=["linear", "density", "random"],
                   help="k-means initialization (default linear)")
    p.add_argument("--quality", help="with --weights: pruning quality per layer, e.g. 1.5,1.5,1")
    p.add_argument("--calibration", help="with --weights: X.npy of raw inputs (value = raw/256) "
                                         "to choose activation radix points")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_compress)

    p = verbs.add_parser("inspect", help="the per-layer table of a model file")
    p.add_argument("model", help="M.npz")
    p.set_defaults(func=cmd_inspect)

    p = verbs.add_parser("golden", help="bit-exact integer inference and the EIE cycle model")
    p.add_argument("model", help="M.npz")
    p.add_argument("--inputs", required=True, help="X.npy of raw integer inputs (B, inputs)")
    p.add_argument("--out", required=True, help="Y.npy: integer outputs of the last layer")
    p.add_argument("--report", help="R.json: the cycle model's figures per layer")
    p.add_argument("--queue-depth", type=int, default=8, help="activation queue depth (default 8)")
    for flag, _, help in EIE_FLAGS:
        p.add_argument(flag, action=argparse.BooleanOptionalAction,
                       help=f"cycles of an engine built with {flag}")
    p.set_defaults(func=cmd_golden)

    p = verbs.add_parser("bench", help="measure cores and write docs/benchmarks.md")
    p.add_argument("core", choices=list(BENCHES))
    p.add_argument("--out", default="docs", help="folder of benchmarks.md (default docs)")
    p.set_defaults(func=cmd_bench)

    from sw.cli.board import add_board_verbs
    add_board_verbs(verbs)
    from sw.cli.experiment import add_experiment_verb
    add_experiment_verb(verbs)

    p = verbs.add_parser("demo", help="the whole path on bundled defaults")
    p.add_argument("--out", default="eiegen-demo", help="output folder (default eiegen-demo)")
    p.add_argument("--digits", type=int, default=100,
                   help="test digits run on the EIE engine (default 100)")
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv=None):
    # Cores are built to validate options before anything is written; those
    # throw-away instances are not meant to be elaborated.
    warnings.filterwarnings("ignore", category=UnusedElaboratable)
    args = _parser().parse_args(argv)
    # One BLAS thread: the matrices here are small, and threaded OpenBLAS ran
    # training many times slower on machines whose cores are shared.
    from threadpoolctl import threadpool_limits
    try:
        with threadpool_limits(1, user_api="blas"):
            args.func(args)
    except (EiegenError, ValueError) as error:
        print(f"eiegen: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("eiegen: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
