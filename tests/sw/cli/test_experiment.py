"""``eiegen experiment``: every experiment on tiny settings, reports, and every error path.

Errors must be one line on stderr, a non-zero exit status, and nothing written.
"""

import json

import pytest


TINY = {
    "lowrank": ["--model", "digits-mlp", "--epochs", "2", "--energies", "0.5,0.9"],
    "bnfold": ["--model", "digits-mlp", "--epochs", "2"],
    "distill": ["--model", "digits-mlp", "--epochs", "2", "--temperatures", "2,4",
                "--seeds", "1", "--student-epochs", "2"],
    "dsd": ["--model", "digits-mlp", "--phase-epochs", "2,1,1"],
    "lenet5": ["--model", "digits-cnn", "--epochs", "2"],
}


def _accuracies(r):
    """Every accuracy a report compares."""
    name = r["experiment"]
    if name == "lowrank":
        keys = ("lowrank", "lowrank_finetuned", "pruned", "pruned_retrained")
        return [r["dense"]] + [row[k] for row in r["rows"] for k in keys]
    if name == "bnfold":
        c = r["compressed"]
        return [r["plain"], r["bn"], r["folded"], c["accuracy"]["shared"], c["fixed_point"]]
    if name == "distill":
        return [r["teacher"], r["alone"]["mean"]] + [d["mean"] for d in r["distilled"]]
    if name == "dsd":
        return [r["dense"], r["sparse"], r["redense"], r["control"]]
    return list(r["accuracy"].values())


@pytest.mark.parametrize("experiment", TINY)
def test_experiment_writes_its_report(cli, tmp_path, experiment):
    report = tmp_path / "r.json"
    status, out, err = cli("experiment", experiment, *TINY[experiment],
                               "--report", str(report))
    assert status == 0, err
    r = json.loads(report.read_text())
    assert r["experiment"] == experiment and r["wall_s"] >= 0
    assert "[eiegen]" in out and f"wrote {report}" in out  # progress, then the summary
    accuracies = _accuracies(r)
    assert all(0 <= a <= 1 for a in accuracies) and max(accuracies) > 0.5
    for target, held in r["targets"].items():
        assert f"target {target.replace('_', ' ')}: {'yes' if held else 'NO'}" in out
    if experiment == "bnfold":
        assert r["targets"] == {"folding_changes_no_prediction": True}
    if experiment == "lowrank":
        assert [row["energy"] for row in r["rows"]] == [0.5, 0.9]
    if experiment == "dsd":
        assert r["phase_epochs"] == [2, 1, 1] and r["density"] == pytest.approx(0.5, abs=0.01)


@pytest.mark.parametrize("argv,message", [
    (["lowrank", "--energies", "0.5,x"], "--energies takes comma-separated numbers, not '0.5,x'"),
    (["lowrank", "--energies", "0.5,1.5"],
     r"an energy budget is a fraction in (0, 1], not 1.5 (--energies)"),
    (["lowrank", "--energies", ","], "--energies needs at least one budget"),
    (["lowrank", "--finetune-epochs", "0"], "--finetune-epochs must be a positive integer, not 0"),
    (["bnfold", "--epochs", "-1"], "--epochs must be a positive integer, not -1"),
    (["distill", "--temperatures", "2,0"], "a temperature must be positive, not 0.0 (--temperatures)"),
    (["distill", "--alpha", "1.5"], "--alpha (the soft targets' weight) is in [0, 1], not 1.5"),
    (["distill", "--seeds", "0"], "--seeds must be a positive integer, not 0"),
    (["dsd", "--sparsity", "1"], "--sparsity is a fraction in [0, 1), not 1.0"),
    (["dsd", "--phase-epochs", "3,2"],
     "--phase-epochs takes three positive epoch counts (dense, sparse, re-dense), not 3,2"),
    (["dsd", "--phase-epochs", "3,0,1"],
     "--phase-epochs takes three positive epoch counts (dense, sparse, re-dense), not 3,0,1"),
])
def test_experiment_errors_are_one_line(cli, argv, message):
    status, out, err = cli("experiment", *argv)
    assert status == 1
    assert err == f"eiegen: error: {message}\n"
    assert "[eiegen]" not in out  # refused before any training


@pytest.mark.parametrize("argv,message", [
    (["lenet5", "--report", "/no/such/folder/r.json"],
     "argument --report: cannot write /no/such/folder/r.json: folder /no/such/folder does "
     "not exist"),
    (["bench", "--out", "/no/such/folder"], "argument --out: folder /no/such/folder does not exist"),
])
def test_experiment_outputs_are_checked_as_the_options_are_read(cli, argv, message):
    status, out, err = cli("experiment", *argv)
    assert status == 2
    assert err == f"eiegen experiment {argv[0]}: error: {message} " \
                  f"(see eiegen experiment {argv[0]} --help)\n"
    assert not out


def test_unknown_experiment_and_model_are_usage_errors(cli):
    for argv in (["experiment", "prune"], ["experiment", "dsd", "--model", "alexnet"]):
        status, _, err = cli(*argv)
        assert status == 2 and len(err.strip().splitlines()) == 1
        assert "invalid choice" in err
