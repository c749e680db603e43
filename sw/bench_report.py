"""``eiegen bench``: measure cores and write their section of docs/benchmarks.md.

Each bench owns one section, between ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->`` markers, and rewrites only that; hand-written text
around the sections stays.
"""

import time
from pathlib import Path

import numpy as np

from .toolchain import TARGETS, ToolchainError

__all__ = ["bench_mac", "write_section"]

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
    path.write_text(text)


def bench_mac(out_dir, progress=print):
    """Throughput in Verilator and utilization/Fmax on both targets, per configuration."""
    from . import mac
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
            fitted = dict(params, dsp_multipliers=TARGETS[target]["multipliers"])
            try:
                row["synth"][target] = mac.synth(fitted, target)
            except ToolchainError as error:
                row["synth"][target] = {"error": str(error).split(";")[0]}
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


def _mac_markdown(rows):
    lines = [
        "## Dense fixed-point MAC array (`eiegen bench mac`)",
        "",
        "Throughput is measured in Verilator (a 100 -> 64 layer, batch 4, no stalls: beats "
        "stream back to back; MACs/cycle counts useful MACs only, so the zero padding of "
        "100 inputs to the array width costs what it costs). Utilization is Yosys's cell "
        "count of the core alone; Fmax is nextpnr's, placing the core inside a serial I/O "
        "shell so every port starts or ends at a flip-flop (`--seed 1`, one run, no "
        "constraints tuning). LUTs on ECP5 count a CCU2C carry cell as 2. Each target "
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
    for row in rows:
        sim = row["sim"]
        for target, s in row["synth"].items():
            if "error" in s:
                lines.append(f"| {row['label']} | {target} | - | - | - | - | "
                             f"{sim['macs_per_cycle']} ({sim['peak_macs_per_cycle']}) | - | - | "
                             f"does not fit: {s['error']} |")
                continue
            ceiling = TARGETS[target]["multipliers"] * s["fmax_mhz"] / 1000
            got = _gmacs(row, target)
            lines.append(
                f"| {row['label']} | {target} | {s['luts']} | {s['ffs']} | {s['dsps']} | "
                f"{s['fmax_mhz']} | {sim['macs_per_cycle']} ({sim['peak_macs_per_cycle']}) | "
                f"{got:.2f} | {ceiling:.2f} | {100 * got / ceiling:.0f}% |")
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
        ceiling = [TARGETS[target]["multipliers"] * r["synth"][target].get("fmax_mhz", 0) / 1000
                   for r in rows_t]
        xs = np.arange(len(rows_t))
        ax.bar(xs - 0.2, got, 0.4, label="measured")
        ax.bar(xs + 0.2, ceiling, 0.4, label="all DSPs at this Fmax")
        ax.set_xticks(xs, labels, rotation=20, fontsize=8)
        ax.set_ylabel("GMAC/s")
        ax.set_title(target)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
