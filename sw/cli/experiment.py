"""``eiegen experiment lowrank|bnfold|distill|dsd|lenet5|bench``: the compression experiments.

Each experiment prints its progress, writes its report (``--report``) and
ends with the figures it compares and whether the seed's claim held.
``eiegen experiment bench`` runs them all and writes their section of
docs/benchmarks.md.
"""

from pathlib import Path

from sw.cli.common import (Parser, check_writable, existing_folder, integer, number,
                           output_file, progress, write_json)
from sw.errors import EiegenError

__all__ = ["add_experiment_verb"]

#: Each experiment's default model.
DEFAULT_MODEL = {"lowrank": "lenet-300-100", "bnfold": "lenet-300-100",
                 "distill": "lenet-300-100", "dsd": "lenet-300-100", "lenet5": "lenet-5"}

HELP = {
    "lowrank": "low-rank layers (SVD; Zhang et al. for conv): rank vs accuracy and vs pruning",
    "bnfold": "batch normalization in training, folded into weights and biases, then compressed",
    "distill": "a small student trained alone and on a teacher's soft targets",
    "dsd": "dense-sparse-dense training, accuracy of each phase",
    "lenet5": "Deep Compression of LeNet-5 (conv 8-bit, dense 5-bit indices, Huffman)",
}


def _numbers(text, option, kind=float):
    try:
        return [kind(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise EiegenError(f"{option} takes comma-separated numbers, not {text!r}") from None


def _options(args):
    """The experiment's keyword options from the command line (unset ones left out)."""
    opts = {"seed": args.seed}
    if args.epochs is not None:
        opts["epochs"] = args.epochs
    extra = {
        "lowrank": [("energies", "--energies", float), ("finetune_epochs", None, None),
                    ("method", None, None)],
        "distill": [("temperatures", "--temperatures", float), ("alpha", None, None),
                    ("student_epochs", None, None), ("seeds", None, None)],
        "dsd": [("sparsity", None, None), ("phase_epochs", "--phase-epochs", int),
                ("dense_lr_scale", None, None)],
    }.get(args.experiment, [])
    for key, option, kind in extra:
        value = getattr(args, key)
        if value is None:
            continue
        opts[key] = _numbers(value, option, kind) if option else value
    if args.experiment == "bnfold" and args.no_compress:
        opts["compress"] = False
    return opts


def _summary(r):
    """The comparison of a report, in one or a few lines."""
    pct = lambda a: f"{100 * a:.2f}%"  # noqa: E731
    name = r["experiment"]
    if name == "lowrank":
        lines = [f"dense {pct(r['dense'])} with {r['dense_weights']} weights"]
        for row in r["rows"]:
            lines.append(f"energy {row['energy']:g}: {row['weights']} weights "
                         f"({row['ratio']:.2f}x): low rank {pct(row['lowrank'])} -> "
                         f"{pct(row['lowrank_finetuned'])} fine-tuned; pruned at equal size "
                         f"{pct(row['pruned'])} -> {pct(row['pruned_retrained'])} retrained")
        return lines
    if name == "bnfold":
        c = r["test_check"]
        lines = [f"without BN {pct(r['plain'])}, with BN {pct(r['bn'])}, folded "
                 f"{pct(r['folded'])}: {c['changed_predictions']} of {c['inputs']} test "
                 f"predictions changed (largest relative logit change "
                 f"{c['max_logit_difference']:.1e})"]
        if "compressed" in r:
            comp = r["compressed"]
            lines.append(f"folded then compressed: {comp['ratio']:.1f}x, "
                         f"{pct(comp['accuracy']['shared'])}" +
                         (f", fixed point {pct(comp['fixed_point'])}"
                          if "fixed_point" in comp else ""))
        return lines
    if name == "distill":
        return [f"teacher {pct(r['teacher'])}; student alone {pct(r['alone']['mean'])}; "
                + ", ".join(f"T={d['temperature']:g} {pct(d['mean'])}" for d in r["distilled"])
                + f" (means of {r['seeds']} seeds)"]
    if name == "dsd":
        return [f"dense {pct(r['dense'])} -> sparse {pct(r['sparse'])} -> re-dense "
                f"{pct(r['redense'])}; dense trained as long: {pct(r['control'])}"]
    acc = r["accuracy"]
    return [f"{r['total']['dense_bytes'] / 1000:.1f} KB -> "
            f"{r['total']['huffman_bytes'] / 1000:.1f} KB ({r['ratio']:.1f}x) at "
            f"{100 * r['density']:.1f}% density; accuracy {pct(acc['dense'])} dense -> "
            f"{pct(acc['pruned'])} pruned -> {pct(acc['shared'])} shared"]


def cmd_experiment(args):
    from sw.compress.experiments import check_options, run
    if args.experiment == "bench":
        from sw.benchmarks.experiments import bench_experiments
        return bench_experiments(Path(args.out), progress=progress)
    check_writable(args.report)
    model = args.model or DEFAULT_MODEL[args.experiment]
    opts = _options(args)
    check_options(args.experiment, opts)
    progress(f"{args.experiment} on {model}")
    report = run(args.experiment, model, progress=progress, **opts)
    if args.report:
        write_json(args.report, report)
    for line in _summary(report):
        progress(line)
    for target, held in report["targets"].items():
        progress(f"target {target.replace('_', ' ')}: {'yes' if held else 'NO'}")
    progress(f"{report['wall_s']} s" + (f"; wrote {args.report}" if args.report else ""))


def add_experiment_verb(verbs):
    """Add ``eiegen experiment`` to the CLI's verbs."""
    from sw.compress.experiments import MODELS
    p = verbs.add_parser("experiment", help="compression experiments: low rank, BN folding, "
                                            "distillation, DSD, LeNet-5")
    kinds = p.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT",
                             parser_class=Parser)
    for name, help in HELP.items():
        e = kinds.add_parser(name, help=help)
        e.add_argument("--model", choices=list(MODELS),
                       help=f"network and data (default {DEFAULT_MODEL[name]})")
        e.add_argument("--report", type=output_file,
                       help="R.json: the accuracies compared, settings, targets")
        e.add_argument("--epochs", type=int,
                       help="dense training epochs (default: the model's)")
        e.add_argument("--seed", type=integer(0), default=0)
        e.set_defaults(func=cmd_experiment, no_compress=False)
        if name == "lowrank":
            e.add_argument("--energies", help="energy budgets, e.g. 0.5,0.8,0.95 (each layer "
                                              "keeps the fewest singular values holding it)")
            e.add_argument("--finetune-epochs", type=int,
                           help="epochs of fine-tuning, low rank and pruned alike (default 1)")
            e.add_argument("--method", choices=["responses", "svd"],
                           help="conv subspace: Zhang et al.'s responses (default) or filter SVD")
        elif name == "distill":
            e.add_argument("--temperatures", help="soft-target temperatures, e.g. 1,2,4,8")
            e.add_argument("--alpha", type=float, help="weight of the soft targets (default 0.9)")
            e.add_argument("--student-epochs", type=int, help="student epochs (default 10)")
            e.add_argument("--seeds", type=int, help="students per setting (default 3)")
        elif name == "dsd":
            e.add_argument("--sparsity", type=float, help="pruned fraction of each layer in the "
                                                          "sparse phase (default 0.5)")
            e.add_argument("--phase-epochs", help="epochs of the dense, sparse and re-dense "
                                                  "phases, e.g. 10,5,5")
            e.add_argument("--dense-lr-scale", type=number(above=0),
                           help="learning rate of the re-dense phase, relative (default 0.1)")
        elif name == "bnfold":
            e.add_argument("--no-compress", action="store_true",
                           help="fold and check only; skip Deep Compression of the folded net")
    b = kinds.add_parser("bench", help="run every experiment; write docs/benchmarks.md")
    b.add_argument("--out", default="docs", type=existing_folder,
                   help="folder of benchmarks.md (default docs)")
    b.set_defaults(func=cmd_experiment)
