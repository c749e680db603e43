"""The EIE engine at scale on the ECP5-85F (``eiegen bench eie --scale``).

Two measurements, each row written to benchmarks.md as soon as it is done
(a run of an hour or more can be cut off):

* synthesis: engines of growing PE counts, sized for LeNet-300-100 and for
  the EIE paper's layers (``sw.benchmarks.paper_layers.paper_model``), placed
  and routed with several nextpnr seeds (Fmax median and range: one seed's
  figure moves by several MHz). A PE count whose engine needs more LUTs or
  block RAMs than the device has is a row with Yosys's count, found before
  placement; the largest count that placed is the largest that fits.
* RTL: paper layers through the generated engine in Verilator, bit-exact
  against the golden model, the RTL's cycles against the cycle model's, and
  the time at the measured Fmax of the same engine where it fits, beside the
  paper's ASIC time at 800 MHz.
"""

import time
from pathlib import Path

from sw.benchmarks.report import _why_not, write_section
from sw.errors import ToolchainError

__all__ = ["SYNTH_PLAN", "RTL_PLAN", "bench_scale"]

TARGET = "ecp5-85f"
SEEDS = (1, 2, 3, 4)
#: (network, PE counts): the engines synthesized, smallest first. The
#: largest counts are where the block RAMs run out (Yosys says so in
#: seconds, before placement).
SYNTH_PLAN = [("lenet-300-100", (8, 16, 32, 48)), ("NT-We", (8, 16, 32))]
#: (paper layer, PE counts, activation vectors): the layers run in RTL.
RTL_PLAN = [("NT-We", (32, 16), 2)]


def _model(name, pes, cache):
    """LeNet-300-100 (compressed once) or a paper layer, over ``pes`` PEs."""
    from sw.benchmarks.paper_layers import paper_model
    if name != "lenet-300-100":
        return paper_model(name, pes)
    if name not in cache:
        from sw.compress.pipeline import compress_preset
        cache[name] = compress_preset(name)[0]
    model = cache[name]
    return model if model.pes == pes else model.interleaved(pes)


def synth_row(name, pes, seeds, cache, progress):
    """One engine's synthesis figures, or why it does not fit."""
    from sw.flows import eie
    progress(f"synthesis: {name} on {pes} PEs, {TARGET}, nextpnr seeds "
             f"{', '.join(map(str, seeds))}")
    started = time.monotonic()
    try:
        r = eie.synth(_model(name, pes, cache), TARGET, seeds=seeds)
        r.pop("cells", None)
    except (ToolchainError, ValueError) as error:
        r = {"error": _why_not(error)}
    r.update(network=name, pes=pes, wall_s=round(time.monotonic() - started))
    progress(f"{name}, {pes} PEs: " + (r["error"] if "error" in r else
             f"{r['luts']} LUTs, {r['brams']} BRAMs, Fmax {r['fmax_mhz']} MHz "
             f"({r['fmax_range'][0]}-{r['fmax_range'][1]})") + f", {r['wall_s']} s")
    return r


def rtl_row(name, pes, batch, progress):
    """A paper layer through the engine in Verilator: cycles and mismatches."""
    from sw.benchmarks.paper_layers import PAPER_LAYERS, PAPER_MHZ, paper_inputs, paper_model
    from sw.flows import eie
    model = paper_model(name, pes)
    progress(f"RTL: {name} on {pes} PEs, {batch} activation vectors in Verilator")
    _, r = eie.run(model, paper_inputs(name, batch), progress=progress)
    paper_us = next(layer[5] for layer in PAPER_LAYERS if layer[0] == name)
    row = {"layer": name, "pes": pes, "samples": batch, "mismatches": r["mismatches"],
           "outputs": r["outputs"], "cycles_per_inference": r["cycles_per_inference"],
           "model_cycles_per_inference": r["model_cycles"] / batch,
           "pe_utilization": r["pe_utilization"], "wall_s": r["wall_s"],
           "paper_us": paper_us, "paper_cycles": round(paper_us * PAPER_MHZ)}
    progress(f"{name}, {pes} PEs: {row['mismatches']} mismatches, "
             f"{row['cycles_per_inference']:.0f} cycles (model "
             f"{row['model_cycles_per_inference']:.0f}), {row['wall_s']} s")
    return row


def _fmax_cell(r):
    if "error" in r:
        return f"does not fit: {r['error']}"
    low, high = r["fmax_range"]
    return f"{r['fmax_mhz']:.1f} ({low:.1f}-{high:.1f})"


def _markdown(synth, rtl, seeds):
    lines = [
        "### At scale on the ECP5-85F (`eiegen bench eie --scale`)",
        "",
        f"Engines of growing PE counts out of context on the {TARGET} (queue depth 8, block "
        f"RAM organization), sized for LeNet-300-100 (compressed, interleaved over the PEs) "
        f"and for NT-We, the EIE paper's 4096 x 600 layer (random, 10% weights: "
        f"`sw.benchmarks.paper_layers.paper_model`). Fmax is the median over nextpnr seeds "
        f"{', '.join(map(str, seeds))}, with the lowest and highest; an engine that needs more "
        f"than the device has is refused from Yosys's counts before placement.",
        "",
        "| network | PEs | LUTs | LUTs/PE | FFs | DSPs | BRAMs | Fmax MHz, median (range) "
        "| wall |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in synth:
        figures = ("- | - | - | - | -" if "error" in r else
                   f"{r['luts']} | {r['luts'] / r['pes']:.0f} | {r['ffs']} | {r['dsps']} | "
                   f"{r['brams']}")
        lines.append(f"| {r['network']} | {r['pes']} | {figures} | {_fmax_cell(r)} | "
                     f"{r['wall_s'] / 60:.0f} min |")
    # The largest count that fits is known only once a larger one was refused.
    found = []
    for name in dict.fromkeys(r["network"] for r in synth):
        rows = [r for r in synth if r["network"] == name]
        placed = max((r["pes"] for r in rows if "error" not in r), default=None)
        refused = min((r["pes"] for r in rows if "error" in r
                       and r["pes"] > (placed or 0)), default=None)
        if placed and refused:
            found.append(f"{name}: {placed} PEs fit, {refused} do not")
        elif placed:
            found.append(f"{name}: {placed} PEs fit (no larger count tried)")
    if found:
        lines += ["", "Largest PE count that fits: " + "; ".join(found) + "."]
    if rtl:
        fmax = {(r["network"], r["pes"]): r.get("fmax_mhz") for r in synth}
        lines += [
            "",
            "Paper layers through the generated engine in Verilator, bit-exact against the "
            "golden model (`sw.golden.eie`), the RTL's cycles beside the cycle model's, and "
            "the time at the measured Fmax where the engine fits, beside the paper's ASIC "
            "(64 PEs at 800 MHz):",
            "",
            "| layer | PEs | vectors | mismatches | RTL cycles | model cycles | PE utilization "
            "| us at Fmax | paper us (cycles) |",
            "|---|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        for r in rtl:
            f = fmax.get((r["layer"], r["pes"]))
            us = (f"{r['cycles_per_inference'] / f:.1f} at {f:.1f} MHz" if f else
                  "does not fit" if (r["layer"], r["pes"]) in fmax else "not synthesized")
            lines.append(
                f"| {r['layer']} | {r['pes']} | {r['samples']} | {r['mismatches']} of "
                f"{r['outputs']} | {r['cycles_per_inference']:,.0f} | "
                f"{r['model_cycles_per_inference']:,.0f} | {100 * r['pe_utilization']:.1f}% | "
                f"{us} | {r['paper_us']} ({r['paper_cycles']:,}) |")
    return "\n".join(lines)


def bench_scale(out_dir, progress=print, synth_plan=SYNTH_PLAN, rtl_plan=RTL_PLAN,
                seeds=SEEDS, model=None):
    """``eiegen bench eie --scale``: the RTL runs, then the syntheses, each
    row into benchmarks.md as it is done. ``model``: the compressed
    LeNet-300-100, else compressed afresh."""
    out_dir = Path(out_dir)
    synth, rtl = [], []
    cache = {} if model is None else {"lenet-300-100": model}

    def write():
        write_section(out_dir / "benchmarks.md", "eie-scale", _markdown(synth, rtl, seeds))
    for name, counts, batch in rtl_plan:
        for pes in counts:
            rtl.append(rtl_row(name, pes, batch, progress))
            write()
    for name, counts in synth_plan:
        for pes in counts:
            synth.append(synth_row(name, pes, seeds, cache, progress))
            write()
    progress(f"wrote {out_dir / 'benchmarks.md'}")
    return synth, rtl
