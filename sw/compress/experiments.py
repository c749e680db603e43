"""The compression experiments: low rank, BN folding, distillation, DSD, LeNet-5.

Each experiment trains a bundled network on its bundled data (``MODELS``),
applies one method, and returns a JSON-able report holding the accuracies
it compares, the settings, a ``targets`` dict (the seed's claims, checked on
our data) and the wall time. ``run`` is the entry point (one BLAS thread:
on shared cores a multi-threaded OpenBLAS is many times slower).
"""

import copy
import time

import numpy as np

from sw.train import nn
from sw.train.cnn import init as cnn_init
from sw.train.datasets import load as load_dataset

__all__ = ["MODELS", "EXPERIMENTS", "run", "trained", "fresh", "model_data", "check_options"]

#: The networks. ``arch`` is ``sw.train.cnn``'s (conv (filters, size), hidden
#: widths); ``compress``: Deep Compression's pruning qualities (threshold =
#: quality x std of the layer) and index widths per weighted layer; the
#: student is the small MLP of the distillation experiment.
MODELS = {
    "lenet-300-100": dict(
        dataset="mnist", augment=True, arch={"convs": [], "hidden": [300, 100], "classes": 10},
        epochs=6, lr=0.05, lr_decay=0.7, student=[20],
        compress=dict(qualities=[1.8, 1.7, 1.1], index_bits=[4, 4, 4], rounds=3,
                      retrain_epochs=2, finetune_epochs=1)),
    "lenet-5": dict(
        dataset="mnist", augment=True,
        arch={"convs": [(20, 5), (50, 5)], "hidden": [500], "classes": 10},
        epochs=3, lr=0.02, lr_decay=0.6, student=[20],
        compress=dict(qualities=[0.4, 1.4, 1.85, 1.2], index_bits=[8, 8, 5, 5], rounds=3,
                      retrain_epochs=1, finetune_epochs=1)),
    "digits-mlp": dict(
        dataset="digits", arch={"convs": [], "hidden": [48, 32], "classes": 10},
        epochs=12, lr=0.05, student=[6],
        compress=dict(qualities=[1.0, 0.9, 0.6], index_bits=[4, 4, 4], rounds=2,
                      retrain_epochs=2, finetune_epochs=1)),
    "digits-cnn": dict(
        dataset="digits", arch={"convs": [(8, 3), (16, 2)], "hidden": [32], "classes": 10},
        epochs=12, lr=0.05, student=[6],
        compress=dict(qualities=[0.4, 1.0, 1.0, 0.8], index_bits=[8, 8, 5, 5], rounds=2,
                      retrain_epochs=2, finetune_epochs=1)),
}

_DATA = {}
_TRAINED = {}


def model_data(name):
    """``(data set, x_train, y_train, x_test)``: float images (B, 1, side, side).

    MNIST models train on the augmented split (``Dataset.augmented``: five
    times 4,000 digits, as ``sw.compress.pipeline`` does); the digits ones on theirs.
    """
    spec = MODELS[name]
    if spec["dataset"] not in _DATA:
        _DATA[spec["dataset"]] = load_dataset(spec["dataset"])
    data = _DATA[spec["dataset"]]
    side = int(round(data.x_train.shape[1] ** 0.5))
    shape = (-1, 1, side, side)
    x, y = data.augmented() if spec.get("augment") else (data.x_train, data.y_train)
    return data, data.scaled(x).reshape(shape), y, data.scaled(data.x_test).reshape(shape)


def _check_model(name):
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}: choose one of {', '.join(MODELS)} (--model)")


def fresh(name, seed=0, bn=False, arch=None):
    """An untrained network of model ``name`` (or of ``arch`` on its data)."""
    data, x, _, _ = model_data(name)
    layers = nn.from_cnn(cnn_init(x.shape[1:], arch or MODELS[name]["arch"], seed))
    return nn.with_bn(layers) if bn else layers


def trained(name, *, epochs=None, seed=0, bn=False, progress=None):
    """Model ``name`` trained on its data (kept for the rest of the process):
    ``(layers, per-epoch test accuracies)``; a copy, free to change."""
    spec = MODELS[name]
    epochs = spec["epochs"] if epochs is None else epochs
    key = (name, epochs, seed, bn)
    if key not in _TRAINED:
        data, x, y, xt = model_data(name)
        layers = fresh(name, seed, bn)
        history = nn.train(layers, x, y, epochs=epochs, lr=spec["lr"],
                           lr_decay=spec.get("lr_decay", 1.0), seed=seed,
                           evaluate=(xt, data.y_test), progress=progress,
                           label=f"{name}{' with BN' if bn else ''}")
        _TRAINED[key] = (layers, history)
    layers, history = _TRAINED[key]
    return copy.deepcopy(layers), list(history)


# ---------------------------------------------------------------- low rank

def exp_lowrank(model, *, energies=(0.5, 0.7, 0.8, 0.9, 0.95), finetune_epochs=1,
                method="responses", epochs=None, seed=0, progress=None):
    """Rank (by energy budget) against accuracy, and against pruning at equal size."""
    from sw.compress.lowrank import equal_size_masks, lowrank
    say = progress or (lambda message: None)
    spec = MODELS[model]
    data, x, y, xt = model_data(model)
    yt = data.y_test
    dense, _ = trained(model, epochs=epochs, seed=seed, progress=progress)
    base = nn.accuracy(dense, xt, yt)
    total = nn.count_weights(dense)
    rows = []
    for energy in energies:
        factored, layers = lowrank(dense, energy, x=x[:500], method=method)
        weights = total - sum(r["dense_weights"] - r["weights"] for r in layers)
        row = {"energy": energy, "layers": layers, "weights": weights,
               "ratio": total / weights,
               "lowrank": nn.accuracy(factored, xt, yt)}
        ranks = ", ".join(f"{r['kind']} {r['layer']}: {r['rank']}/{r['full_rank']}"
                          for r in layers if r["rank"] is not None)
        say(f"energy {energy:g}: ranks {ranks}; {weights} weights ({row['ratio']:.2f}x fewer), "
            f"accuracy {100 * row['lowrank']:.2f}% before fine-tuning")
        lr = spec["lr"] / 5  # factors diverge at the full rate
        nn.train(factored, x, y, epochs=finetune_epochs, lr=lr, seed=seed + 1,
                 progress=progress, label=f"energy {energy:g}: low-rank fine-tuning")
        row["lowrank_finetuned"] = nn.accuracy(factored, xt, yt)
        pruned = copy.deepcopy(dense)
        masks = equal_size_masks(pruned, layers)
        for i, m in masks.items():
            pruned[i]["W"] = pruned[i]["W"] * m
        row["pruned"] = nn.accuracy(pruned, xt, yt)
        nn.train(pruned, x, y, epochs=finetune_epochs, lr=lr, seed=seed + 1, masks=masks,
                 progress=progress, label=f"energy {energy:g}: pruned at equal size, retraining")
        row["pruned_retrained"] = nn.accuracy(pruned, xt, yt)
        row["pruned_weights"] = total - sum(int((~m).sum()) for m in masks.values())
        say(f"energy {energy:g}: low rank {100 * row['lowrank_finetuned']:.2f}%, pruned at "
            f"equal size {100 * row['pruned_retrained']:.2f}% (after {finetune_epochs} epochs)")
        rows.append(row)
    return {"dense": base, "dense_weights": total, "method": method, "rows": rows,
            "finetune_epochs": finetune_epochs}


# ---------------------------------------------------------------- BN folding

def exp_bnfold(model, *, epochs=None, seed=0, compress=True, progress=None):
    """Train with and without BN; fold BN; check predictions; compress the folded net."""
    from sw.compress.bnfold import check_fold, fold
    from sw.compress.networks import deep_compress
    say = progress or (lambda message: None)
    data, x, y, xt = model_data(model)
    plain, plain_history = trained(model, epochs=epochs, seed=seed, progress=progress)
    with_bn, bn_history = trained(model, epochs=epochs, seed=seed, bn=True, progress=progress)
    folded = fold(with_bn)
    report = {"plain_history": plain_history, "bn_history": bn_history,
              "plain": nn.accuracy(plain, xt, data.y_test),
              "bn": nn.accuracy(with_bn, xt, data.y_test),
              "folded": nn.accuracy(folded, xt, data.y_test),
              "test_check": check_fold(with_bn, folded, xt),
              "train_check": check_fold(with_bn, folded, x),
              "bn_layers": sum(l["kind"] == "bn" for l in with_bn)}
    say(f"folded {report['bn_layers']} BN layers: "
        f"{report['test_check']['changed_predictions']} of {len(xt)} test and "
        f"{report['train_check']['changed_predictions']} of {len(x)} training predictions "
        f"changed; largest logit change {report['test_check']['max_logit_difference']:.1e} "
        f"(relative)")
    if compress:
        cfg = dict(MODELS[model]["compress"])
        say("Deep Compression of the folded network")
        result = deep_compress(folded, x, y, xt, data.y_test, seed=seed, progress=progress,
                               lr=MODELS[model]["lr"] / 2, **cfg)
        report["compressed"] = _compressed_summary(result)
        if all(l["kind"] != "conv" for l in folded) and max(cfg["index_bits"]) <= 4:
            report["compressed"]["fixed_point"] = _fixed_point_accuracy(model, folded, result)
            say(f"folded, compressed and in fixed point (EIE golden model): "
                f"{100 * report['compressed']['fixed_point']:.2f}%")
    return report


def _compressed_summary(result):
    return {"accuracy": result["accuracy"], "ratio": result["ratio"],
            "density": result["density"], "layers": result["layers"], "total": result["total"]}


def _fixed_point_accuracy(model, layers, result):
    """Test accuracy of the EIE model of a shared dense network (golden model)."""
    from sw.golden.eie import infer
    from sw.compress.networks import eie_model
    data = model_data(model)[0]
    m = eie_model(model, layers, result["indices"], result["codebooks"], data.x_train[:1000],
                  input_frac=data.input_frac, index_bits=max(MODELS[model]["compress"]
                                                             ["index_bits"]))
    return float(np.mean(infer(m, data.x_test).argmax(axis=1) == data.y_test))


# ---------------------------------------------------------------- distillation

def exp_distill(model, *, temperatures=(1.0, 2.0, 4.0, 8.0), alpha=0.9, student_epochs=10,
                seeds=3, epochs=None, seed=0, progress=None):
    """A small student trained alone and on the teacher's soft targets at each temperature."""
    from sw.compress.distill import distill
    say = progress or (lambda message: None)
    spec = MODELS[model]
    data, x, y, xt = model_data(model)
    yt = data.y_test
    teacher, _ = trained(model, epochs=epochs, seed=seed, progress=progress)
    student_arch = {"convs": [], "hidden": spec["student"], "classes": spec["arch"]["classes"]}
    report = {"teacher": nn.accuracy(teacher, xt, yt), "student_arch": student_arch,
              "teacher_weights": nn.count_weights(teacher), "alpha": alpha,
              "student_epochs": student_epochs, "seeds": seeds}
    report["student_weights"] = nn.count_weights(fresh(model, arch=student_arch))
    say(f"teacher {model}: {100 * report['teacher']:.2f}% ({report['teacher_weights']} weights); "
        f"student: MLP hidden {spec['student']} ({report['student_weights']} weights)")
    alone = []
    for s in range(seeds):
        student = fresh(model, seed + 10 + s, arch=student_arch)
        nn.train(student, x, y, epochs=student_epochs, lr=spec["lr"], seed=seed + 10 + s,
                 progress=progress, label=f"student alone, seed {s + 1}/{seeds}")
        alone.append(nn.accuracy(student, xt, yt))
    report["alone"] = _spread(alone)
    say(f"student alone: {100 * report['alone']['mean']:.2f}% (mean of {seeds})")
    report["distilled"] = []
    for t in temperatures:
        runs = []
        for s in range(seeds):
            student = fresh(model, seed + 10 + s, arch=student_arch)
            distill(teacher, student, x, y, temperature=t, alpha=alpha, epochs=student_epochs,
                    lr=spec["lr"], seed=seed + 10 + s, progress=progress)
            runs.append(nn.accuracy(student, xt, yt))
        report["distilled"].append({"temperature": t, **_spread(runs)})
        say(f"student with teacher, T={t:g}: {100 * np.mean(runs):.2f}% (mean of {seeds})")
    best = max(report["distilled"], key=lambda r: r["mean"])
    report["best_temperature"] = best["temperature"]
    return report


def _spread(values):
    return {"mean": float(np.mean(values)), "std": float(np.std(values)),
            "runs": [float(v) for v in values]}


# ---------------------------------------------------------------- DSD

def exp_dsd(model, *, sparsity=0.5, phase_epochs=None, dense_lr_scale=0.1, epochs=None, seed=0,
            progress=None):
    """Dense, sparse, re-dense; and the dense network trained as long without pruning.

    ``phase_epochs``: (dense, sparse, re-dense); default the model's epochs,
    then half as many for each later phase.
    """
    from sw.compress.dsd import dsd
    say = progress or (lambda message: None)
    spec = MODELS[model]
    data, x, y, xt = model_data(model)
    e1 = spec["epochs"] if epochs is None else epochs
    phases = tuple(phase_epochs) if phase_epochs else (e1, max(1, e1 // 2), max(1, e1 // 2))
    layers, dense_history = trained(model, epochs=phases[0], seed=seed, progress=progress)
    control = copy.deepcopy(layers)
    report = dsd(layers, x, y, xt, data.y_test, sparsity=sparsity, epochs=phases[1:],
                 lr=spec["lr"], dense_lr_scale=dense_lr_scale, seed=seed, progress=progress)
    report["history"]["dense"] = dense_history
    say(f"DSD: dense {100 * report['dense']:.2f}%, sparse {100 * report['sparse']:.2f}%, "
        f"re-dense {100 * report['redense']:.2f}%")
    # The fair control: the same epochs and learning rates, never pruned.
    common = dict(evaluate=(xt, data.y_test), progress=progress)
    hist = nn.train(control, x, y, epochs=phases[1], lr=spec["lr"], seed=seed + 1,
                    label="control, dense (phase 2)", **common)
    hist += nn.train(control, x, y, epochs=phases[2], lr=spec["lr"] * dense_lr_scale,
                     seed=seed + 2, label="control, dense (phase 3)", **common)
    report["control"] = nn.accuracy(control, xt, data.y_test)
    report["control_history"] = dense_history + hist
    report.update(sparsity=sparsity, phase_epochs=list(phases), dense_lr_scale=dense_lr_scale)
    say(f"control (dense for the same {sum(phases)} epochs): {100 * report['control']:.2f}%")
    return report


# ---------------------------------------------------------------- LeNet-5

def exp_lenet5(model, *, epochs=None, seed=0, progress=None):
    """Deep Compression of a conv network: size table, ratio, accuracy per stage."""
    from sw.compress.networks import deep_compress
    spec = MODELS[model]
    data, x, y, xt = model_data(model)
    layers, history = trained(model, epochs=epochs, seed=seed, progress=progress)
    result = deep_compress(layers, x, y, xt, data.y_test, seed=seed, progress=progress,
                           lr=spec["lr"] / 2, **spec["compress"])
    report = _compressed_summary(result)
    report.update(dense_history=history, settings=spec["compress"])
    acc = report["accuracy"]
    (progress or print)(
        f"{model}: {result['total']['dense_bytes'] / 1000:.1f} KB -> "
        f"{result['total']['huffman_bytes'] / 1000:.1f} KB ({result['ratio']:.1f}x), accuracy "
        f"{100 * acc['dense']:.2f}% dense -> {100 * acc['shared']:.2f}% compressed")
    return report


# ---------------------------------------------------------------- entry point

def _targets(name, r):
    """The seed's claims, as checks on this report."""
    if name == "dsd":
        return {"dsd_at_least_dense": r["redense"] >= r["dense"],
                "dsd_at_least_control": r["redense"] >= r["control"]}
    if name == "distill":
        return {"distilled_better_than_alone":
                max(d["mean"] for d in r["distilled"]) > r["alone"]["mean"]}
    if name == "bnfold":
        return {"folding_changes_no_prediction": r["test_check"]["changed_predictions"] == 0
                and r["train_check"]["changed_predictions"] == 0}
    if name == "lenet5":
        return {"ratio_at_least_35x": r["ratio"] >= 35,
                "within_half_a_point": r["accuracy"]["dense"] - r["accuracy"]["shared"] <= 0.005}
    return {}


def check_options(name, options):
    """Refuse impossible settings before any training (one-line ``ValueError``)."""
    def positive_int(key, option):
        value = options.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise ValueError(f"{option} must be a positive integer, not {value!r}")

    for key, option in (("epochs", "--epochs"), ("finetune_epochs", "--finetune-epochs"),
                        ("student_epochs", "--student-epochs"), ("seeds", "--seeds")):
        positive_int(key, option)
    for e in options.get("energies") or ():
        if not 0 < e <= 1:
            raise ValueError(f"an energy budget is a fraction in (0, 1], not {e} (--energies)")
    if "energies" in options and not options["energies"]:
        raise ValueError("--energies needs at least one budget")
    for t in options.get("temperatures") or ():
        if not t > 0:
            raise ValueError(f"a temperature must be positive, not {t} (--temperatures)")
    if not 0 <= options.get("alpha", 0.5) <= 1:
        raise ValueError(f"--alpha (the soft targets' weight) is in [0, 1], not "
                         f"{options['alpha']}")
    if not 0 <= options.get("sparsity", 0.5) < 1:
        raise ValueError(f"--sparsity is a fraction in [0, 1), not {options['sparsity']}")
    phases = options.get("phase_epochs")
    if phases is not None and (len(phases) != 3 or min(phases) < 1):
        raise ValueError(f"--phase-epochs takes three positive epoch counts (dense, sparse, "
                         f"re-dense), not {','.join(map(str, phases))}")


EXPERIMENTS = {"lowrank": exp_lowrank, "bnfold": exp_bnfold, "distill": exp_distill,
               "dsd": exp_dsd, "lenet5": exp_lenet5}


def run(name, model, *, progress=None, **options):
    """Run experiment ``name`` on ``model``; the report (with ``targets`` and ``wall_s``)."""
    from threadpoolctl import threadpool_limits
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}: choose one of {', '.join(EXPERIMENTS)}")
    _check_model(model)
    check_options(name, options)
    started = time.monotonic()
    with threadpool_limits(1, user_api="blas"):
        report = EXPERIMENTS[name](model, progress=progress, **options)
    return {"experiment": name, "model": model, "dataset": MODELS[model]["dataset"],
            **report, "targets": _targets(name, report),
            "wall_s": round(time.monotonic() - started, 1)}
