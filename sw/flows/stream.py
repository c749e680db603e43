"""What every streaming array's flow shares: describe, tile, run in Verilator, synthesize.

A layer ``W`` (M, N) times samples ``X`` (B, N) runs on an array of ``lanes``
x ``width`` sample by sample, rows ``lanes`` at a time, inputs ``width`` at
a time, zero-padded at the edges; each row group's dot product is one run
of beats from ``first`` to ``last`` and comes back as one output beat.
"""

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from amaranth.hdl import Value

from sw.files import write_json, write_text
from sw.flows.registry import Core, register
from sw.flows.toolchain import simulate, synth_report, to_verilog
from sw.spec.packing import pack, unpack

__all__ = ["check_shapes", "describe_core", "describe_ports", "describe_fields", "write_design",
           "tile_rows", "untile", "latency_job", "run_beats", "layer_report", "run_layer",
           "synth_core", "register_array"]


def describe_ports(core):
    """The top level's ports, clock and reset first: JSON-ready name, direction, width."""
    return [{"name": "clk", "direction": "in", "width": 1},
            {"name": "rst", "direction": "in", "width": 1}] + [
        {"name": "__".join(map(str, path)),
         "direction": "in" if member.flow.name == "In" else "out",
         "width": len(Value.cast(value))}
        for path, member, value in core.signature.flatten(core)]


def describe_fields(core):
    """The input payload's fields: JSON-ready offset and width of each."""
    return {field: {"offset": f.offset, "width": f.width} for field, f in core.i.payload.shape()}


def describe_core(core, name, top, **extra):
    """JSON-ready description: parameters, ports, input fields, latency, ``extra``."""
    p = core.params
    return {
        "core": name, "top": top, "params": p,
        "ports": describe_ports(core),
        "input_fields": describe_fields(core),
        "output": {"lanes": p["lanes"], "width": core.out_width,
                   "signed": core.o.payload.shape().elem_shape.signed},
        "latency_cycles": core.latency,
        **extra,
    }


def check_shapes(w, x, max_inputs, **per_row):
    """Refuse a layer whose arrays do not fit together: one-line ``ValueError``.

    ``w`` (M, N) and ``x`` (B, N) must be 2-D integer arrays, N at most
    ``max_inputs``; each ``per_row`` array (``None`` to skip) must have
    shape (M,).
    """
    for name, array, dims in (("weights", w, 2), ("inputs", x, 2),
                              *((name, a, 1) for name, a in per_row.items())):
        if array is None:
            continue
        if array.ndim != dims:
            raise ValueError(f"{name} must be a {dims}-D array, not shape {array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integers (fixed-point mantissas), "
                             f"not {array.dtype}")
    (m, n), (batch, n_x) = w.shape, x.shape
    if n_x != n:
        raise ValueError(f"inputs have {n_x} features but weights have {n} columns: "
                         f"shapes must be W (M, N) and X (B, N)")
    for name, array in per_row.items():
        if array is not None and array.shape != (m,):
            raise ValueError(f"{name} has shape {array.shape}, expected ({m},) for {m} "
                             f"weight rows")
    if n > max_inputs:
        raise ValueError(f"the layer has {n} inputs, over the array's maximum "
                         f"{max_inputs}: raise --max-inputs")
    if 0 in (m, n, batch):
        raise ValueError(f"empty layer: weights {w.shape}, inputs {x.shape}")


def write_design(core, top, out_dir, stem, info):
    """Write ``STEM.v`` and ``STEM.json`` (``info``) into ``out_dir``; return their paths."""
    verilog = to_verilog(core, top)  # before the folder: a failure leaves nothing
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    write_text(out_dir / f"{stem}.v", verilog)
    write_json(out_dir / f"{stem}.json", info)
    return out_dir / f"{stem}.v", out_dir / f"{stem}.json"


def tile_rows(w, x, lanes, width, per_row=None, encode=None, layout=None):
    """The beats that compute every sample's dot products with ``W``'s rows, in order.

    Sample-major, then groups of ``lanes`` rows, then chunks of ``width``
    inputs (zero-padded). ``per_row`` maps a payload field to an (M,) array
    sent with each group (zero rows pad it; ``None`` means zeros).
    ``encode`` turns a chunk of ``width`` inputs into its payload value
    (default: a list). Beats are payload dicts, or with ``layout`` (the
    input stream's) packed integers: each group's weights and side fields
    are then packed once, not once a sample, which is most of the work.
    """
    encode = encode or (lambda chunk: chunk.tolist())
    m, n = w.shape
    groups, chunks = -(-m // lanes), -(-n // width)
    wp = np.zeros((groups * lanes, chunks * width), dtype=np.int64)
    wp[:m, :n] = w
    xp = np.zeros((x.shape[0], chunks * width), dtype=np.int64)
    xp[:, :n] = x
    sides = {}
    for name, values in (per_row or {}).items():
        values = np.zeros(m, dtype=np.int64) if values is None else np.asarray(values)
        sides[name] = np.zeros(groups * lanes, dtype=np.int64)
        sides[name][:m] = values
    fields = dict(layout) if layout is not None else None

    def field(name, value):
        if fields is None:
            return {name: value}
        return pack(fields[name].shape, value) << fields[name].offset

    def join(parts):
        if fields is None:
            return {k: v for part in parts for k, v in part.items()}
        return sum(parts)

    weights = [field("weight", [encode(row) for row in
                                wp[g * lanes:(g + 1) * lanes, c * width:(c + 1) * width]])
               for g in range(groups) for c in range(chunks)]
    side = [join([field(name, values[g * lanes:(g + 1) * lanes].tolist())
                  for name, values in sides.items()]) for g in range(groups)]
    flags = [join([field("first", int(c == 0)), field("last", int(c == chunks - 1))])
             for c in range(chunks)]
    beats = []
    for sample in xp:
        acts = [field("act", encode(sample[c * width:(c + 1) * width])) for c in range(chunks)]
        for g in range(groups):
            beats += [join([acts[c], weights[g * chunks + c], side[g], flags[c]])
                      for c in range(chunks)]
    return beats


def untile(results, batch, m, lanes):
    """Output beats (lists of ``lanes`` values) back into Y of shape (B, M)."""
    groups = -(-m // lanes)
    y = np.array(results, dtype=np.int64).reshape(batch, groups * lanes)
    return y[:, :m]


def latency_job(core):
    """What the stream bench needs to measure a core's latency against ``core.latency``:
    ``{"cycles": core.latency, "last_bit": where the beat's ``last`` flag is}``, or
    ``None`` for a core without one, whose every beat makes one result (``hw.pool``)."""
    fields = core.i.payload.shape()
    last = fields["last"].offset if "last" in fields.members else None
    return {"cycles": core.latency, "last_bit": last}


def run_beats(core, top, beats, outputs, *, seed=0, in_stall=0.0, out_stall=0.0,
              workdir=None):
    """Push ``beats`` (payload dicts or packed integers) through ``core``'s Verilog
    in Verilator with random stalls.

    Returns ``(results, cycles)``: the ``outputs`` output beats unpacked with
    the core's own layout, and the cycles from reset to the last one. The
    bench also measures the latency, which must equal ``core.latency``
    (``latency_job``).
    """
    keep = workdir is not None
    workdir = Path(workdir) if keep else Path(tempfile.mkdtemp(prefix="eiegen-sim-"))
    workdir.mkdir(parents=True, exist_ok=True)
    shape_in = core.i.payload.shape()
    job = {
        "inputs": [format(beat if isinstance(beat, int) else pack(shape_in, beat), "x")
                   for beat in beats],
        "outputs": outputs, "seed": seed, "in_stall": in_stall, "out_stall": out_stall,
        "result": str(workdir / "result.json"),
        "max_cycles": int(20 * (len(beats) + core.latency)
                          / max(1e-3, (1 - in_stall) * (1 - out_stall))) + 1000,
        "latency": latency_job(core),
    }
    (workdir / "job.json").write_text(json.dumps(job))
    simulate(to_verilog(core, top), top, "sw.flows.testbench.stream", workdir=workdir,
             env={"EIEGEN_JOB": str(workdir / "job.json")})
    result = json.loads((workdir / "result.json").read_text())
    shape_out = core.o.payload.shape()
    results = [unpack(shape_out, int(beat, 16)) for beat in result["outputs"]]
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return results, result["cycles"]


def layer_report(name, core, w, x, beats, cycles, y, golden, *, peak, seed, in_stall, out_stall,
                 started):
    """The report of one layer's run: shape, cycles, mismatches against ``golden``."""
    batch, (m, n) = x.shape[0], w.shape
    macs = batch * m * n
    return {
        "core": name, "params": core.params, "batch": batch, "rows": m, "inputs": n,
        "beats": len(beats), "cycles": cycles, "latency_cycles": core.latency,
        "mismatches": int(np.count_nonzero(y != golden)), "outputs": int(y.size),
        "macs": macs, "macs_per_cycle": round(macs / cycles, 3), "peak_macs_per_cycle": peak,
        "seed": seed, "in_stall": in_stall, "out_stall": out_stall,
        "wall_s": round(time.monotonic() - started, 2),
    }


def run_layer(name, core, top, w, x, side, golden, *, peak, started, encode=None, seed=0,
              in_stall=0.0, out_stall=0.0, workdir=None):
    """Run the checked layer ``W`` (M, N), ``X`` (B, N) on an array in Verilator.

    ``side`` maps the per-row payload fields to (M,) arrays and ``encode``
    a chunk of inputs to its payload (``tile_rows``); the stall options go
    to ``run_beats``. Returns ``(y, report)``, ``y`` (B, M) and
    ``layer_report``'s report against ``golden``, which ``peak`` and
    ``started`` (``time.monotonic()`` when the run began) complete.
    """
    p = core.params
    batch, m = x.shape[0], w.shape[0]
    beats = tile_rows(w, x, p["lanes"], p["width"], side, encode=encode,
                      layout=core.i.payload.shape())
    results, cycles = run_beats(core, top, beats, batch * -(-m // p["lanes"]), seed=seed,
                                in_stall=in_stall, out_stall=out_stall, workdir=workdir)
    y = untile(results, batch, m, p["lanes"])
    report = layer_report(name, core, w, x, beats, cycles, y, golden, peak=peak, seed=seed,
                          in_stall=in_stall, out_stall=out_stall, started=started)
    return y, report


def synth_core(build_core, params, top, target, workdir=None, **options):
    """Out-of-context synthesis of ``build_core(params)``; ``(report, core)``.

    ``options`` go to ``sw.flows.toolchain.synth_report`` (``synth_flags``, ``seeds``).
    """
    made = []  # the cores synthesized; the first one describes them all

    def make():
        made.append(build_core(params))
        return made[-1]
    report = synth_report(make, top, target, workdir, **options)
    return report, made[0]


def register_array(flow, name, help, *, title, options, raw, params, files, kind, generated):
    """Declare ``eiegen generate|sim|synth NAME`` for a streaming array (``sw.flows.registry``).

    The MAC, XNOR and ternary arrays' commands are one set of commands
    driven by this table: only the options, the parameters they make, the
    data files ``sim`` reads and the wording of the messages differ. CLI
    helpers are imported when a command runs: the flow does not need the CLI.

    Parameters
    ----------
    flow : module
        The array's flow module; its ``build_core``, ``check_layer``,
        ``generate``, ``run`` and ``synth`` serve the commands.
    name, help : str
        The core's name and ``--help`` line (``Core``).
    title : str
        The title of the array's group of options.
    options : callable
        ``options(group)`` adds the array's options but ``--raw``.
    raw : (str, str)
        The parameter ``--raw`` turns off, and the help of ``--raw``.
    params : sequence of str
        The flow's parameters in order, each taken from the option of that
        ``dest`` (``raw[0]`` from ``not --raw``); with a ``relu`` among them
        ``--raw --relu`` is refused.
    files : dict
        ``sim``'s input files and their help, in order: ``weights``,
        ``inputs``, ``bias``, then at most one more per-row array (an empty
        path means none of it, while an empty ``--bias`` is a missing file).
    kind : str
        The array in ``sim``'s and ``synth``'s messages ("xnor", "ternary"),
        "" for the MAC array, which they call just the array.
    generated : str
        What ``generate`` reports of the design, a format string of ``core``.
    """
    (raw_param, raw_help), extra = raw, list(files)[3:]

    def cli_options(parser, verb):
        g = parser.add_argument_group(title)
        options(g)
        g.add_argument("--raw", action="store_true", help=raw_help)

    def cli_params(args):
        from sw.errors import EiegenError
        if "relu" in params and args.raw and args.relu:
            raise EiegenError("--raw and --relu contradict each other: --raw means no ReLU")
        return {p: not args.raw if p == raw_param else getattr(args, p) for p in params}

    def cli_sim_arguments(p):
        for file, text in files.items():
            p.add_argument(f"--{file}", required=file in ("weights", "inputs"), help=text)
        from sw.cli.common import output_file
        p.add_argument("--out", required=True, type=output_file, help="Y.npy, shape (B, M)")

    def cli_generate(args, values):
        from sw.cli.common import progress
        core = flow.build_core(values)  # validate before creating anything
        verilog, meta = flow.generate(values, args.out)
        progress(f"wrote {verilog} and {meta}: " + generated.format(core=core))

    def cli_simulate(args, values):
        from sw.cli.common import load_array, simulate_layer
        core = flow.build_core(values)
        w = load_array(args.weights, "weights")
        x = load_array(args.inputs, "inputs")
        paths = [(args.bias, "bias")] + [(getattr(args, file) or None, file) for file in extra]
        arrays = [None if path is None else load_array(path, what) for path, what in paths]
        flow.check_layer(core, w, x, *arrays)
        simulate_layer(args, flow.run, values, f"{kind} " if kind else "", w, x, *arrays)

    def cli_synthesize(args, values):
        from sw.cli.common import synthesize_array
        flow.build_core(values)
        synthesize_array(args, flow.synth, values, f"the {kind} array " if kind else "")

    return register(Core(name=name, help=help, options=cli_options, params=cli_params,
                         generate=cli_generate, simulate=cli_simulate,
                         synthesize=cli_synthesize, sim_arguments=cli_sim_arguments))
