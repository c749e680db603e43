"""``eiegen experiment bench``: every compression experiment, into docs/benchmarks.md.

Runs the experiments of ``sw.compress.experiments`` on the bundled MNIST networks,
keeps their reports in docs/experiments.json, draws docs/experiments.png
and writes the ``experiments`` section of docs/benchmarks.md (tables, the
seed's claims and whether they held on our data).
"""

import time
from pathlib import Path

from sw.benchmarks.report import pct as _pct, write_section
from sw.compress.pipeline import SIZE_COLUMNS, size_rows
from sw.files import save_figure, write_json

__all__ = ["RUNS", "bench_experiments"]

#: (experiment, model, options), in an order that lets later runs reuse the
#: dense networks earlier ones trained.
RUNS = [
    ("lenet5", "lenet-5", {}),
    ("lowrank", "lenet-5", {"energies": [0.5, 0.7, 0.9]}),
    ("distill", "lenet-5", {}),
    ("lowrank", "lenet-300-100", {"energies": [0.2, 0.3, 0.5, 0.7, 0.9]}),
    ("bnfold", "lenet-300-100", {}),
    ("dsd", "lenet-300-100", {}),
]


def bench_experiments(out_dir, progress=print, runs=RUNS):
    from sw.compress.experiments import run
    out_dir = Path(out_dir)
    started = time.monotonic()
    reports = []
    for name, model, options in runs:
        progress(f"experiment {name} on {model}")
        reports.append(run(name, model, progress=progress, **options))
    total = time.monotonic() - started
    write_json(out_dir / "experiments.json", reports, indent=1)
    _plot(reports, out_dir / "experiments.png")
    write_section(out_dir / "benchmarks.md", "experiments", _markdown(reports, total))
    progress(f"wrote {out_dir / 'benchmarks.md'}, {out_dir / 'experiments.png'} and "
              f"{out_dir / 'experiments.json'} ({total:.0f} s)")
    return reports


def _find(reports, name, model=None):
    return [r for r in reports if r["experiment"] == name and model in (None, r["model"])]


def _lenet5(r):
    acc = r["accuracy"]
    cols = [(k, h) for k, h in SIZE_COLUMNS if k != "eie"]
    lines = [
        f"### Deep Compression of LeNet-5 (`eiegen experiment lenet5`, {r['wall_s']:.0f} s)",
        "",
        "Caffe's LeNet-5 (conv 20 5x5, pool, conv 50 5x5, pool, 800-500-10; 431K weights, the "
        "paper's 1720 KB), trained on the augmented MNIST split. Pruning thresholds are quality x "
        "std per layer, reached in three rounds with retraining; weight sharing uses 8-bit "
        "indices for the conv layers and 5-bit for the dense ones (255 and 31 centroids, as "
        "Deep Compression), relative indices of the same widths; Huffman coding of both; sizes "
        "by `sw.compress.pipeline.size_table`'s accounting (32-bit biases and codebooks counted).",
        "",
        "| stage | test accuracy |", "|---|---:|",
        f"| dense | {_pct(acc['dense'])} |", f"| pruned, retrained | {_pct(acc['pruned'])} |",
        f"| shared, before fine-tuning | {_pct(acc['shared_before_finetune'])} |",
        f"| shared, centroids fine-tuned | {_pct(acc['shared'])} |", "",
        "| " + " | ".join(h for _, h in cols) + " |",
        "|" + "|".join("---" if k in ("layer", "shape") else "---:" for k, _ in cols) + "|",
    ]
    for row in size_rows(r["layers"], r["total"]):
        lines.append("| " + " | ".join(row[k] for k, _ in cols) + " |")
    t = r["total"]
    lines += ["", f"Total {t['dense_bytes'] / 1000:.0f} KB -> {t['huffman_bytes'] / 1000:.1f} KB: "
                  f"**{r['ratio']:.1f}x** at {100 * r['density']:.1f}% density (paper: 1720 KB "
                  f"-> 44 KB, 39x, 8% density); accuracy {_pct(acc['dense'])} -> "
                  f"{_pct(acc['shared'])} (paper: 0.80% -> 0.74% error on 60,000 training "
                  f"digits)."]
    return lines


def _lowrank(r):
    lines = [
        f"#### {r['model']} ({r['wall_s']:.0f} s; dense {_pct(r['dense'])}, "
        f"{r['dense_weights']} weights)", "",
        "| energy | ranks (layer: kept/full) | weights | fewer | low rank | fine-tuned | "
        "pruned, equal size | retrained |",
        "|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        ranks = ", ".join(f"{l['kind']} {l['layer']}: {l['rank']}/{l['full_rank']}"
                          + ("" if l["factored"] else " (kept dense)")
                          for l in row["layers"] if l["rank"] is not None)
        lines.append(f"| {row['energy']:g} | {ranks} | {row['weights']} | {row['ratio']:.2f}x | "
                     f"{_pct(row['lowrank'])} | {_pct(row['lowrank_finetuned'])} | "
                     f"{_pct(row['pruned'])} | {_pct(row['pruned_retrained'])} |")
    return lines + [""]


def _markdown(reports, total):
    lines = [
        "## Low rank, batch-norm folding, distillation, DSD, LeNet-5 "
        "(`eiegen experiment bench`)", "",
        "The bundled MNIST digits (4,000 training digits plus one-pixel shifted copies, 1,000 "
        "test; one test digit is 0.1 point). numpy training on one BLAS thread, mini-batch SGD "
        f"with momentum; all runs took {total / 60:.1f} minutes on this machine (dense networks "
        "trained once and shared between runs; the cores are shared with other jobs, so wall "
        "times vary with their load, by 2x and more). Each `eiegen experiment NAME --report R.json` "
        "reproduces one table; docs/experiments.json holds every report.", "",
    ]
    for r in _find(reports, "lenet5"):
        lines += _lenet5(r) + [""]
    low = _find(reports, "lowrank")
    if low:
        lines += [
            "### Low-rank approximation (`eiegen experiment lowrank`)", "",
            "Every layer but the classifier is factored to the fewest singular values (dense: "
            "truncated SVD) or response eigenvalues (conv: Zhang et al., d filters k x k x c -> "
            "d' filters k x k x c + d filters 1 x 1 x d', the subspace from the layer's responses "
            "on 500 training images) that keep the energy budget; a layer the factorization "
            "would not shrink stays dense. 'Pruned, equal size' gives each factored layer the "
            "bytes of its factors as magnitude pruning with a 4-bit relative index per weight "
            f"(32/36 of the weight count). Both are fine-tuned for "
            f"{low[0]['finetune_epochs']} epoch(s) with the same settings.", "",
        ]
        for r in low:
            lines += _lowrank(r)
    for r in _find(reports, "bnfold"):
        c, tc = r["test_check"], r["train_check"]
        lines += [f"### Batch normalization, folded (`eiegen experiment bnfold`, {r['model']}, "
                  f"{r['wall_s']:.0f} s)", "",
                  "BN after every weighted layer but the classifier, batch statistics while "
                  "training, running averages at inference; folding scales each output row by "
                  "gamma / sqrt(var + eps) and rewrites the bias, then the folded network goes "
                  "through Deep Compression (4-bit indices) and fixed point like LeNet-300-100.",
                  "", "| network | test accuracy |", "|---|---:|",
                  f"| without BN | {_pct(r['plain'])} |", f"| with BN | {_pct(r['bn'])} |",
                  f"| BN folded | {_pct(r['folded'])} |"]
        if "compressed" in r:
            comp = r["compressed"]
            lines.append(f"| folded, compressed ({comp['ratio']:.1f}x) | "
                         f"{_pct(comp['accuracy']['shared'])} |")
            if "fixed_point" in comp:
                lines.append(f"| folded, compressed, fixed point (EIE golden model) | "
                             f"{_pct(comp['fixed_point'])} |")
        lines += ["", f"Folding changed {c['changed_predictions']} of {c['inputs']} test and "
                      f"{tc['changed_predictions']} of {tc['inputs']} training predictions; the "
                      f"largest logit change was {max(c['max_logit_difference'], tc['max_logit_difference']):.1e} "
                      f"of the largest logit (float64 rounding).", ""]
    for r in _find(reports, "distill"):
        lines += [f"### Distillation (`eiegen experiment distill`, teacher {r['model']}, "
                  f"{r['wall_s']:.0f} s)", "",
                  f"Student: an MLP with hidden layer(s) {r['student_arch']['hidden']} "
                  f"({r['student_weights']} weights against the teacher's "
                  f"{r['teacher_weights']}), {r['student_epochs']} epochs; with the teacher its "
                  f"loss is (1 - a) CE + a T^2 KL(teacher/T || student/T), a = {r['alpha']}. "
                  f"Means (and standard deviations) over {r['seeds']} seeds.", "",
                  "| student | test accuracy |", "|---|---:|",
                  f"| teacher | {_pct(r['teacher'])} |",
                  f"| alone | {_pct(r['alone']['mean'])} (+-{100 * r['alone']['std']:.1f}) |"]
        lines += [f"| with teacher, T = {d['temperature']:g} | {_pct(d['mean'])} "
                  f"(+-{100 * d['std']:.1f}) |" for d in r["distilled"]]
        lines.append("")
    for r in _find(reports, "dsd"):
        e = r["phase_epochs"]
        lines += [f"### Dense-sparse-dense (`eiegen experiment dsd`, {r['model']}, "
                  f"{r['wall_s']:.0f} s)", "",
                  f"Dense {e[0]} epochs; sparse: {100 * r['sparsity']:.0f}% of each layer's "
                  f"smallest weights pruned, {e[1]} epochs; re-dense: all weights, {e[2]} epochs "
                  f"at {r['dense_lr_scale']:g}x the learning rate. The control trains the dense "
                  f"network for the same epochs at the same rates, never pruned.", "",
                  "| phase | test accuracy |", "|---|---:|",
                  f"| dense | {_pct(r['dense'])} |",
                  f"| pruned, before retraining | {_pct(r['pruned_before_retraining'])} |",
                  f"| sparse, retrained | {_pct(r['sparse'])} |",
                  f"| re-dense | {_pct(r['redense'])} |",
                  f"| control: dense, as many epochs | {_pct(r['control'])} |", ""]
    lines += ["### The seed's claims on our data", "", "| claim | held |", "|---|---|"]
    for r in reports:
        for target, held in r["targets"].items():
            lines.append(f"| {r['experiment']} ({r['model']}): {target.replace('_', ' ')} | "
                         f"{'yes' if held else '**no**'} |")
    lines += ["", "![Low rank against pruning, BN, distillation, DSD](experiments.png)"]
    return "\n".join(lines)


def _label(ax, xlabel, title):
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=7)


def _plot(reports, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(2, 2, figsize=(10, 7.5))
    ax = axes[0][0]
    for r in _find(reports, "lowrank"):
        ratio = [row["ratio"] for row in r["rows"]]
        ax.plot(ratio, [100 * row["lowrank_finetuned"] for row in r["rows"]], "o-",
                label=f"{r['model']}: low rank")
        ax.plot(ratio, [100 * row["pruned_retrained"] for row in r["rows"]], "s--",
                label=f"{r['model']}: pruned, equal size")
    _label(ax, "weights: dense / compressed", "Low rank against pruning (after fine-tuning)")
    ax = axes[0][1]
    for r in _find(reports, "bnfold"):
        epochs = range(1, len(r["plain_history"]) + 1)
        ax.plot(epochs, [100 * a for a in r["plain_history"]], "o-", label=f"{r['model']}")
        ax.plot(epochs, [100 * a for a in r["bn_history"]], "s-", label=f"{r['model']} with BN")
    _label(ax, "epoch", "Training with and without batch normalization")
    ax = axes[1][0]
    for r in _find(reports, "distill"):
        ts = [d["temperature"] for d in r["distilled"]]
        ax.errorbar(ts, [100 * d["mean"] for d in r["distilled"]],
                    yerr=[100 * d["std"] for d in r["distilled"]], fmt="o-",
                    label=f"student with teacher ({r['model']})")
        ax.axhline(100 * r["alone"]["mean"], color="gray", ls="--", label="student alone")
        ax.set_xscale("log", base=2)
    _label(ax, "temperature T", "Distillation")
    ax = axes[1][1]
    for r in _find(reports, "dsd"):
        h = r["history"]
        dsd = h["dense"] + h["sparse"] + h["redense"]
        ax.plot(range(1, len(dsd) + 1), [100 * a for a in dsd], "o-", label=f"DSD ({r['model']})")
        ax.plot(range(1, len(r["control_history"]) + 1),
                [100 * a for a in r["control_history"]], "s--", label="control (dense)")
        for edge in (len(h["dense"]), len(h["dense"]) + len(h["sparse"])):
            ax.axvline(edge + 0.5, color="gray", lw=0.8)
    _label(ax, "epoch", "Dense, sparse, dense again")
    fig.tight_layout()
    save_figure(fig, path, dpi=100)
    plt.close(fig)
