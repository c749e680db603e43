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

#: (board, bundled model, engine): an EIE engine of LeNet-300-100 that fits each
#: board (``pes``), and the MAC array (``mac``: lanes x width) running the small
#: bundled network dense: LeNet-300-100's dense weights (4.3 Mbit at 16 bits) are
#: more than the ECP5-85F's block RAM. The iCEBreaker's UP5K held 2 PEs with the
#: version-1 link (5223 of 5280 logic cells); the streaming link's receive FIFO
#: and input decoder take about 230 more, so it runs 1 PE, which its 3 Mbaud link
#: bounds anyway (an inference's input takes longer on the wire than 1 PE computes).
BOARD_CONFIGS = [("icebreaker", "lenet-300-100", dict(pes=1)),
                 ("ulx3s-85f", "lenet-300-100", dict(pes=8)),
                 ("ulx3s-85f", "digits-mlp", dict(mac=(2, 4))),
                 ("icesugar-pro", "lenet-300-100", dict(pes=8))]  # its 115200 baud: slowest


def run_simulated_board(model, engine, x, progress=print, *, clock_hz=50e6, baud=BAUD):
    """``x`` streamed through the simulated board of ``engine`` with the real host
    driver, its UART at ``baud`` from a ``clock_hz`` clock, loading ``model``
    over the link first when it is not baked in.

    Returns a dict: ``y`` (the outputs), ``engine_cycles`` (start to first
    output, the board's own counter), ``bytes_in`` and ``bytes_out`` an
    inference, ``batch_s`` (the simulated board's cycles from the batch's
    first byte to its last result's, at ``clock_hz``), ``load_bytes`` and
    ``load_s`` (0 when the model is baked in).
    """
    from hw.uart import divisor_for
    from sw.host.driver import Device
    from sw.host.simulated import board_cycles, image_for, simulated_board
    divisor = divisor_for(clock_hz, baud)
    timeline, marks = [], {}
    with simulated_board(engine.config, engine.baked_image, divisor=divisor,
                         timeline=timeline) as url:
        # Verilator runs a board at some 10-20 kHz here: at a slow rate the
        # driver's window of frames takes minutes of wall time to answer.
        with Device(url, baud=baud, timeout=120 * max(1, divisor / 16)) as dev:
            marks["load"] = (dev.bytes_sent, dev.bytes_received)
            if engine.baked_image is None:
                image = image_for(model, engine.config)
                progress(f"loading the model over the link: {len(image.load_beats())} words")
                dev.load(image, progress=progress)
            marks["batch"] = (dev.bytes_sent, dev.bytes_received)
            from sw.golden.eie import input_activations
            y = dev.infer_batch(input_activations(model, x), model.layers[-1].rows)
            marks["end"] = (dev.bytes_sent, dev.bytes_received)
            cycles = dev.status()["cycles"]
    loaded = engine.baked_image is None
    (s0, r0), (s1, r1), (s2, r2) = marks["load"], marks["batch"], marks["end"]
    return {
        "y": y, "engine_cycles": cycles, "divisor": divisor,
        "bytes_in": (s2 - s1) / len(x), "bytes_out": (r2 - r1) / len(x),
        "batch_s": board_cycles(timeline, s1, r2) / clock_hz,
        "load_bytes": s1 - s0 + r1 - r0 if loaded else 0,
        "load_s": board_cycles(timeline, s0, r1) / clock_hz if loaded else 0.0,
    }


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
    rows, compressed = [], {}
    for board, name, engine_options in BOARD_CONFIGS:
        if name not in compressed:  # once a model, not once a board
            compressed[name] = compress_preset(name, progress=progress)[0]
        model, engine = board_design(board, compressed[name], **engine_options)
        x = load("mnist" if name == "lenet-300-100" else "digits").x_test[:samples]
        mac = engine_options.get("mac")
        row = {"board": board, "model": name}  # raw digits: the host quantizes them
        try:
            t = time.time()
            row.update(build(board, engine.config, engine.baked_image, builds / board,
                             progress=progress))
            row["build_s"] = round(time.time() - t)
        except ToolchainError as error:
            row["error"] = _why_not(error)
        pes = engine_options.get("pes")
        row["engine"] = (f"MAC array {mac[0]}x{mac[1]}" if mac
                         else f"EIE, {pes} PE" + "s" * (pes > 1))
        from boards.flow import BOARDS, board_baud
        baud = board_baud(board)
        clock = row.get("clock_mhz", BOARDS[board]["clock_mhz"])
        progress(f"{board}: {samples} digits streamed through the simulated board and the "
                 f"host driver at {baud} baud")
        run = run_simulated_board(model, engine, x, progress, clock_hz=clock * 1e6, baud=baud)
        row.update(baud=baud, uart_divisor=run["divisor"], load_s=run["load_s"],
                   load_bytes=run["load_bytes"], bytes_in=run["bytes_in"],
                   bytes_out=run["bytes_out"],
                   mismatches=int((run["y"] != infer(model, x)).sum()),
                   cycles=float(run["engine_cycles"]),
                   # The link is full duplex: the busier direction bounds the rate.
                   wire_limit=baud / 10 / max(run["bytes_in"], run["bytes_out"]),
                   end_to_end=samples / run["batch_s"])
        _, acts = infer(model, x, trace=True)
        energy = ([dense_inference_energy(model, *mac)] if mac else
                  [inference_energy(model, [a[k] for a in acts]) for k in range(samples)])
        row["energy_nj"] = float(np.mean([e["nanojoules"] for e in energy]))
        rows.append(row)
        # Written as each board is done: a board's hour is not lost to the next's failure.
        write_section(out_dir / "benchmarks.md", "boards", _markdown(rows, samples))
        progress(f"{board}: {row['end_to_end']:,.0f} inferences a second end to end, "
                 f"{100 * row['end_to_end'] / row['wire_limit']:.0f}% of the wire's limit; "
                 f"wrote {out_dir / 'benchmarks.md'}")
    shutil.rmtree(builds, ignore_errors=True)
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
        "driver. Latency and rates are at the board's clock. The digits are streamed (INFER "
        "frames sent ahead of their replies, each input in its shortest encoding, "
        "docs/formats.md); bytes on the wire are counted by the driver, and the end-to-end "
        "rate is the simulated board's own cycles from the batch's first byte to its last "
        "result's, at the board's clock and serial rate; the wire's limit is the rate "
        "over 10 bits a byte (8N1) over the busier direction's bytes an inference.",
        "",
        "| board | model | engine | clock MHz | Fmax MHz | LUTs | DSPs | BRAMs | SPRAMs | "
        "mismatches | cycles | latency us | inferences/s (engine) | baud | bytes in / out | "
        "wire limit /s | end to end /s | of the limit | model load s | energy nJ (model) |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
        "---:|---:|---:|",
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
        lines.append(
            f"| {r['board']}{note} | {r['model']} | {r['engine']} | {clock} | {fmax} | {luts} | "
            f"{dsps} | {brams} | {sprams} | {r['mismatches']} | {r['cycles']:.0f} | {latency} | "
            f"{rate} | {r['baud']:,} | {r['bytes_in']:.0f} / {r['bytes_out']:.0f} | "
            f"{r['wire_limit']:,.0f} | {r['end_to_end']:,.0f} | "
            f"{100 * r['end_to_end'] / r['wire_limit']:.0f}% | {r['load_s']:.2f} | "
            f"{r['energy_nj']:.0f} |")
    lines += [
        "",
        "Energy is a model: operation and memory-access counts of each inference (for EIE, "
        "entries including padding, codebook, accumulator, pointer, bias and activation "
        "accesses; for the MAC array, every weight and activation word read and every "
        "multiply, zero or not) priced with the seed's 45 nm figures (int multiply 3.1 pJ, "
        "add 0.1 pJ, SRAM access 5 pJ); an FPGA spends far more on routing and clocking.",
    ]
    return "\n".join(lines)
