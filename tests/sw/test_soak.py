"""The randomized soak (``sw.soak``, ``eiegen soak``, docs/reliability.md).

CI soaks every core in its CI space, a fixed seed: each of the core's CI
configurations (most share their Verilator builds with the cores' own tests),
two cases of random data and stalls each, against the golden models. The
rest checks that the soak is a soak: its wide space varies every parameter,
its data holds the hard cases, and a mismatch or a failed run is counted and
printed with the command that replays it.
"""

import json

import numpy as np
import pytest

from sw import soak
from sw.golden.eie import infer
from sw.spec.numerics import signed_range

#: The CI soak's seed: change it to soak other data (the configurations stay).
SEED = 19
@pytest.mark.parametrize("core", soak.SOAKERS)
def test_ci_soak_finds_no_mismatch(core, capsys):
    configs = len(soak.SOAKERS[core].ci)
    tally = soak.soak([core], seed=SEED, space="ci", configs=configs, cases=2)
    lines = capsys.readouterr().out
    print(lines)
    assert tally.failures == [], lines
    t = tally.totals()
    assert t["configs"] == configs and t["cases"] == 2 * configs
    assert t["mismatches"] == 0 and t["samples"] >= t["cases"] and t["outputs"] > 0


@pytest.mark.parametrize("core", soak.SOAKERS)
def test_the_wide_space_varies_every_parameter(core):
    configs = [soak.case_config(soak.Case(core, "wide", seed, 0)) for seed in range(40)]
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == len(configs)
    fixed = [key for key in configs[0]
             if len({json.dumps(c.get(key)) for c in configs}) < 2]
    assert not fixed, f"{core}: the wide space never varies {fixed}"


def test_the_ci_space_takes_its_configurations_in_turn():
    seen = {json.dumps(soak.case_config(soak.Case("eie", "ci", 7 + k, 0)), sort_keys=True)
            for k in range(len(soak.EIE_CI))}
    assert len(seen) == len(soak.EIE_CI)


def test_eie_models_hold_the_hard_cases():
    # Over a few wide configurations: columns with no entry, padding entries,
    # all-zero inputs, and outputs that saturate.
    found = dict(empty_column=0, padding=0, saturated=0, zero_input=0, fits=0)
    for seed in range(12):
        config = soak.case_config(soak.Case("eie", "wide", seed, 0))
        model, x = soak.eie_data(np.random.default_rng(seed), config)
        found["fits"] += 1
        found["zero_input"] += bool((x == 0).all(axis=1).any())
        for layer in model.layers:
            e = layer.eie
            found["empty_column"] += any((np.diff(e.ptr[pe]) == 0).any() for pe in range(e.pes))
            found["padding"] += any((v == 0).any() for v in e.v)
        lo, hi = signed_range(model.act_bits)
        y = infer(model, x)
        found["saturated"] += bool(((y == lo) | (y == hi)).any())
    assert found["fits"] == 12 and all(found.values()), found


def _fake(mismatches_when=None, raises_when=None):
    """A core whose run reports ``mismatches_when(data seed)`` mismatches, or
    raises when ``raises_when(data seed)``: the soak's bookkeeping, no hardware."""
    def run(config, rng):
        value = int(rng.integers(100))
        if raises_when and raises_when(value):
            raise ValueError("a refused input")
        return 3, {"outputs": 12, "mismatches": 2 if mismatches_when(value) else 0}
    return {"fake": soak.Soaker([{"k": k} for k in range(5)],
                                lambda rng: {"k": int(rng.integers(5))}, run, cases=3)}


def test_a_mismatch_and_a_failed_run_are_counted_with_their_replay():
    lines = []
    tally = soak.soak(["fake"], seed=1, space="ci", configs=20, say=lines.append,
                      soakers=_fake(lambda v: v < 20, raises_when=lambda v: v > 90))
    t = tally.totals()
    assert t["cases"] == 60 and t["configs"] == 5
    assert 0 < t["failures"] < 60 and t["mismatches"] > 0
    for case, reason in tally.failures:
        assert reason == "2 of 12 outputs differ from the golden model" or \
            reason == "ValueError: a refused input"
        assert sum(f"{case}" in line and f"replay: eiegen soak --replay {case}" in line
                   for line in lines) == 1
    report = tally.report()
    assert report["failures"][0]["replay"] == f"eiegen soak --replay {tally.failures[0][0]}"


def test_a_minutes_budget_stops_the_soak():
    tally = soak.soak(["fake"], seed=1, minutes=1e-6, say=lambda line: None,
                      soakers=_fake(lambda v: False))
    assert tally.totals()["cases"] >= 1 and tally.totals()["configs"] == 1


def test_a_case_is_named_and_parsed_back():
    case = soak.Case("winograd", "wide", 12, 345)
    assert str(case) == "winograd:wide:12:345"
    assert soak.Case.parse(str(case)) == case


def test_eiegen_soak_replays_a_case(cli):
    status, out, err = cli("soak", "--replay", "mac:ci:0:5")
    assert status == 0, err
    assert "mac:ci:0:5: " in out and "1 cases" in out and ", 0 mismatches" in out


def test_eiegen_soak_fails_in_one_line_with_the_replay(cli, monkeypatch, tmp_path):
    monkeypatch.setattr(soak, "SOAKERS", _fake(lambda v: v > 50))
    report = tmp_path / "r.json"
    status, out, err = cli("soak", "--seed", "3", "--configs", "2", "--report", str(report))
    assert status == 1 and len(err.strip().splitlines()) == 1
    assert "cases failed; the first, fake:wide:" in err and "eiegen soak --replay fake:" in err
    assert json.loads(report.read_text())["failures"]
