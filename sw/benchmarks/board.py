"""``eiegen bench board``: the EIE system on each dev board.

Per board: a bitstream built with the bundled model that fits it (its
Fmax, clock and resources from nextpnr), digits run through the simulated
board with the real host driver (bit-exact, engine cycles from the board's
own counter, line traffic counted by the driver), and from those the
latency and rate at the board's clock, the UART transfer time apart, and an
energy estimate from the seed's 45 nm table (a model).
"""

import time
from pathlib import Path

import numpy as np

from sw.benchmarks.report import _why_not, write_section
from sw.errors import ToolchainError
from sw.host.simulated import board_design
from sw.spec.protocol import BAUD

__all__ = ["bench_board", "BOARD_CONFIGS", "run_simulated_board"]

#: (board, bundled model, engine): the largest EIE engine of LeNet-300-100 that
#: fits each board (``pes``), and the MAC array (``mac``: lanes x width) running
#: the small bundled network dense: LeNet-300-100's dense weights (4.3 Mbit at
#: 16 bits) are more than the ECP5-85F's block RAM.
BOARD_CONFIGS = [("icebreaker", "lenet-300-100", dict(pes=2)),
                 ("ulx3s-85f", "lenet-300-100", dict(pes=8)),
                 ("icesugar-pro", "lenet-300-100", dict(pes=8)),
                 ("ulx3s-85f", "digits-mlp", dict(mac=(2, 4)))]


def run_simulated_board(model, engine, x, progress=print):
    """``x`` through the simulated board of ``engine`` with the real host driver,
    loading ``model`` over the link first when it is not baked in.

    Returns ``(y, cycles, line_bytes, load_bytes)``: outputs, engine cycles
    of each inference, the bytes each inference put on the line both ways,
    and those of the load (0 when baked in).
    """
    from sw.host.simulated import image_for, simulated_board
    from sw.host.driver import Device
    cycles, line, load_bytes = [], [], 0
    with simulated_board(engine.config, engine.baked_image) as url:
        with Device(url, timeout=60) as dev:
            if engine.baked_image is None:
                image = image_for(model, engine.config)
                progress(f"loading the model over the link: {len(image.load_beats())} words")
                dev.load(image, progress=progress)
                load_bytes = dev.bytes_sent + dev.bytes_received
            ys = []
            for xi in x:
                before = dev.bytes_sent + dev.bytes_received
                ys.append(dev.infer(xi, model.layers[-1].rows))
                line.append(dev.bytes_sent + dev.bytes_received - before)
                cycles.append(dev.status()["cycles"])
    return np.array(ys), cycles, line, load_bytes


def bench_board(out_dir, progress=print, samples=10):
    from boards.flow import build
    from sw.compress.pipeline import compress_preset
    from sw.train.datasets import load
    from sw.golden.eie import infer
    from sw.golden.energy import dense_inference_energy, inference_energy
    import shutil
    import tempfile
    out_dir = Path(out_dir)
    builds = Path(tempfile.mkdtemp(prefix="eiegen-boards-"))  # bitstreams are not docs
    rows = []
    for board, name, engine_options in BOARD_CONFIGS:
        model, engine = board_design(board, compress_preset(name, progress=progress)[0],
                                     **engine_options)
        x = load("mnist" if name == "lenet-300-100" else "digits").x_test[:samples]
        mac = engine_options.get("mac")
        row = {"board": board, "model": name}
        try:
            t = time.time()
            row.update(build(board, engine.config, engine.baked_image, builds / board,
                             progress=progress))
            row["build_s"] = round(time.time() - t)
        except ToolchainError as error:
            row["error"] = _why_not(error)
        row["engine"] = (f"MAC array {mac[0]}x{mac[1]}" if mac
                         else f"EIE, {engine_options['pes']} PEs")
        progress(f"{board}: {samples} digits through the simulated board and the host driver")
        ys, cycles, line, load_bytes = run_simulated_board(model, engine, x, progress)
        row["load_s"] = load_bytes * 10 / BAUD
        row["mismatches"] = int((ys != infer(model, x)).sum())
        row["cycles"] = float(np.mean(cycles))
        row["line_bytes"] = float(np.mean(line))
        row["uart_ms"] = row["line_bytes"] * 10 / BAUD * 1e3
        _, acts = infer(model, x, trace=True)
        energy = ([dense_inference_energy(model, *mac)] if mac else
                  [inference_energy(model, [a[k] for a in acts]) for k in range(samples)])
        row["energy_nj"] = float(np.mean([e["nanojoules"] for e in energy]))
        rows.append(row)
    shutil.rmtree(builds, ignore_errors=True)
    body = _markdown(rows, samples)
    write_section(out_dir / "benchmarks.md", "boards", body)
    progress(f"wrote {out_dir / 'benchmarks.md'}")
    return rows


def _markdown(rows, samples):
    lines = [
        "## On the boards (`eiegen bench board`)",
        "",
        "Each board runs the compressed LeNet-300-100 on the EIE engine at the PE count that "
        "fits it; the ULX3S also runs the MAC array (the dense engine, `--core mac`) on the "
        "small bundled network, its weights decoded: LeNet-300-100's dense weights (4.3 Mbit "
        "at 16 bits) are more than the ECP5-85F's block RAM. The ECP5 bitstreams hold the "
        "model; the iCEBreaker keeps the sparse matrix and the activations in SPRAM, which "
        "has no initial contents, so its model is loaded over the link after configuration "
        f"(once; the load column). {samples} test digits "
        "ran through the simulated board (the same system top, UART included, in Verilator) "
        "with the real host driver: mismatches against the golden model, engine cycles from "
        "the board's own counter (start to first output), bytes on the line counted by the "
        f"driver. Latency and rate are at the board's clock; the UART ({BAUD} baud, 10 bits "
        "a byte) is shown apart because it, not the engine, bounds the rate over USB serial.",
        "",
        "| board | model | engine | clock MHz | Fmax MHz | LUTs | DSPs | BRAMs | SPRAMs | "
        "mismatches | cycles | latency us | inferences/s (engine) | UART ms | "
        "inferences/s (over UART) | model load s | energy nJ (model) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if "error" in r:
            clock = fmax = luts = dsps = brams = sprams = "-"
            latency = rate = "-"
            note = f" (does not fit: {r['error']})"
        else:
            clock, fmax = r["clock_mhz"], r["fmax_mhz"]
            luts, dsps, brams, sprams = r["luts"], r["dsps"], r["brams"], r["sprams"]
            latency = f"{r['cycles'] / clock:.1f}"
            rate = f"{clock * 1e6 / r['cycles']:,.0f}"
            note = ""
        over_uart = 1e3 / (r["uart_ms"] + (r["cycles"] / r["clock_mhz"] / 1e3
                                           if "clock_mhz" in r else 0))
        lines.append(
            f"| {r['board']}{note} | {r['model']} | {r['engine']} | {clock} | {fmax} | {luts} | "
            f"{dsps} | {brams} | {sprams} | {r['mismatches']} | {r['cycles']:.0f} | {latency} | "
            f"{rate} | {r['uart_ms']:.1f} | {over_uart:.1f} | "
            f"{r['load_s']:.1f} | {r['energy_nj']:.0f} |")
    lines += [
        "",
        "Energy is a model: operation and memory-access counts of each inference (for EIE, "
        "entries including padding, codebook, accumulator, pointer, bias and activation "
        "accesses; for the MAC array, every weight and activation word read and every "
        "multiply, zero or not) priced with the seed's 45 nm figures (int multiply 3.1 pJ, "
        "add 0.1 pJ, SRAM access 5 pJ); an FPGA spends far more on routing and clocking.",
    ]
    return "\n".join(lines)
