"""The EIE engine's flow: generate, simulate whole networks, compare, synthesize."""

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from sw.flows.eie_image import build_image, config_for
from sw.flows.toolchain import simulate, to_verilog
from sw.golden.cycles import network_cycles
from sw.golden.eie import infer, input_activations
from sw.spec.packing import pack, unpack

__all__ = ["TOP", "engine_for", "run", "layer_cycles_from_events"]

TOP = "eiegen_eie"


def engine_for(model, *, runtime_load=False, **overrides):
    """``(engine, image)`` sized for ``model``; baked in unless ``runtime_load``
    or the engine keeps memories in SPRAM (which starts empty)."""
    from hw.eie import EieEngine
    config = config_for(model, **overrides)
    image = build_image(model, config)
    return EieEngine(config, None if runtime_load or config.spram else image), image


def layer_cycles_from_events(events, starts, n_layers):
    """Per sample, the cycles of each layer and of the output, from the bench's
    time stamps of ``(cycle, layer, busy)`` changes."""
    per_sample = []
    bounds = list(starts[1:]) + [float("inf")]
    for start, stop in zip(starts, bounds):
        mine = [e for e in events if start <= e[0] <= stop]
        up = next(t for t, _, busy in mine if busy)
        marks = [up] + [t for t, layer, busy in mine if t > up and busy][:n_layers]
        down = next(t for t, _, busy in mine if t > up and not busy)
        cycles = [b - a for a, b in zip(marks, marks[1:])]
        per_sample.append({"layers": cycles, "output": down - marks[-1],
                           "inference": marks[-1] - up})
    return per_sample


def run(model, raw, *, runtime_load=False, seed=0, in_stall=0.0, out_stall=0.0,
        workdir=None, progress=None, **overrides):
    """Run raw inputs (B, inputs) through the generated engine in Verilator.

    Returns ``(y, report)``; ``report["mismatches"]`` counts outputs that
    differ from the golden model ``sw.golden.eie.infer``.
    """
    started = time.monotonic()
    engine, image = engine_for(model, runtime_load=runtime_load, **overrides)
    c = engine.config
    runtime_load = runtime_load or c.spram
    n = c.pes
    golden, acts = infer(model, raw, trace=True)
    load = image.load_beats() if runtime_load else []
    model_layers, _ = network_cycles(model, acts[:-1], c.queue_depth, c.sequential_scan,
                                     c.spram)
    budget = 20 * sum(l["cycles"] for l in model_layers)
    if progress:
        progress(f"Verilator: {len(raw)} inferences on {n} PEs (queue depth {c.queue_depth})")
    y, result = drive(engine, input_activations(model, raw), load, image.out_rows, budget,
                      len(model.layers), seed=seed, in_stall=in_stall, out_stall=out_stall,
                      workdir=workdir)
    rtl_layers = result["layer_cycles"]
    layers = []
    for l, (cycles, figures) in enumerate(zip(rtl_layers, model_layers)):
        layers.append({
            "cycles": cycles, "cycles_per_inference": cycles / len(raw),
            "model_cycles": figures["cycles"],
            "useful_macs": figures["useful_macs"],
            "pe_utilization": figures["useful_macs"] / (n * cycles),
            "load_balance_efficiency": figures["load_balance_efficiency"],
        })
    total = sum(rtl_layers)
    report = {
        "model": model.name, "config": vars(c) | {"acc_bits": c.accumulator_bits},
        "samples": len(raw), "mismatches": int(np.count_nonzero(y != golden)),
        "outputs": int(golden.size), "layers": layers, "cycles": total,
        "cycles_per_inference": total / len(raw),
        "output_cycles": sum(t["output"] for t in result["timing"]),
        "model_cycles": sum(l["cycles"] for l in model_layers),
        "pe_utilization": sum(l["useful_macs"] for l in layers) / (n * total),
        "load_balance_efficiency": float(np.average(
            [l["load_balance_efficiency"] for l in layers], weights=rtl_layers)),
        "runtime_load": runtime_load, "load_beats": len(load),
        "simulated_cycles": result["end"], "wall_s": round(time.monotonic() - started, 2),
    }
    return y, report


def drive(engine, a0, load, out_rows, budget, n_layers, *, seed=0, in_stall=0.0,
          out_stall=0.0, workdir=None):
    """Stream activation vectors ``a0`` (B, inputs) through ``engine`` (the EIE or
    the dense engine: the same ports) in Verilator, after ``load`` beats
    ``(mem, pe, addr, data)``, with random stalls on both streams.

    Returns ``(y, result)``: the first ``out_rows`` outputs of every vector,
    and the bench's record (``samples`` with their start cycles, ``events``
    of ``layer`` and ``busy``, ``end``) with each vector's cycles
    (``timing``, ``layer_cycles_from_events``) and each of the ``n_layers``
    layers' cycles summed over the vectors (``layer_cycles``). ``budget``
    bounds the cycles of the computation; the bench fails past it.
    """
    n = len(engine.input.payload)
    lanes = engine.input.payload.shape()
    words_in = -(-a0.shape[1] // n)
    padded = np.zeros((a0.shape[0], words_in * n), dtype=np.int64)
    padded[:, :a0.shape[1]] = a0
    samples = [[format(pack(lanes, row[w * n:(w + 1) * n]), "x") for w in range(words_in)]
               for row in padded]
    layout = engine.load.payload.shape()
    beats = [format(pack(layout, {"mem": mem, "pe": pe, "addr": addr, "data": value,
                                  "read": 0}), "x") for mem, pe, addr, value in load]
    keep = workdir is not None
    workdir = Path(workdir) if keep else Path(tempfile.mkdtemp(prefix="eiegen-engine-"))
    workdir.mkdir(parents=True, exist_ok=True)
    job = {"load": beats, "samples": samples, "out_words": -(-out_rows // n), "seed": seed,
           "in_stall": in_stall, "out_stall": out_stall,
           "max_cycles": budget + 200 * len(a0) + 10 * len(beats) + 10_000,
           "result": str(workdir / "result.json")}
    (workdir / "job.json").write_text(json.dumps(job))
    simulate(to_verilog(engine, TOP), TOP, "sw.flows.testbench.eie", workdir=workdir,
             env={"EIEGEN_JOB": str(workdir / "job.json")})
    result = json.loads((workdir / "result.json").read_text())
    shape = engine.output.payload.shape()
    y = np.array([[v for word in s["outputs"] for v in unpack(shape, int(word, 16))]
                  for s in result["samples"]], dtype=np.int64)[:, :out_rows]
    result["timing"] = timing = layer_cycles_from_events(
        result["events"], [s["start"] for s in result["samples"]], n_layers)
    result["layer_cycles"] = [sum(t["layers"][l] for t in timing) for l in range(n_layers)]
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return y, result


def describe(engine):
    """JSON-ready description: configuration, ports, memories, layer-table fields."""
    from hw.eie.config import MEMORIES, layer_fields
    from sw.flows.stream import describe_ports
    c = engine.config
    return {
        "core": "eie", "top": TOP, "config": vars(c) | {"acc_bits": c.accumulator_bits},
        "ports": describe_ports(engine), "load_memories": MEMORIES,
        "load_fields": {name: {"offset": f.offset, "width": f.width}
                        for name, f in engine.load.payload.shape()},
        "layer_fields": {k: {"offset": o, "width": w} for k, (o, w) in layer_fields(c).items()},
        "baked_model": engine.baked_image is not None,
        "macs_per_cycle_ceiling": c.pes,
    }


def generate(model, out_dir, **overrides):
    """Write ``eie.v`` and ``eie.json``; the model (if any) is baked in."""
    from hw.eie import EieEngine
    from hw.eie.config import EieConfig
    if model is None:
        engine = EieEngine(EieConfig(**overrides))
    else:
        engine, _ = engine_for(model, **overrides)
    from sw.flows.stream import write_design
    return write_design(engine, TOP, out_dir, "eie", describe(engine))


def synth(model, target, workdir=None, seeds=1, **overrides):
    """Out-of-context synthesis report of an engine (sized for ``model`` if
    given), placed and routed with nextpnr seeds ``seeds`` (one or several)."""
    from hw.eie import EieEngine
    from hw.eie.config import EieConfig
    from sw.flows.toolchain import synth_report

    made = []  # the engines synthesized; the first one describes them all

    def make():
        made.append(EieEngine(EieConfig(**overrides)) if model is None
                    else engine_for(model, **overrides)[0])
        return made[-1]
    report = synth_report(make, TOP, target, workdir, seeds=seeds)
    config = made[0].config
    report.update(core="eie", config=vars(config) | {"acc_bits": config.accumulator_bits},
                  pes=config.pes, luts_per_pe=round(report["luts"] / config.pes, 1))
    return report


# ---------------------------------------------------------------- eiegen generate|sim|synth eie
# Declared here, so the command line gains the core without a CLI module
# knowing it (sw.flows.registry). CLI helpers are imported when a command
# runs: the flow does not need the CLI.

def _cli_options(parser, verb):
    from sw.cli.common import eie_options
    eie_options(parser, model_required=verb == "sim")


def _cli_params(args):
    """The engine options set on the command line (the others come from the model)."""
    from sw.cli.common import eie_overrides
    return eie_overrides(args)


def _cli_sim_arguments(p):
    from sw.cli.common import model_sim_arguments
    model_sim_arguments(p)


def _cli_generate(args, overrides):
    from sw.cli.common import load_model, progress
    model = load_model(args.model)
    verilog, meta = generate(model, args.out, **overrides)
    info = json.loads(meta.read_text())
    c = info["config"]
    progress(f"wrote {verilog} and {meta}: {c['pes']} PEs, queue depth {c['queue_depth']}, "
             f"{'model baked in' if info['baked_model'] else 'memories loaded at run time'}")


def _cli_simulate(args, overrides):
    from sw.cli.common import progress, simulate_model

    def summary(report):
        per_layer = ", ".join(str(l["cycles"] // report["samples"]) for l in report["layers"])
        return (f"{report['samples']} inferences, 0 mismatches against the golden model; "
                f"{report['cycles_per_inference']:.0f} cycles per inference (layers "
                f"{per_layer}), PE utilization {100 * report['pe_utilization']:.1f}%, "
                f"{report['wall_s']} s wall")
    simulate_model(args, lambda model: engine_for(model, **overrides),
                   lambda model, x, **stimulus: run(model, x, progress=progress, **stimulus,
                                                    **overrides), summary)


def _cli_synthesize(args, overrides):
    from sw.cli.common import synthesize_model
    synthesize_model(
        args, lambda model: engine_for(model, **overrides),
        lambda model, target, seeds: synth(model, target, seeds=seeds, **overrides), "the EIE engine",
        lambda r: f"{r['luts']} LUTs ({r['luts_per_pe']} per PE), {r['ffs']} FFs, "
                  f"{r['dsps']} DSPs, {r['brams']} BRAMs")


# Imported here, not above, to keep the declaration in one place.
from sw.flows.registry import Core, register  # noqa: E402

register(Core(name="eie", help="EIE sparse matrix-vector engine", options=_cli_options,
              params=_cli_params, generate=_cli_generate, simulate=_cli_simulate,
              synthesize=_cli_synthesize, sim_arguments=_cli_sim_arguments))
