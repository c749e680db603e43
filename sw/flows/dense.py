"""The dense engine (the MAC array running whole networks) in Verilator."""

import json
import time

import numpy as np

from sw.flows.dense_image import build_dense_image, dense_config_for
from sw.flows.eie import drive
from sw.golden.eie import infer, input_activations

__all__ = ["dense_engine_for", "run", "describe", "generate", "synth", "TOP"]

TOP = "eiegen_dense"


def dense_engine_for(model, *, runtime_load=False, **options):
    """``(engine, image)`` for ``model``'s layers, decoded to dense weights; baked
    in unless ``runtime_load``. ``options``: ``lanes``, ``width`` and
    ``hw.dense_config.DenseConfig`` overrides."""
    from hw.dense_engine import DenseEngine
    config = dense_config_for(model, **options)
    image = build_dense_image(model, config)
    return DenseEngine(config, None if runtime_load else image), image


def run(model, raw, *, runtime_load=False, seed=0, in_stall=0.0, out_stall=0.0,
        workdir=None, progress=None, **options):
    """Raw inputs (B, inputs) through the dense engine; ``(y, report)`` with
    ``mismatches`` against the golden model ``sw.golden.eie.infer`` (the same
    network the EIE engine runs), and cycles per layer and inference."""
    started = time.monotonic()
    engine, image = dense_engine_for(model, runtime_load=runtime_load, **options)
    c = engine.config
    golden = infer(model, raw)
    if progress:
        progress(f"Verilator: {len(raw)} inferences on the {c.lanes}x{c.width} dense engine")
    beats = sum(-(-l.rows // c.lanes) * -(-l.cols // c.width) for l in model.layers)
    y, result = drive(engine, input_activations(model, raw),
                      image.load_beats() if runtime_load else [], image.out_rows,
                      2 * beats * len(raw) + 100 * len(model.layers), len(model.layers),
                      seed=seed, in_stall=in_stall, out_stall=out_stall, workdir=workdir)
    cycles = result["layer_cycles"]
    macs = sum(l.rows * l.cols for l in model.layers) * len(raw)
    return y, {
        "model": model.name, "config": vars(c), "samples": len(raw),
        "mismatches": int(np.count_nonzero(y != golden)), "outputs": int(golden.size),
        "layer_cycles": cycles, "cycles": sum(cycles),
        "cycles_per_inference": sum(cycles) / len(raw),
        # Dense: every weight is multiplied, zero or not.
        "mac_utilization": macs / (c.lanes * c.width * sum(cycles)),
        "runtime_load": runtime_load, "wall_s": round(time.monotonic() - started, 2),
    }


def describe(engine):
    """JSON-ready description: configuration, ports, memories, layer-table fields."""
    from hw.dense_config import DENSE_MEMORIES, dense_layer_fields
    from sw.flows.stream import describe_ports
    c = engine.config
    return {
        "core": "dense", "top": TOP, "config": vars(c) | {"acc_bits": c.accumulator_bits},
        "ports": describe_ports(engine), "load_memories": DENSE_MEMORIES,
        "load_fields": {name: {"offset": f.offset, "width": f.width}
                        for name, f in engine.load.payload.shape()},
        "layer_fields": {k: {"offset": o, "width": w}
                         for k, (o, w) in dense_layer_fields(c).items()},
        "baked_model": engine.baked_image is not None,
        "macs_per_cycle_ceiling": c.lanes * c.width,
    }


def generate(model, out_dir, **options):
    """Write ``dense.v`` and ``dense.json`` of the dense engine for ``model``,
    its weights baked in."""
    from sw.flows.stream import write_design
    engine, _ = dense_engine_for(model, **options)
    return write_design(engine, TOP, out_dir, "dense", describe(engine))


def synth(model, target, workdir=None, seeds=1, **options):
    """Out-of-context synthesis report of the dense engine for ``model``,
    placed and routed with nextpnr seeds ``seeds`` (one or several)."""
    from sw.flows.toolchain import synth_report
    made = []

    def make():
        made.append(dense_engine_for(model, **options)[0])
        return made[-1]
    report = synth_report(make, TOP, target, workdir, seeds=seeds)
    report.update(core="dense", config=vars(made[0].config))
    return report


# ---------------------------------------------------------------- eiegen generate|sim|synth dense
# Declared here, so the command line gains the core without a CLI module
# knowing it (sw.flows.registry). CLI helpers are imported when a command runs.

def _cli_options(parser, verb):
    g = parser.add_argument_group("dense engine options (the MAC array running whole networks)")
    g.add_argument("--lanes", type=int, default=2, help="outputs computed at once (default 2)")
    g.add_argument("--width", type=int, default=4,
                   help="inputs a beat, a multiple of --lanes (default 4)")
    parser.add_argument("--model", required=True,
                        help="M.npz from eiegen compress: its layers decoded to dense weights")


def _cli_params(args):
    return dict(lanes=args.lanes, width=args.width)


def _cli_sim_arguments(p):
    from sw.cli.common import model_sim_arguments
    model_sim_arguments(p)


def _cli_generate(args, options):
    from sw.cli.common import load_model, progress
    verilog, meta = generate(load_model(args.model), args.out, **options)
    c = json.loads(meta.read_text())["config"]
    progress(f"wrote {verilog} and {meta}: {c['lanes']}x{c['width']} MAC array, "
             f"{c['max_layers']} layers, model baked in")


def _cli_simulate(args, options):
    from sw.cli.common import progress, simulate_model

    def summary(report):
        return (f"{report['samples']} inferences, 0 mismatches against the golden model; "
                f"{report['cycles_per_inference']:.0f} cycles per inference, MAC utilization "
                f"{100 * report['mac_utilization']:.1f}%, {report['wall_s']} s wall")
    simulate_model(args, lambda model: dense_engine_for(model, **options),
                   lambda model, x, **stimulus: run(model, x, progress=progress, **stimulus,
                                                    **options), summary)


def _cli_synthesize(args, options):
    from sw.cli.common import synthesize_model
    synthesize_model(
        args, lambda model: dense_engine_for(model, **options),
        lambda model, target, seeds: synth(model, target, seeds=seeds, **options), "the dense engine",
        lambda r: f"{r['luts']} LUTs, {r['ffs']} FFs, {r['dsps']} DSPs, {r['brams']} BRAMs")


# Imported here, not above, to keep the declaration in one place.
from sw.flows.registry import Core, register  # noqa: E402

register(Core(name="dense", help="dense engine: the MAC array running whole networks",
              options=_cli_options, params=_cli_params, generate=_cli_generate,
              simulate=_cli_simulate, synthesize=_cli_synthesize,
              sim_arguments=_cli_sim_arguments,
              sim_report="R.json: mismatches, cycles per layer and inference"))
