"""What the ``eiegen`` verbs share: the parser class, progress lines, loading and
writing files, and the option groups several verbs take.

Options are checked as they are read, before any work: a file or folder
eiegen writes by ``type=output_file`` / ``output_folder`` (``sw.files``), a
number by ``type=integer(...)`` / ``number(...)``; argparse names the option
in the one-line refusal (docs/reliability.md).

A leaf: it imports no other CLI module, so the verb modules (``main``,
``board``, ``experiment``) and the cores' flow modules can all import it
without importing one another.
"""

import argparse
from pathlib import Path

import numpy as np

from sw import files
from sw.errors import EiegenError
from sw.flows.toolchain import TARGETS

__all__ = ["Parser", "progress", "load_array", "load_float_layers", "load_model", "load_model_inputs",
           "output_file", "output_folder", "existing_folder", "integer", "number", "probability",
           "check_writable", "check_stalls", "write_json", "save_checked",
           "run_options", "synth_options", "fixed_point_options",
           "EIE_OPTIONS", "EIE_FLAGS", "eie_options", "eie_overrides",
           "simulate_layer", "synthesize_array"]


class Parser(argparse.ArgumentParser):
    """Usage mistakes are one line too, with where to look for help.

    ``populate(parser)``, if given, adds the parser's arguments when it is
    first used (to parse or for help) rather than when it is built: the
    core verbs import every core's flow module to list them, and
    ``eiegen --help`` should not wait for that.
    """

    def __init__(self, *args, populate=None, **kwargs):
        super().__init__(*args, **kwargs)
        self._populate = populate

    def _populated(self):
        populate, self._populate = self._populate, None
        if populate is not None:
            populate(self)

    def parse_known_args(self, args=None, namespace=None):
        self._populated()
        return super().parse_known_args(args, namespace)

    def format_usage(self):
        self._populated()
        return super().format_usage()

    def format_help(self):
        self._populated()
        return super().format_help()

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def progress(message):
    print(f"[eiegen] {message}", flush=True)


def load_array(path, what):
    """The one array of the .npy file at ``path`` (``what`` names it in errors)."""
    path = Path(path)
    kind = files.sniff(path)
    if kind != "npy":
        raise EiegenError(f"{what} file {path} " + {
            "missing": "not found", "folder": "is a folder, not a .npy file",
            "zip": "is an .npz archive: save the one array with numpy.save"}.get(
                kind, f"is not a .npy array ({kind if kind == 'empty' else 'no .npy header'}): "
                      f"save a numeric array with numpy.save"))
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        # numpy's own words would advise allow_pickle=True: never for a file
        # from elsewhere. Say what the file is instead.
        kind = "holds Python objects, which eiegen does not load" \
            if "pickle" in str(error) else "is not a readable .npy array (damaged or truncated)"
        raise EiegenError(f"{what} file {path} {kind}: save a numeric array with "
                          f"numpy.save") from None


def load_float_layers(path):
    """The float layers ``[{"W", "b"}, ...]`` of the .npz archive at ``path``
    (arrays W0, b0, W1, b1, ...), refused in one line if it holds none."""
    path = Path(path)
    kind = files.sniff(path)
    if kind != "zip":
        raise EiegenError(f"weights file {path} " + {
            "missing": "not found", "folder": "is a folder, not an .npz archive",
            "npy": "is one .npy array: save W0, b0, W1, b1, ... with numpy.savez"}.get(
                kind, f"is not an .npz archive ({kind if kind == 'empty' else 'not a zip'})"))
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


def load_model(path, *, any_network=False):
    """The model file at ``path`` (None: None); one the EIE and dense engines cannot run
    whole (convolutions, pooling) is refused unless ``any_network``."""
    from sw.formats import model as model_file
    model = None if path is None else model_file.load(path)
    if model is not None and not any_network and not model.is_mlp:
        raise EiegenError(f"{path} holds convolution or pooling layers: this engine runs "
                          f"fully connected networks; run the whole network with eiegen sim "
                          f"network")
    return model


def load_model_inputs(path, model):
    """Inputs (B, *the model's input shape) from ``path``, checked against what the model takes."""
    from sw.golden.network import check_inputs
    return check_inputs(model, load_array(path, "inputs"))


def check_writable(*paths, folders=()):
    """Refuse, before any work, output files ``paths`` and output ``folders``
    (None: not asked for) that cannot be written (``sw.files``), or a file
    named twice."""
    given = [Path(p) for p in paths if p is not None]
    for path in given:
        files.check_file(path)
    for path in folders:
        if path is not None:
            files.check_folder(path)
    resolved = [p.resolve() for p in given]
    for i, path in enumerate(resolved):
        if path in resolved[:i]:
            raise EiegenError(f"{given[i]} is named as two outputs: name two files")


def _option_type(name, check):
    """An argparse type: ``check(text)`` or its one-line refusal, which argparse
    prefixes with the option's name."""
    def convert(text):
        try:
            return check(text)
        except EiegenError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    convert.__name__ = name
    return convert


#: ``type=`` of an option naming a file eiegen writes: refused at parse time,
#: before any work, if it cannot be written (``sw.files.check_file``).
output_file = _option_type("output_file", lambda text: str(files.check_file(text)))
#: ``type=`` of an option naming a folder eiegen writes into (made if absent).
output_folder = _option_type("output_folder", lambda text: str(files.check_folder(text)))
#: ``type=`` of an option naming a folder eiegen updates (it must exist).
existing_folder = _option_type("existing_folder",
                               lambda text: str(files.check_folder(text, exist=True)))


def integer(lo=None, hi=None):
    """``type=`` of an integer option in [``lo``, ``hi``] (None: unbounded)."""
    def check(text):
        try:
            value = int(text)
        except ValueError:
            raise EiegenError(f"must be an integer, not {text!r}") from None
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise EiegenError(f"must be an integer {_range(lo, hi)}, not {value}")
        return value
    return _option_type("integer", check)


def _seeds(text):
    """``1-4``, ``1,3`` or ``2``: nextpnr seeds, each at least 1, none twice."""
    seeds = []
    for part in text.split(","):
        low, _, high = part.strip().partition("-")
        try:
            first, last = int(low), int(high or low)
        except ValueError:
            raise EiegenError(f"must be seeds like 1-4 or 1,3, not {text!r}") from None
        if first < 1 or last < first:
            raise EiegenError(f"must be seeds of at least 1, low to high (1-4), not {text!r}")
        seeds += range(first, last + 1)
    if len(set(seeds)) < len(seeds):
        raise EiegenError(f"names a seed twice: {text!r}")
    return tuple(seeds)


#: ``type=`` of ``--seeds``.
seed_list = _option_type("seeds", _seeds)


def fmax_summary(report):
    """A synthesis report's Fmax as a sentence: the one seed's, or the median
    and range of several."""
    by_seed = report.get("fmax_by_seed") or {}
    if len(by_seed) < 2:
        return f"Fmax {report['fmax_mhz']} MHz"
    low, high = report["fmax_range"]
    return (f"Fmax {report['fmax_mhz']} MHz (median of nextpnr seeds "
            f"{', '.join(map(str, by_seed))}; {low}-{high})")


def number(above=None, at_most=None, at_least=None, below=None, means=None):
    """``type=`` of a finite real option: > ``above``, >= ``at_least``,
    < ``below``, <= ``at_most`` (None: no such bound); ``means`` says what
    it is in the refusal ("a probability in [0, 1)")."""
    def check(text):
        try:
            value = float(text)
        except ValueError:
            raise EiegenError(f"must be a number, not {text!r}") from None
        bad = not np.isfinite(value) or any(
            bound is not None and not ok(value, bound)
            for bound, ok in ((above, float.__gt__), (at_least, float.__ge__),
                              (below, float.__lt__), (at_most, float.__le__)))
        if bad:
            bounds = [f"{op} {b:g}" for op, b in ((">", above), (">=", at_least), ("<", below),
                                                  ("<=", at_most)) if b is not None]
            raise EiegenError(f"must be {means or 'a finite number'}"
                              f"{' ' + ' and '.join(bounds) if bounds and not means else ''}, "
                              f"not {text}")
        return value
    return _option_type("number", check)


#: ``type=`` of a probability in [0, 1): stall rates.
probability = number(at_least=0, below=1, means="a probability in [0, 1)")


def _range(lo, hi):
    if lo is not None and hi is not None:
        return f"from {lo} to {hi}"
    return f">= {lo}" if lo is not None else f"<= {hi}"


def check_stalls(args):
    for name, p in (("--in-stall", args.in_stall), ("--out-stall", args.out_stall)):
        if not 0 <= p < 1:
            raise EiegenError(f"{name} is a probability in [0, 1), not {p}")


def write_json(path, report):
    files.write_json(path, report)


def save_checked(args, y, report):
    """Write the report (if asked) and, only if the hardware agreed with the
    golden model everywhere, the outputs."""
    if args.report:
        write_json(args.report, report)
    if report["mismatches"]:
        raise EiegenError(f"{report['mismatches']} of {report['outputs']} outputs differ from "
                          f"the golden model; {args.out} not written")
    files.save_array(args.out, y)


def run_options(p, report_help):
    """What every ``sim`` verb takes besides its data: report, stall seed and rates."""
    p.add_argument("--report", type=output_file, help=report_help)
    p.add_argument("--seed", type=integer(0), default=0, help="seed of the random stalls")
    p.add_argument("--in-stall", type=probability, default=0.0,
                   help="probability the input stream withholds a beat each cycle")
    p.add_argument("--out-stall", type=probability, default=0.0,
                   help="probability the output stream is not ready each cycle")


def synth_options(p):
    """What every ``synth`` verb takes."""
    p.add_argument("--target", required=True, choices=list(TARGETS))
    p.add_argument("--report", type=output_file, help="R.json: LUTs, FFs, DSPs, BRAMs, Fmax")
    p.add_argument("--seeds", type=seed_list, default=(1,),
                   help="nextpnr placement seeds, e.g. 1-4 or 1,3 (default 1): Fmax is the "
                        "median, the report has each seed's")


def fixed_point_options(g, width, weight, dsp):
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


# The EIE engine's options: ``eiegen generate|sim|synth eie`` and the board
# verbs take them all, ``eiegen golden`` the flags.
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


def eie_options(parser, model_required):
    g = parser.add_argument_group("EIE engine options (default: sized to fit --model)")
    for flag, _, help in EIE_OPTIONS:
        g.add_argument(flag, type=int, help=help)
    for flag, _, help in EIE_FLAGS:
        g.add_argument(flag, action=argparse.BooleanOptionalAction, help=help)
    parser.add_argument("--model", required=model_required,
                        help="M.npz from eiegen compress" + (
                            "" if model_required else ": baked in, memories sized for it"))


def eie_overrides(args):
    return {key: getattr(args, key) for _, key, _ in EIE_OPTIONS + EIE_FLAGS
            if getattr(args, key) is not None}


def simulate_layer(args, run, params, what, w, x, *extra):
    """Run a checked layer on an array (``run``: its flow's ``run``); write the
    outputs only if all agree."""
    check_writable(args.out, args.report)
    check_stalls(args)
    progress(f"simulating {x.shape[0]} x {w.shape} on a {params['lanes']}x{params['width']} "
             f"{what}array in Verilator")
    y, report = run(params, w, x, *extra, seed=args.seed, in_stall=args.in_stall,
                    out_stall=args.out_stall)
    save_checked(args, y, report)
    progress(f"{report['outputs']} outputs, 0 mismatches against the golden model, "
             f"{report['cycles']} cycles ({report['macs_per_cycle']} of "
             f"{report['peak_macs_per_cycle']} MACs/cycle), wrote {args.out}")


def synthesize_array(args, synth, params, what):
    """Synthesize an array (``synth``: its flow's ``synth``) and print its figures."""
    check_writable(args.report)
    progress(f"synthesizing {what}for {args.target} (Yosys, nextpnr)")
    report = synth(params, args.target, seeds=args.seeds)
    if args.report:
        write_json(args.report, report)
    progress(f"{args.target}: {report['luts']} LUTs, {report['ffs']} FFs, {report['dsps']} DSPs, "
             f"{report['brams']} BRAMs, {fmax_summary(report)}")


def model_sim_arguments(p):
    """The data files of ``eiegen sim`` for an engine that runs a whole model."""
    p.add_argument("--inputs", required=True,
                   help="X.npy: (B, *input shape), raw integers or floats as the model says")
    p.add_argument("--out", required=True, type=output_file,
                   help="Y.npy: the last layer's integer outputs")
    p.add_argument("--runtime-load", action="store_true",
                   help="load the memories through the load port instead of baking them in")


def simulate_model(args, fits, run, summary, *, any_network=False):
    """``eiegen sim`` of an engine running ``--model`` on ``--inputs``.

    ``fits(model)`` refuses an engine the model does not fit, before anything
    is simulated; ``run(model, x, **stimulus)`` is the flow's run; the outputs
    are written only if all agree, then ``summary(report)`` is printed.
    ``any_network``: the engine runs convolutions and pooling too.
    """
    model = load_model(args.model, any_network=any_network)
    x = load_model_inputs(args.inputs, model)
    check_writable(args.out, args.report)
    check_stalls(args)
    fits(model)
    y, report = run(model, x, runtime_load=args.runtime_load, seed=args.seed,
                    in_stall=args.in_stall, out_stall=args.out_stall)
    save_checked(args, y, report)
    progress(f"{summary(report)}; wrote {args.out}")


def synthesize_model(args, fits, synth, what, summary):
    """``eiegen synth`` of an engine sized for ``--model`` (if given): ``fits``
    refuses what does not fit before Yosys runs; ``synth(model, target)`` is the
    flow's synthesis; ``summary(report)`` its figures (Fmax follows)."""
    model = load_model(args.model)
    check_writable(args.report)
    if model is not None:
        fits(model)
    progress(f"synthesizing {what} for {args.target} (Yosys, nextpnr)")
    report = synth(model, args.target, seeds=args.seeds)
    if args.report:
        write_json(args.report, report)
    progress(f"{args.target}: {summary(report)}, {fmax_summary(report)}")
