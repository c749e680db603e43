"""The ``eiegen`` command line: generate, sim, synth, bench, soak and demo.

Every verb takes the same core options. Errors are one line on stderr and a
non-zero exit status; nothing is written when the inputs are bad.

``generate``, ``sim`` and ``synth`` offer the cores of ``sw.flows.registry``;
each core's flow module declares its options and commands there.
"""

import argparse
import json
import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
from amaranth.hdl import UnusedElaboratable

from sw.cli.board import add_board_verbs
from sw.cli.common import (EIE_FLAGS, Parser, check_writable, integer, load_array,
                           load_float_layers,
                           load_model_inputs, number, output_file, output_folder, existing_folder, progress,
                           run_options, synth_options, write_json)
from sw.files import save_array
from sw.cli.experiment import add_experiment_verb
from sw.cli.soak import add_soak_verb
from sw.cli.explore import add_explore_verb
from sw.errors import EiegenError
from sw.flows import registry as core_registry

__all__ = ["main", "build_parser"]

#: The verbs that take a core, and their help; their cores come from the registry.
CORE_VERBS = {"generate": "write a core's Verilog and description",
              "sim": "run data through the generated Verilog in Verilator",
              "synth": "out-of-context synthesis and place-and-route"}


def _format_options(args):
    return dict(pes=args.pes, index_bits=args.index_bits, z_bits=args.z_bits,
                act_bits=args.act_bits, codebook_bits=args.codebook_bits,
                bias_bits=args.bias_bits)


def cmd_compress(args):
    from sw.compress import pipeline as compress
    from sw.formats import model as model_file
    check_writable(args.out, args.report)
    fmt = _format_options(args)
    compress.check_format(**{**compress.FORMAT_DEFAULTS,
                             **{k: v for k, v in fmt.items() if v is not None}})
    qualities = _qualities(args.quality)
    given = [flag for flag, value in (("--data", args.data), ("--labels", args.labels),
                                      ("--eval-data", args.eval_data),
                                      ("--eval-labels", args.eval_labels)) if value]
    if args.onnx:
        model, report = _compress_onnx(args, qualities, fmt)
    elif given:
        raise EiegenError(f"{given[0]} goes with --onnx: a bundled --model brings its own data, "
                          f"and --weights takes --calibration")
    elif args.model:
        if args.calibration or args.quality:
            raise EiegenError("--calibration and --quality go with --weights; a bundled "
                              "--model brings its own data and pruning qualities")
        model, report, _ = compress.compress_preset(args.model, seed=args.seed, init=args.init,
                                                    progress=progress, **fmt)
    else:
        layers = load_float_layers(args.weights)
        compress.check_float_layers(layers, qualities)
        calibration = None if args.calibration is None else \
            load_array(args.calibration, "calibration")
        if calibration is not None:
            compress.check_calibration(calibration, layers[0]["W"].shape[1])
        model, report = compress.compress_weights(
            layers, name=Path(args.weights).stem, qualities=qualities, calibration=calibration,
            seed=args.seed, init=args.init, progress=progress, **fmt)
    model_file.save(model, args.out)
    if args.report:
        write_json(args.report, report)
    progress(f"wrote {args.out}: {report['compression_ratio']:.1f}x smaller, "
             f"density {100 * report['density']:.1f}%")
    print(_compression_table(report["layers"], report["total"]))


def _qualities(text):
    if not text:
        return None
    try:
        qualities = [float(q) for q in text.split(",")]
    except ValueError:
        raise EiegenError(f"--quality takes comma-separated numbers, not {text!r}") from None
    bad = [q for q in qualities if not (np.isfinite(q) and q >= 0)]
    if bad:
        raise EiegenError(f"--quality takes pruning qualities >= 0 (threshold = quality x the "
                          f"layer's standard deviation), not {bad[0]:g}")
    return qualities


def _compress_onnx(args, qualities, fmt):
    """``eiegen compress --onnx``: import, then compress on the user's data."""
    from sw.compress.imported import compress_network
    from sw.formats.onnx_graph import load_onnx
    if args.calibration:
        raise EiegenError("--calibration goes with --weights; with --onnx the calibration "
                          "inputs are --data")
    if not args.data:
        raise EiegenError("--onnx needs --data X.npy: float inputs in the model's own units, "
                          "shape (N, *input shape), to choose the fixed-point formats")
    if args.eval_labels and not args.eval_data:
        raise EiegenError("--eval-labels needs --eval-data, the inputs they label")
    network = load_onnx(args.onnx)
    for note in network.notes:
        progress(f"{Path(args.onnx).name}: {note}")
    progress(f"{Path(args.onnx).name}: input {network.input_name!r} "
             f"{'x'.join(map(str, network.input_shape))}, "
             f"{', '.join(layer['kind'] for layer in network.layers)}")
    arrays = {flag: None if path is None else load_array(path, what)
              for flag, path, what in (("data", args.data, "data"),
                                       ("labels", args.labels, "labels"),
                                       ("eval_data", args.eval_data, "evaluation data"),
                                       ("eval_labels", args.eval_labels, "evaluation labels"))}
    if arrays["labels"] is None:
        progress("no --labels: compressing without retraining (no masked retraining, no "
                 "centroid fine-tuning)")
    return compress_network(
        network.layers, network.input_shape, arrays["data"], name=network.name,
        labels=arrays["labels"], eval_x=arrays["eval_data"], eval_labels=arrays["eval_labels"],
        qualities=qualities, conv_index_bits=args.conv_index_bits,
        retrain_epochs=args.retrain_epochs, finetune_epochs=args.finetune_epochs, lr=args.lr,
        seed=args.seed, init=args.init, progress=progress, **fmt)


def _compression_table(rows, total):
    from sw.compress.pipeline import SIZE_COLUMNS, size_rows
    table = [dict((key, head) for key, head in SIZE_COLUMNS)] + list(size_rows(rows, total))
    widths = {key: max(len(row[key]) for row in table) for key, _ in SIZE_COLUMNS}
    return "\n".join(" ".join(row[key].rjust(widths[key]) for key, _ in SIZE_COLUMNS)
                     for row in table)


def cmd_inspect(args):
    from sw.formats import model as model_file
    m = model_file.load(args.model)
    if not m.is_mlp:
        return _inspect_network(args.model, m)
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


def _inspect_network(path, m):
    """``eiegen inspect`` of a network with convolution or pooling layers."""
    shapes = m.shapes()
    print(f"{path}: {m.name}, {m.input_kind} inputs {'x'.join(map(str, m.input_shape))} "
          f"(input radix point {m.input_frac}), {len(m.layers)} layers, {m.pes} PEs, "
          f"{m.act_bits}-bit activations, {m.codebook_bits}-bit codebook")
    print(f"{'layer':>5} {'kind':>7} {'output':>12} {'weights':>9} {'density':>8} "
          f"{'index bits':>10} {'shift':>5} {'relu':>4}  details")
    for i, (l, shape) in enumerate(zip(m.layers, shapes[1:])):
        out = "x".join(map(str, shape))
        if l.kind in ("dense", "conv"):
            w = l.weights()
            bits = m.index_bits if l.kind == "dense" else l.index_bits
            detail = "" if l.kind == "dense" else f"stride {l.stride}, pads {l.pads}"
            print(f"{i:>5} {l.kind:>7} {out:>12} {w.size:>9} "
                  f"{100 * np.count_nonzero(w) / w.size:>7.1f}% {bits:>10} {l.shift:>5} "
                  f"{'yes' if l.relu else 'no':>4}  {detail}")
        else:
            detail = "" if l.kind == "flatten" else \
                (f"{l.mode} {l.kernel[0]}x{l.kernel[1]}, stride {l.stride}, pads {l.pads}"
                 + (", padding counted" if l.count_pads and l.mode == "avg" else ""))
            print(f"{i:>5} {l.kind:>7} {out:>12} {'':>9} {'':>8} {'':>10} {'':>5} {'':>4}  "
                  f"{detail}")
    for key, value in m.stats.items():
        print(f"{key}: {json.dumps(value)}")


def cmd_golden(args):
    from sw.formats import model as model_file
    from sw.golden.cycles import network_cycles
    from sw.golden.network import infer, input_activations
    m = model_file.load(args.model)
    x = load_model_inputs(args.inputs, m)
    check_writable(args.out, args.report)
    y, acts = infer(m, x, trace=True)
    _, saturated = input_activations(m, x)
    save_array(args.out, y)
    progress(f"wrote {args.out}: {y.shape[0]} x {'x'.join(map(str, y.shape[1:]))} integer "
             f"outputs" + (f"; {saturated} input values saturated" if saturated else ""))
    if args.report and not m.is_mlp:
        write_json(args.report, {"model": m.name, "samples": int(y.shape[0]),
                                  "input_saturated": saturated,
                                  "layers": [{"kind": l.kind, "shape": list(s)}
                                             for l, s in zip(m.layers, m.shapes()[1:])]})
    elif args.report:
        acts = [acts[0].reshape(len(acts[0]), -1)] + acts[1:]
        organization = {key: bool(getattr(args, key)) for _, key, _ in EIE_FLAGS}
        progress(f"cycle model: {m.pes} PEs, queue depth {args.queue_depth}"
                  + "".join(f", {key.replace('_', ' ')}" for key, on in organization.items()
                            if on))
        layers, total = network_cycles(m, acts[:-1], args.queue_depth, **organization)
        samples = max(1, int(y.shape[0]))
        # The report's counts are the batch's, as sim eie's; each layer also
        # per inference, the figure both commands print.
        layers = [dict(l, cycles_per_inference=l["cycles"] / samples) for l in layers]
        write_json(args.report, {"model": m.name, "pes": m.pes, "queue_depth": args.queue_depth,
                                  **organization, "input_saturated": saturated,
                                  "samples": int(y.shape[0]), "layers": layers,
                                  "cycles": total["cycles"],
                                  "cycles_per_inference": total["cycles"] / max(1, y.shape[0])})
        for i, l in enumerate(layers):
            print(f"layer {i}: {l['cycles'] // samples} cycles per inference, load balance "
                  f"{100 * l['load_balance_efficiency']:.1f}%, PE utilization "
                  f"{100 * l['pe_utilization']:.1f}%")


#: ``eiegen bench NAME``: the module and function that measure it.
BENCHES = {"mac": "report:bench_mac", "compress": "report:bench_compress",
           "eie": "report:bench_eie", "lowbit": "lowbit:bench_lowbit",
           "board": "board:bench_board", "winograd": "report:bench_winograd",
           "imported": "imported:bench_imported"}
#: ``eiegen bench eie --FLAG``: one part of the EIE bench instead of the whole,
#: the module and function that measure it, and its help.
EIE_PARTS = {
    "paper-layers": ("paper_layers:bench_paper_layers",
                     "the EIE paper's nine layers at 64 PEs in the cycle model, queue depths "
                     "1-32"),
    "phases": ("phases:bench_phases",
               "where LeNet-300-100's cycles go on 8 PEs, layer by layer, in the cycle model"),
    "scale": ("scale:bench_scale",
              "16-48 PEs on the ECP5-85F over nextpnr seeds 1-4, and NT-We in RTL (hours)"),
}


def cmd_bench(args):
    import importlib
    parts = [flag for flag in EIE_PARTS if getattr(args, flag.replace("-", "_"))]
    if parts and args.core != "eie":
        raise EiegenError(f"--{parts[0]} goes with eiegen bench eie, not {args.core}")
    if len(parts) > 1:
        raise EiegenError(f"--{parts[0]} and --{parts[1]} are two benches: give one")
    module, function = (EIE_PARTS[parts[0]][0] if parts else BENCHES[args.core]).split(":")
    bench = getattr(importlib.import_module(f"sw.benchmarks.{module}"), function)
    bench(Path(args.out), progress=progress)


#: ``eiegen demo --digits``: at most the bundled MNIST test split (``sw.train.datasets``).
DEMO_DIGITS = 1000


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

    progress("1/6 compress: LeNet-300-100 on the bundled MNIST digits (Deep Compression)")
    model, comp, _ = compress_preset("lenet-300-100", progress=progress)
    model_file.save(model, out / "lenet-300-100.npz")

    progress(f"2/6 generate: the EIE engine for it ({model.pes} PEs) -> {out}/eie/eie.v")
    eie_sim.generate(model, out / "eie")
    data = load("mnist")
    x, labels = data.x_test[:args.digits], data.y_test[:args.digits]
    progress(f"3/6 simulate: {len(x)} test digits on the engine in Verilator, "
              f"against the golden model")
    y, eie = eie_sim.run(model, x, progress=progress)
    if eie["mismatches"]:
        raise EiegenError(f"{eie['mismatches']} engine outputs differ from the golden model")
    save_array(out / "eie_outputs.npy", y)
    eie["accuracy"] = float(np.mean(y.argmax(axis=1) == labels))

    # Eight multipliers: the UP5K's DSP count, so the array fits both targets.
    params = dict(lanes=2, width=4, relu=True)
    rng = np.random.default_rng(2017)
    # A dense fixed-point layer: 8-bit weights in [-1, 1), 8-bit activations,
    # biases at the product scale; ReLU keeps what the next layer would see.
    w = rng.integers(-128, 128, (32, 100))
    xm = rng.integers(-128, 128, (16, 100))
    b = rng.integers(-4096, 4096, 32)
    progress(f"4/6 MAC array: {params['lanes']}x{params['width']} -> {out}/mac.v, a 100 -> 32 "
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
    progress(f"5/6 build: the {board} bitstream for {name} ({pes} PEs, sparse matrix in "
              f"SPRAM)")
    built = build(board, engine.config, engine.baked_image, out / board, progress=progress)
    built.pop("utilization")
    xs = data.x_test[:5]
    progress(f"6/6 the host driver on the simulated {board} (system top, UART included, in "
              f"Verilator): load the model, then {len(xs)} digits")
    from boards.flow import BOARDS, board_baud
    run = run_simulated_board(small, engine, xs, progress=progress,
                              clock_hz=BOARDS[board]["clock_mhz"] * 1e6, baud=board_baud(board))
    ys, board_cycles = run["y"], run["engine_cycles"]
    board_mismatches = int((ys != infer(small, xs)).sum())
    if board_mismatches:
        raise EiegenError(f"{board_mismatches} outputs of the simulated board differ from "
                          "the golden model")
    summary = {"compression": comp, "eie": eie, "mac_simulation": sim, "board": built,
               "board_simulation": {"samples": len(xs), "mismatches": board_mismatches,
                                    "cycles": board_cycles, "baud": board_baud(board),
                                    "model_load_s": run["load_s"],
                                    "inferences_per_s": len(xs) / run["batch_s"]},
               "wall_s": round(time.monotonic() - started, 1)}
    write_json(out / "demo.json", summary)
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
    print(f"{board} ({name}, {pes} PE{'s' * (pes > 1)}): {built['bitstream']}, "
          f"{built['luts']} LUTs, {built['dsps']} DSPs, {built['brams']} BRAMs, {built['sprams']} SPRAMs, Fmax "
          f"{built['fmax_mhz']} MHz at a "
          f"{built['clock_mhz']} MHz clock; simulated board through the host driver: "
          f"{len(xs)} digits, 0 mismatches, {board_cycles} engine cycles for the last")
    print(f"report: {out / 'demo.json'}; took {summary['wall_s']} s")


def _add_cores(cores, verb, registry):
    """One ``eiegen VERB CORE`` parser a core: the core's options, then what
    every core of ``verb`` takes."""
    for core in registry.cores():
        p = cores.add_parser(core.name, help=core.help)
        core.options(p, verb)
        if verb == "generate":
            p.add_argument("--out", required=True, type=output_folder,
                           help=f"output folder (DIR/{core.name}.v, DIR/{core.name}.json)")
        elif verb == "sim":
            core.sim_arguments(p)
            run_options(p, core.sim_report)
        else:
            synth_options(p)
        p.set_defaults(func=partial(_run_core, core, verb))


def _run_core(core, verb, args):
    # The options become parameters first: a contradiction fails before any
    # file is read.
    core.command(verb)(args, core.params(args))


def build_parser(registry=core_registry.REGISTRY):
    """The ``eiegen`` argument parser, its core verbs offering ``registry``'s cores."""
    parser = Parser(prog="eiegen", description=(
        "Compressed neural networks on open FPGAs: generate hardware, prove it bit-exact "
        "in Verilator against the golden model, synthesize it with Yosys and nextpnr."))
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB",
                                  parser_class=Parser)
    for verb, help in CORE_VERBS.items():
        # The cores are added when the verb is used: listing them imports
        # every core's flow module, which eiegen --help need not wait for.
        def populate(p, verb=verb):
            cores = p.add_subparsers(dest="core", required=True, metavar="CORE",
                                     parser_class=Parser)
            _add_cores(cores, verb, registry)
        verbs.add_parser(verb, help=help, populate=populate)

    p = verbs.add_parser("compress", help="Deep Compression into a model file")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", choices=["lenet-300-100", "digits-mlp"],
                        help="train and compress a bundled network on its bundled data")
    source.add_argument("--weights", help="FILE.npz of float arrays W0, b0, W1, b1, ...")
    source.add_argument("--onnx", help="MODEL.onnx: a network exported from PyTorch or Keras "
                                       "(with --data)")
    p.add_argument("--out", required=True, type=output_file,
                   help="the model file to write (M.npz)")
    p.add_argument("--report", type=output_file,
                   help="R.json: compression ratio, accuracy per stage, sizes")
    p.add_argument("--pes", type=int, help="PEs the rows are interleaved over (default 8)")
    p.add_argument("--index-bits", type=int, help="codebook index bits (default 4)")
    p.add_argument("--z-bits", type=int, help="relative index bits (default 4)")
    p.add_argument("--act-bits", type=int, help="activation width (default 16)")
    p.add_argument("--codebook-bits", type=int, help="codebook entry width (default 16)")
    p.add_argument("--bias-bits", type=int, help="bias width (default 32)")
    p.add_argument("--init", default="linear", choices=["linear", "density", "random"],
                   help="k-means initialization (default linear)")
    p.add_argument("--quality", help="with --weights or --onnx: pruning quality per weighted layer, "
                        "e.g. 1.5,1.5,1 (--onnx default: searched)")
    p.add_argument("--calibration", help="with --weights: X.npy of raw inputs (value = raw/256) "
                                         "to choose activation radix points")
    g = p.add_argument_group("with --onnx")
    g.add_argument("--data", help="X.npy: float inputs in the model's units, (N, *input shape): "
                                  "calibration (and training, with --labels)")
    g.add_argument("--labels", help="y.npy: the classes of --data; fine-tunes after pruning "
                                    "and sharing")
    g.add_argument("--eval-data", help="Xe.npy: inputs accuracy is measured on (default: 20%% "
                                       "of --data held out)")
    g.add_argument("--eval-labels", help="ye.npy: their classes (default: the float network's "
                                         "predictions)")
    g.add_argument("--conv-index-bits", type=integer(1, 8), default=8,
                   help="codebook index bits of convolution layers (default 8)")
    g.add_argument("--retrain-epochs", type=integer(0), default=2,
                   help="masked retraining epochs after pruning (default 2)")
    g.add_argument("--finetune-epochs", type=integer(0), default=1,
                   help="centroid fine-tuning epochs after sharing (default 1)")
    g.add_argument("--lr", type=number(above=0), default=0.01, help="fine-tuning learning rate "
                                                          "(default 0.01)")
    p.add_argument("--seed", type=integer(0), default=0)
    p.set_defaults(func=cmd_compress)

    p = verbs.add_parser("inspect", help="the per-layer table of a model file")
    p.add_argument("model", help="M.npz")
    p.set_defaults(func=cmd_inspect)

    p = verbs.add_parser("golden", help="bit-exact integer inference and the EIE cycle model")
    p.add_argument("model", help="M.npz")
    p.add_argument("--inputs", required=True,
                   help="X.npy: (B, *input shape), raw integers or floats as the model says")
    p.add_argument("--out", required=True, type=output_file,
                   help="Y.npy: integer outputs of the last layer")
    p.add_argument("--report", type=output_file, help="R.json: the cycle model's figures per layer (fully "
                                    "connected networks), the layers' shapes (others)")
    p.add_argument("--queue-depth", type=integer(1), default=8,
                   help="activation queue depth (default 8)")
    for flag, _, help in EIE_FLAGS:
        p.add_argument(flag, action=argparse.BooleanOptionalAction,
                       help=f"cycles of an engine built with {flag}")
    p.set_defaults(func=cmd_golden)

    p = verbs.add_parser("bench", help="measure cores and write docs/benchmarks.md")
    p.add_argument("core", choices=list(BENCHES))
    p.add_argument("--out", default="docs", type=existing_folder,
                   help="folder of benchmarks.md (default docs)")
    for flag, (_, help) in EIE_PARTS.items():
        p.add_argument(f"--{flag}", action="store_true",
                       help=f"eie only: {help}, instead of the LeNet runs and synthesis")
    p.set_defaults(func=cmd_bench)

    add_board_verbs(verbs)
    add_experiment_verb(verbs)
    add_soak_verb(verbs)
    add_explore_verb(verbs)

    p = verbs.add_parser("demo", help="the whole path on bundled defaults")
    p.add_argument("--out", default="eiegen-demo", type=output_folder,
                   help="output folder (default eiegen-demo)")
    p.add_argument("--digits", type=integer(1, DEMO_DIGITS), default=100,
                   help="test digits run on the EIE engine (default 100)")
    p.set_defaults(func=cmd_demo)
    return parser


def _error(*parts):
    """One line on stderr, whatever the message holds."""
    text = "".join(map(str, parts))
    print("eiegen: error: " + "; ".join(l.strip() for l in text.splitlines() if l.strip()),
          file=sys.stderr)


def main(argv=None):
    # Cores are built to validate options before anything is written; those
    # throw-away instances are not meant to be elaborated.
    warnings.filterwarnings("ignore", category=UnusedElaboratable)
    args = build_parser().parse_args(argv)
    # One BLAS thread: the matrices here are small, and threaded OpenBLAS ran
    # training many times slower on machines whose cores are shared.
    from threadpoolctl import threadpool_limits
    try:
        with threadpool_limits(1, user_api="blas"):
            args.func(args)
    except (EiegenError, ValueError) as error:
        _error(error)
        return 1
    except OSError as error:  # the disk, not the inputs: full, gone, refused midway
        _error(f"{error.filename}: " if error.filename else "", error.strerror or error)
        return 1
    except KeyboardInterrupt:
        print("eiegen: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
