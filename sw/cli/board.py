"""``eiegen build``, ``eiegen flash`` and ``eiegen infer``: the board verbs."""

import time

from sw.cli.common import (check_writable, eie_options, eie_overrides, integer, load_model,
                           load_model_inputs, number, output_file, output_folder, write_json)
from sw.files import save_array
from sw.errors import EiegenError
from sw.spec.protocol import BAUD

__all__ = ["add_board_verbs"]


def _progress(message):
    print(f"eiegen: {message}", flush=True)


def _design(args, model):
    """``(model, engine)`` a board is built with (``sw.host.simulated.board_design``)
    from the command line: the engine options over the board's organization,
    or with ``--core mac`` the dense engine (the MAC array, ``--lanes x
    --width``) running the model's layers decoded. ``build`` and ``infer``
    take the same options, so they agree on the memory layout a load writes."""
    from sw.host.simulated import board_design
    overrides = eie_overrides(args)
    if args.core == "mac":
        if model is None:
            raise EiegenError("--core mac needs --model: the dense engine is sized for it")
        if overrides:
            raise EiegenError(f"{', '.join('--' + k.replace('_', '-') for k in overrides)} "
                              f"set the EIE engine; the MAC array takes --lanes and --width")
        return board_design(args.board, model, mac=(args.lanes, args.width))
    return board_design(args.board, model, **overrides)


def cmd_build(args):
    from boards.flow import build
    model, engine = _design(args, load_model(args.model))
    image = engine.baked_image
    t = time.time()
    report = build(args.board, engine.config, image, args.out, clock_mhz=args.clock,
                   baud=args.baud, progress=_progress)
    report["wall_s"] = round(time.time() - t, 1)
    if args.report:
        write_json(args.report, {k: v for k, v in report.items() if k != "utilization"})
    _progress(f"{args.board}: {report['bitstream']}, {report['luts']} LUTs, {report['dsps']} "
              f"DSPs, {report['brams']} BRAMs, {report['sprams']} SPRAMs, Fmax "
              f"{report['fmax_mhz']} MHz at a {report['clock_mhz']} MHz clock (timing met), "
              f"{report['wall_s']} s")
    if model is not None and image is None:
        _progress(f"the model is not in the bitstream (SPRAM starts empty): load it at run "
                  f"time with eiegen infer --port PORT --model {args.model} --load")


def cmd_flash(args):
    from boards.flow import flash
    path = flash(args.board, args.dir, force=args.force)
    _progress(f"programmed {args.board} with {path}")


def cmd_infer(args):
    from boards.flow import board_baud
    from sw.golden.eie import infer as golden
    from sw.golden.eie import input_activations
    from sw.host.driver import Device
    args.baud = board_baud(args.board, args.baud)  # the rate the build defaulted to
    model = load_model(args.model)
    if args.sim and model is None:
        raise EiegenError("--sim needs --model: the simulated board is built for a model")
    if not args.sim and args.port is None:
        raise EiegenError("name the board's serial port with --port (or use --sim)")
    if model is None:
        raise EiegenError("--model is needed to know the network's output size")
    x = load_model_inputs(args.inputs, model)
    check_writable(args.out, args.report)
    outputs = model.layers[-1].rows
    t = time.time()
    # Byte counts at the marks (load, batch, end), and the wall time between them.
    marks = {}

    def mark(name, dev):
        marks[name] = (dev.bytes_sent, dev.bytes_received, time.monotonic())

    def run(url, loading):
        with Device(url, baud=args.baud, timeout=args.timeout) as dev:
            beats = image.load_beats()
            if loading:
                _progress(f"loading the model: {len(beats)} memory words")
                mark("load", dev)
                dev.load_beats(beats, progress=_progress)
            mark("verify", dev)
            if args.verify:
                dev.verify(beats, progress=_progress)
                _progress(f"verified: all {len(beats)} memory words read back as the model's")
            mark("batch", dev)
            # The host quantizes: the engine takes first-layer activations.
            y = dev.infer_batch(input_activations(model, x), outputs,
                                progress=_rate_bar(len(x), marks["batch"][2]))
            mark("end", dev)
            return y, dev.status()["cycles"], dev.resent

    from sw.host.simulated import image_for
    # The engine the board was built with (its organization and options decide
    # the memory layout a load writes).
    model, engine = _design(args, model)
    image = image_for(model, engine.config)
    load = args.load or engine.baked_image is None
    clock_hz, divisor = _link_clock(args)
    timeline = []
    if args.sim:
        from sw.host.simulated import simulated_board
        _progress(f"building the simulated board (the system top, UART included, in "
                  f"Verilator; {divisor} cycles a bit)")
        # Like a bitstream built with --model, unless --load asks for the
        # memories to go over the link (or the board keeps them in SPRAM).
        with simulated_board(engine.config, None if load else image, divisor=divisor,
                             timeline=timeline) as url:
            y, cycles, resent = run(url, load)
    else:
        y, cycles, resent = run(args.port, load)
    expected = golden(model, x)
    mismatches = int((y != expected).sum())
    report = {"samples": len(x), "mismatches": mismatches, "engine_cycles": cycles,
              "wall_s": round(time.time() - t, 1), "port": "sim" if args.sim else args.port,
              "frames_resent": resent,
              **_link_report(args, marks, timeline, clock_hz, len(x))}
    _progress(f"{report['inferences_per_s']:.0f} inferences a second end to end "
              f"({'the simulated board' if args.sim else 'measured'}), "
              f"{report['bytes_in_per_inference']:.0f} bytes in and "
              f"{report['bytes_out_per_inference']:.0f} out an inference at {args.baud} baud: "
              f"{100 * report['inferences_per_s'] / report['wire_limit_per_s']:.0f}% of the "
              f"wire's {report['wire_limit_per_s']:.0f} a second")
    if args.report:
        write_json(args.report, report)
    if mismatches:
        raise EiegenError(f"{mismatches} outputs differ from the golden model; "
                          f"nothing written to {args.out}")
    save_array(args.out, y)
    _progress(f"{len(x)} inferences, 0 mismatches against the golden model, "
              f"{cycles} engine cycles each; wrote {args.out}")


def _rate_bar(total, started):
    """Progress of a streamed batch, about every tenth: done, and the rate so far."""
    step = max(1, total // 10)

    def show(done):
        if done % step == 0 or done == total:
            rate = done / max(time.monotonic() - started, 1e-9)
            _progress(f"{done} of {total} inferences ({rate:.0f} a second, wall)")
    return show


def _link_clock(args):
    """The board's clock (Hz) and UART divisor at ``--baud``."""
    from boards.flow import BOARDS
    from hw.uart import divisor_for
    clock_hz = (BOARDS[args.board]["clock_mhz"] if args.board else 50.0) * 1e6
    return clock_hz, divisor_for(clock_hz, args.baud)


def _link_report(args, marks, timeline, clock_hz, n):
    """``eiegen infer``'s link figures: bytes each way an inference, the wire's limit
    for them, the rate achieved and the load time, from the simulated board's
    cycles at its clock (``--sim``) or the wall clock (a board)."""
    (s0, r0, _), (s1, r1, _) = marks["batch"], marks["end"]
    bytes_in, bytes_out = (s1 - s0) / n, (r1 - r0) / n

    def seconds(start, end):
        if not timeline:
            return marks[end][2] - marks[start][2]
        from sw.host.simulated import board_cycles
        return board_cycles(timeline, marks[start][0], marks[end][1]) / clock_hz

    report = {"baud": args.baud, "inferences": n, "bytes_in_per_inference": bytes_in,
              "bytes_out_per_inference": bytes_out,
              # The link is full duplex: the busier direction sets the limit.
              "wire_limit_per_s": args.baud / 10 / max(bytes_in, bytes_out),
              "inferences_per_s": n / seconds("batch", "end"),
              "timed_by": "simulated board cycles" if timeline else "wall clock"}
    if "load" in marks:
        report["model_load_s"] = seconds("load", "verify")
        report["model_load_bytes"] = marks["verify"][0] - marks["load"][0]
    if args.verify:
        report["model_verify_s"] = seconds("verify", "batch")
        report["model_verify_bytes"] = marks["batch"][1] - marks["verify"][1]
    return report


def _core_options(p):
    g = p.add_argument_group("engine (default: EIE)")
    g.add_argument("--core", choices=["eie", "mac"], default="eie",
                   help="eie: the sparse engine; mac: the dense MAC array running the "
                        "model's layers with their weights decoded")
    g.add_argument("--lanes", type=integer(1), default=2, help="MAC array lanes (--core mac; 2)")
    g.add_argument("--width", type=integer(1), default=4, help="MAC array width (--core mac; 4)")


def add_board_verbs(verbs):
    from boards.flow import BOARDS
    p = verbs.add_parser("build", help="bitstream for a dev board, with a timing report")
    p.add_argument("--board", required=True, choices=list(BOARDS))
    eie_options(p, model_required=False)
    _core_options(p)
    p.add_argument("--clock", type=number(above=0),
                   help="system clock in MHz (default: the board's; a PLL makes it)")
    p.add_argument("--baud", type=integer(1),
                   help="serial rate (default: the board's, as fast as its USB bridge "
                        "carries: " + ", ".join(f"{name} {b.get('baud', BAUD)}"
                                                for name, b in BOARDS.items()) + ")")
    p.add_argument("--out", required=True, type=output_folder,
                   help="build folder (bitstream, logs, build.json)")
    p.add_argument("--report", type=output_file, help="R.json: fmax_mhz, clock_mhz, luts, dsps, brams, timing_met")
    p.set_defaults(func=cmd_build)

    p = verbs.add_parser("flash", help="program a board with a built bitstream")
    p.add_argument("--board", required=True, choices=list(BOARDS))
    p.add_argument("dir", help="the build folder of eiegen build")
    p.add_argument("--force", action="store_true",
                   help="program a bitstream whose build did not meet timing")
    p.set_defaults(func=cmd_flash)

    p = verbs.add_parser("infer", help="run inference on a board (or a simulated one)")
    p.add_argument("--port", help="the board's serial port (/dev/ttyUSB1, COM3)")
    p.add_argument("--sim", action="store_true",
                   help="a simulated board: the system top in Verilator, UART included")
    p.add_argument("--board", choices=list(BOARDS),
                   help="the board, with the engine options it was built with, so a load "
                        "matches its memories (an iCEBreaker is always loaded: its sparse "
                        "matrix is in SPRAM)")
    eie_options(p, model_required=False)
    _core_options(p)
    p.add_argument("--load", action="store_true",
                   help="write --model into the board's memories first (a bitstream built "
                        "without --model)")
    p.add_argument("--verify", action="store_true",
                   help="read every memory word back (loaded or in the bitstream) and "
                        "compare it with --model's before running")
    p.add_argument("--inputs", required=True, help="X.npy of raw integer inputs (B, inputs)")
    p.add_argument("--out", required=True, type=output_file,
                   help="Y.npy: the last layer's integer outputs")
    p.add_argument("--report", type=output_file, help="R.json: mismatches, cycles per inference, wall time")
    p.add_argument("--baud", type=integer(1),
                   help="the serial rate the bitstream was built with (default: --board's "
                        f"default, as eiegen build; {BAUD} without --board)")
    p.add_argument("--timeout", type=number(above=0), default=10.0, help="seconds to wait for a reply")
    p.set_defaults(func=cmd_infer)
