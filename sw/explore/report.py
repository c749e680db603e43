"""What a sweep leaves in its folder: every point as JSON and CSV, the Pareto
fronts as JSON and a PNG, and the console table of the fronts."""

import csv
import io

from sw import files
from sw.explore.pareto import OBJECTIVES, front

__all__ = ["write_outputs", "front_table", "fronts", "COLUMNS"]

#: The measured columns of points.csv, after the point's own settings.
COLUMNS = ["status", "reason", "accuracy", "density", "compression_ratio", "model_bytes",
           "cycles", "energy_nj", "luts", "ffs", "dsps", "brams", "sprams", "fmax_mhz",
           "latency_us", "rtl_mismatches", "model_file"]


def fronts(points):
    """``{cost: [ids on the front]}`` for every cost some point was measured on."""
    return {cost: front(points, cost) for cost in OBJECTIVES
            if any(p.get(cost) is not None for p in points)}


def _cell(value):
    if isinstance(value, list):
        return "/".join(map(_cell, value))
    if isinstance(value, float):
        return f"{value:.6g}"
    return "" if value is None else str(value)


def _csv(points):
    settings = sorted({f"{part}.{k}" for p in points for part in ("compression", "hardware")
                       for k in p[part]})
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["id"] + settings + COLUMNS)
    for p in points:
        row = [p["id"]] + [_cell(p[s.split(".")[0]].get(s.split(".")[1])) for s in settings]
        values = {**p, "rtl_mismatches": (p.get("rtl") or {}).get("mismatches")}
        writer.writerow(row + [_cell(values.get(c)) for c in COLUMNS])
    return out.getvalue()


def _plot(points, found, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    costs = [c for c in found if c != "cycles" or len(found) == 1]
    fig, axes = plt.subplots(1, len(costs), figsize=(4.2 * len(costs), 3.6), squeeze=False)
    by_id = {p["id"]: p for p in points}
    for ax, cost in zip(axes[0], costs):
        label, unit = OBJECTIVES[cost]
        ok = [p for p in points if p["status"] == "ok" and p.get(cost) is not None]
        ax.scatter([p[cost] for p in ok], [100 * p["accuracy"] for p in ok], s=14,
                   color="0.6", label="points")
        line = [by_id[i] for i in found[cost]]
        ax.plot([p[cost] for p in line], [100 * p["accuracy"] for p in line], "o-",
                color="C3", ms=5, label="Pareto front")
        ax.set_xlabel(f"{label} ({unit})" if unit else label)
        ax.set_ylabel("accuracy (%)")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    files.save_figure(fig, path, dpi=110)
    plt.close(fig)


def _describe(p):
    """A point's settings in a few words."""
    parts = []
    for part in ("compression", "hardware"):
        for k, v in p[part].items():
            parts.append(f"{k}={_cell(v)}")
    return " ".join(parts)


def front_table(points, found):
    """The console table of the fronts: each front's points, cheapest first."""
    by_id = {p["id"]: p for p in points}
    lines = []
    for cost, ids in found.items():
        label, unit = OBJECTIVES[cost]
        lines.append(f"Pareto front: accuracy against {label}" + (f" ({unit})" if unit else ""))
        lines.append(f"{'id':>4} {'accuracy':>8} {'latency us':>10} {'LUTs':>6} {'energy nJ':>9} "
                     f"{'cycles':>8}  settings")
        for i in ids:
            p = by_id[i]
            lines.append(f"{i:>4} {100 * p['accuracy']:>7.2f}% {_cell(p['latency_us']):>10} "
                         f"{_cell(p['luts']):>6} {_cell(p['energy_nj']):>9} "
                         f"{_cell(p['cycles']):>8}  {_describe(p)}")
    return "\n".join(lines)


def write_outputs(points, out, summary):
    """``points.json``, ``points.csv``, ``pareto.json`` and ``pareto.png`` in ``out``;
    returns the fronts."""
    found = fronts(points)
    files.write_json(out / "points.json", {**summary, "points": points})
    files.write_text(out / "points.csv", _csv(points))
    files.write_json(out / "pareto.json", found)
    if found:
        _plot(points, found, out / "pareto.png")
    return found
