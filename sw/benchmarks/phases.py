"""Where each cycle of the EIE engine goes, layer by layer (``eiegen bench eie
--phases``, and part of ``eiegen bench eie``).

A layer's cycles (cycle model, equal to the RTL) split into its start (before
the first cycle any PE works), the compute window (to the last), the drain
(until write-back starts) and the write-back; the window's PE-cycles split
further into useful MACs, padding entries and bubbles (``sw.golden.cycles``).
Shown
in cycles per inference, the window's parts as PE-cycles over the PEs, so
each layer's segments add up to its cycles.
"""

from pathlib import Path

import numpy as np

from sw.benchmarks.report import write_section
from sw.files import save_figure

__all__ = ["PHASES", "layer_phases", "bench_phases"]

#: (segment, label, how it is found from a layer's summed cycle figures and
#: the PE count): the parts of a layer's cycles, in the order they pass.
PHASES = [
    ("start", "start", lambda l, n: l["start_cycles"]),
    ("useful", "useful MACs", lambda l, n: l["useful_macs"] / n),
    ("padding", "padding entries", lambda l, n: l["padding_issues"] / n),
    ("bubbles", "bubbles", lambda l, n: l["starvation_cycles"] / n),
    ("drain", "drain", lambda l, n: l["drain_cycles"]),
    ("writeback", "write-back", lambda l, n: l["writeback_cycles"]),
]


def layer_phases(model, acts, queue_depth=8):
    """Each layer's cycles per inference by segment (``PHASES``), with its
    ``cycles`` and ``pe_utilization``: ``[{segment: cycles, ...}, ...]``.
    ``acts`` as ``sw.golden.cycles.network_cycles`` takes them."""
    from sw.golden.cycles import network_cycles
    layers, _ = network_cycles(model, acts, queue_depth)
    rows = []
    for l in layers:
        row = {key: find(l, model.pes) / l["samples"] for key, _, find in PHASES}
        row["cycles"] = l["cycles"] / l["samples"]
        row["pe_utilization"] = l["pe_utilization"]
        rows.append(row)
    return rows


def _markdown(rows, pes, queue_depth, samples):
    cycles = sum(r["cycles"] for r in rows)
    useful = sum(r["useful"] for r in rows)
    lines = [
        f"Where the cycles go (cycle model, equal to the RTL; {pes} PEs, queue depth "
        f"{queue_depth}, mean over {samples} digits, cycles per inference): a layer's start "
        "(before the first cycle any PE works: START, FIRST, PICK, the first fetch and "
        "broadcast, the pointer stages), its compute window (to the last cycle any PE "
        "works), the drain (the last entries through the pipeline, the PEs' idle "
        "registers) and the write-back (rows per PE + 7). The window's PE-cycles, over "
        f"the {pes} PEs, are useful MACs, padding entries (zero runs longer than 15) "
        "and bubbles (a PE waiting, whatever for). A broadcast column with no entry for a "
        "PE costs its entry stage no cycle (dropped as it leaves the pointer stages), but "
        "still its cycle in each pointer stage and the broadcaster's cycle: where a PE has "
        "no more than an entry a column, as on layer 2, those show as bubbles, as does "
        "waiting for the broadcasts, one a cycle.",
        "",
        "| layer | " + " | ".join(label for _, label, _ in PHASES)
        + " | cycles | PE utilization |",
        "|---|" + "---:|" * (len(PHASES) + 2),
    ]
    for i, r in enumerate(rows):
        lines.append(f"| {i} | " + " | ".join(f"{r[key]:.1f}" for key, _, _ in PHASES)
                     + f" | {r['cycles']:.1f} | {100 * r['pe_utilization']:.1f}% |")
    lines.append("| all | " + " | ".join(f"{sum(r[key] for r in rows):.1f}"
                                       for key, _, _ in PHASES)
                 + f" | {cycles:.1f} | {100 * useful / cycles:.1f}% |")
    lines += ["", "![Cycles per layer by phase](eie_phases.png)"]
    return "\n".join(lines)


def _plot(rows, path, pes):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(len(rows), 1, figsize=(7.5, 1.1 + 0.9 * len(rows)))
    colors = plt.get_cmap("tab10").colors
    for i, (ax, r) in enumerate(zip(np.atleast_1d(axes), rows)):
        left = 0.0
        for k, (key, label, _) in enumerate(PHASES):
            ax.barh(0, r[key], left=left, color=colors[k], label=label if i == 0 else None)
            left += r[key]
        ax.set_yticks([0], [f"layer {i}"])
        ax.set_xlim(0, r["cycles"] * 1.01)
        ax.set_xlabel("cycles per inference" if i == len(rows) - 1 else None, fontsize=8)
        ax.tick_params(labelsize=8)
    fig.suptitle(f"EIE engine, LeNet-300-100, {pes} PEs: where each layer's cycles go",
                 fontsize=9)
    fig.legend(loc="lower center", ncol=len(PHASES), fontsize=7, frameon=False)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def bench_phases(out_dir, progress=print, samples=20, queue_depth=8, model=None):
    """The compressed LeNet-300-100 (``model``, else compressed afresh) on 8 PEs
    in the cycle model: the phase table and plot into benchmarks.md."""
    from sw.golden.eie import infer
    from sw.train.datasets import load
    out_dir = Path(out_dir)
    if model is None:
        from sw.compress.pipeline import compress_preset
        model = compress_preset("lenet-300-100", progress=progress)[0]
    _, acts = infer(model, load("mnist").x_test[:samples], trace=True)
    rows = layer_phases(model, acts, queue_depth)
    _plot(rows, out_dir / "eie_phases.png", model.pes)
    write_section(out_dir / "benchmarks.md", "eie-phases",
                  _markdown(rows, model.pes, queue_depth, samples))
    progress(f"wrote {out_dir / 'benchmarks.md'} and {out_dir / 'eie_phases.png'}")
    return rows
