"""``eiegen bench lowbit``: binary and ternary networks against fixed point, in accuracy and cost.

Trains LeNet-300-100-shaped networks (float, fixed point, BWN, XNOR-Net,
TWN, TTQ), runs the binarized and the ternary one whole in Verilator
against their golden models, synthesizes the XNOR and ternary arrays and
the 8- and 16-bit MAC arrays on both targets, and writes its section of
docs/benchmarks.md with one plot.
"""

import time
from pathlib import Path

import numpy as np

from sw.benchmarks.report import MAC_CONFIGS, _why_not, synth_rows, write_section
from sw.errors import ToolchainError
from sw.files import save_figure, write_json
from sw.flows.toolchain import TARGETS

__all__ = ["bench_lowbit", "ARRAYS"]

SIZES = (784, 300, 100, 10)

#: (label, flow name, parameters): the arrays compared. The XNOR and ternary
#: arrays are also the ones the networks run on; the MAC arrays are
#: `eiegen bench mac`'s 4x4 configurations.
ARRAYS = [
    ("XNOR 8x64, 1-bit", "xnor", dict(lanes=8, width=64, max_inputs=1024, sign=True)),
    ("ternary 4x16, 8-bit acts", "ternary", dict(lanes=4, width=16, max_inputs=1024)),
    ("MAC 4x4, 8-bit", "mac", dict(MAC_CONFIGS[1][1])),
    ("MAC 4x4, 16-bit", "mac", dict(MAC_CONFIGS[3][1])),
]


def _flow(name):
    from sw.flows import mac
    from sw.flows import ternary
    from sw.flows import xnor
    return {"mac": mac, "ternary": ternary, "xnor": xnor}[name]


def _throughput(name, params, rng):
    """MACs per cycle on a 300 -> 64 layer, batch 4, no stalls (bit-exact or refused)."""
    flow = _flow(name)
    if name == "xnor":
        w, x, extra = rng.integers(0, 2, (64, 300)), rng.integers(0, 2, (4, 300)), ()
    elif name == "ternary":
        w, x = rng.integers(-1, 2, (64, 300)), rng.integers(-128, 128, (4, 300))
        extra = (None, np.array([100, 90]))
    else:
        hi = 1 << (flow.build_core(params).params["act_bits"] - 1)
        w, x, extra = rng.integers(-hi, hi, (64, 300)), rng.integers(-hi, hi, (4, 300)), ()
    _, report = flow.run(params, w, x, *extra)
    if report["mismatches"]:
        raise ToolchainError(f"{name}: {report['mismatches']} mismatches; not benchmarking a "
                             f"wrong core")
    return report


def bench_lowbit(out_dir, progress=print, digits=100):
    from sw.train.datasets import load
    from sw.flows.lowbit_networks import run_binary, run_ternary
    from sw.train.lowbit import train_all
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    nets, table = train_all(sizes=SIZES, progress=progress)
    train_s = time.monotonic() - started
    data = load("mnist")
    x, labels = data.x_test[:digits], data.y_test[:digits]
    runs = {}
    for key, run, net, params in (("xnor", run_binary, nets["xnor-int"], ARRAYS[0][2]),
                                  ("ternary", run_ternary, nets["ttq-int"], ARRAYS[1][2])):
        progress(f"RTL: {digits} digits through the {key} network in Verilator")
        _, runs[key] = run(net, x, labels, lanes=params["lanes"], width=params["width"],
                           progress=progress)
        if runs[key]["mismatches"]:
            raise ToolchainError(f"{key} network: {runs[key]['mismatches']} mismatches against "
                                 f"the golden model")
    rng = np.random.default_rng(0)
    arrays = []
    for label, name, params in ARRAYS:
        progress(f"{label}: throughput in Verilator")
        row = {"label": label, "core": name, "sim": _throughput(name, params, rng), "synth": {}}
        for target in TARGETS:
            progress(f"{label}: synthesizing for {target}")
            fitted = dict(params)
            if name != "xnor":
                fitted["dsp_multipliers"] = TARGETS[target]["capacity"]["dsps"]
            try:
                row["synth"][target] = _flow(name).synth(fitted, target)
            except ToolchainError as error:
                row["synth"][target] = {"error": _why_not(error)}
        arrays.append(row)
    write_json(out_dir / "lowbit.json", {"table": table, "runs": runs, "arrays": arrays},
               indent=1, default=str)
    _plot(table, arrays, out_dir / "lowbit_cost.png")
    write_section(out_dir / "benchmarks.md", "lowbit",
                  _markdown(table, runs, arrays, train_s, digits))
    progress(f"wrote {out_dir / 'benchmarks.md'} and {out_dir / 'lowbit_cost.png'}")
    return table, runs, arrays


def _per_mac(row, target, key):
    s = row["synth"][target]
    if "error" in s:
        return None
    return s[key] / row["sim"]["peak_macs_per_cycle"]


#: Which array each hardware network runs on, and its weight bits.
COST = {"mac 16-bit": (3, 16), "mac 8-bit": (2, 8), "ternary": (1, 2), "xnor": (0, 1)}


def _cost_rows(table, arrays):
    """Accuracy-against-cost rows: networks that run on an array, with that array's figures."""
    weights = sum(a * b for a, b in zip(SIZES[:-1], SIZES[1:]))
    for r in table:
        if r["runs_on"] not in COST:
            continue
        index, bits = COST[r["runs_on"]]
        yield r, arrays[index], weights * bits / 8 / 1000


def _markdown(table, runs, arrays, train_s, digits):
    e, u = "ecp5-85f", "ice40-up5k"
    lines = [
        "## Binary and ternary networks (`eiegen bench lowbit`)",
        "",
        f"LeNet-300-100-shaped MLPs ({'-'.join(map(str, SIZES))}) on the bundled MNIST digits "
        "(4,000 training digits plus one-pixel shifts, 1,000 test). The float network trains "
        "first (Adam, 10 epochs); every quantized one starts from it and trains 10 more epochs "
        "with the straight-through estimator. Fixed point is the float network's weights and "
        "activations rounded to 8 or 16 bits (per-layer radix points, `docs/numerics.md`); "
        "the integer rows are their golden models' accuracies, which the hardware reproduces "
        f"bit for bit. Training and measuring all of them took {train_s:.0f} s.",
        "",
        "| network | weights | activations | test accuracy | runs on |",
        "|---|---|---|---:|---|",
    ]
    lines += [f"| {r['name']} | {r['weights']} | {r['activations']} | "
              f"{100 * r['accuracy']:.1f}% | {r['runs_on']} |" for r in table]
    xr, tr = runs["xnor"], runs["ternary"]
    lines += [
        "",
        "XNOR-Net's per-sample input scale beta cannot be folded into an integer threshold, so "
        "the binarized network the XNOR array runs is trained without it (BNN/FINN style), with "
        "batch normalization folded into thresholds; the last layer's bias rounds to an "
        "integer, which only changes how ties between outputs break.",
        "",
        f"Whole networks in Verilator, {digits} test digits each, random stalls off:",
        "",
        "| network | array | mismatches | accuracy (golden) | cycles/inference | "
        "useful MACs/cycle | wall s |",
        "|---|---|---:|---:|---:|---:|---:|",
        f"| XNOR-Net, BN thresholds | {ARRAYS[0][0]} | {xr['mismatches']} | "
        f"{100 * xr['accuracy']:.0f}% ({100 * xr['golden_accuracy']:.0f}%) | "
        f"{xr['cycles_per_inference']:.0f} | {xr['macs_per_cycle']} | {xr['wall_s']:.0f} |",
        f"| TTQ, fixed point | {ARRAYS[1][0]} | {tr['mismatches']} | "
        f"{100 * tr['accuracy']:.0f}% ({100 * tr['golden_accuracy']:.0f}%) | "
        f"{tr['cycles_per_inference']:.0f} | {tr['macs_per_cycle']} | {tr['wall_s']:.0f} |",
        "",
        "Arrays: throughput measured in Verilator on a 300 -> 64 layer, batch 4, no stalls "
        "(useful MACs per cycle; a binary MAC is one XNOR and its share of the popcount). "
        "Synthesis as in the MAC section (core alone for the counts, inside the serial shell "
        "for Fmax); each target gets `--dsp-multipliers` set to its DSP count. The ternary "
        "array's DSPs are its 2 scale multipliers a lane, used once a dot product.",
        "",
        "| array | target | LUTs | FFs | DSPs | Fmax MHz | MACs/cycle (peak) | LUTs/MAC | "
        "DSPs/MAC | GMAC/s |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    lines += synth_rows(arrays, lambda row, target, s: [
        f"{_per_mac(row, target, 'luts'):.1f}", f"{_per_mac(row, target, 'dsps'):.2f}",
        f"{row['sim']['macs_per_cycle'] * s['fmax_mhz'] / 1000:.2f}"])
    lines += [
        "",
        "Accuracy against cost: each network that runs on an array, with that array's cost "
        "(LeNet-300-100 has 266,200 weights).",
        "",
        f"| network | test accuracy | weight memory KB | LUTs/MAC {e} | DSPs/MAC {e} | "
        f"LUTs/MAC {u} | GMAC/s {e} |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r, row, kb in _cost_rows(table, arrays):
        cells = []
        for target, key in ((e, "luts"), (e, "dsps"), (u, "luts")):
            v = _per_mac(row, target, key)
            cells.append("-" if v is None else f"{v:.2f}" if key == "dsps" else f"{v:.1f}")
        s = row["synth"][e]
        gmacs = "-" if "error" in s else \
            f"{row['sim']['macs_per_cycle'] * s['fmax_mhz'] / 1000:.2f}"
        lines.append(f"| {r['name']} | {100 * r['accuracy']:.1f}% | {kb:.1f} | "
                     + " | ".join(cells) + f" | {gmacs} |")
    lines += ["", "![Accuracy against LUTs per MAC](lowbit_cost.png)"]
    return "\n".join(lines)


def _plot(table, arrays, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for target, marker in (("ecp5-85f", "o"), ("ice40-up5k", "s")):
        points = [(_per_mac(row, target, "luts"), 100 * r["accuracy"], r["name"].split(",")[0],
                   _per_mac(row, target, "dsps"))
                  for r, row, _ in _cost_rows(table, arrays)
                  if _per_mac(row, target, "luts") is not None]
        ax.scatter([p[0] for p in points], [p[1] for p in points], marker=marker, label=target)
        if target != "ecp5-85f":
            continue
        # A DSP block is no number of LUTs: DSPs per MAC go in the label.
        for x, y, name, dsps in points:
            ax.annotate(f"{name}, {dsps:.2f} DSP/MAC", (x, y), fontsize=7, xytext=(-4, 4),
                        textcoords="offset points", ha="right")
    ax.set_xscale("log")
    ax.set_xlabel("LUTs per MAC (log)")
    ax.set_ylabel("MNIST test accuracy (%)")
    ax.set_title("Accuracy against cost, LeNet-300-100 shape")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)
