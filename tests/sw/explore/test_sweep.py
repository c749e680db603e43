"""eiegen explore on in-process Dask clusters: a small space of the digits MLP,
measured whole; resumed after an interruption without redoing a step; the
same results on one worker and on two.

The space needs no synthesis (no ``target``): the cycle model, the energy
model and one point in Verilator. Synthesis through the sweep is
``test_cli.py``'s.
"""

import json

import numpy as np
import pytest

from sw.explore.space import load_space
from sw.explore.sweep import explore

SPACE = """
[compression]
density = [0.3, [0.2, 0.25, 0.5]]
index_bits = [3, 4]
retrain_epochs = [1]

[hardware]
pes = [1, 2]
queue_depth = [1, 8]

[measure]
cycle_samples = 6
rtl_points = 1
rtl_samples = 2
"""
SOURCE = {"kind": "bundled", "name": "digits-mlp", "seed": 0}


def _space(tmp_path):
    path = tmp_path / "space.toml"
    path.write_text(SPACE)
    return load_space(path, 3)


class Counting:
    """A real Dask client that counts what it is asked to compute."""

    def __init__(self, client):
        self.client, self.submitted = client, []

    def submit(self, function, *args, key, **kwargs):
        self.submitted.append(key)
        return self.client.submit(function, *args, key=key, **kwargs)


def _cluster(workers):
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=False,
                           dashboard_address=None)
    return cluster, Client(cluster)


def _sweep(tmp_path, out, workers, stream=None):
    cluster, client = _cluster(workers)
    counting = Counting(client)
    space = _space(tmp_path)
    try:
        results, table, failed = explore(SOURCE, space, space.points(), tmp_path / out,
                                         counting, stream=stream)
    finally:
        client.close()
        cluster.close()
    return results, table, failed, counting.submitted


def _measured(results):
    """The results without their wall times, which are the machine's, not the point's."""
    return [{k: v for k, v in r.items() if k != "cost_s"} for r in results]


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory):
    t = tmp_path_factory.mktemp("sweep")
    return t, _sweep(t, "two", 2)


def test_a_small_space_is_measured_whole(two_workers, cli):
    t, (results, table, failed, submitted) = two_workers
    assert failed == 0 and len(results) == 16
    assert [r["status"] for r in results] == ["ok"] * 16, [r["reason"] for r in results]
    out = t / "two"
    on_disk = json.loads((out / "points.json").read_text())["points"]
    assert on_disk == json.loads(json.dumps(results))
    assert len((out / "points.csv").read_text().splitlines()) == 17
    assert (out / "pareto.png").stat().st_size > 1000
    assert "Pareto front: accuracy against energy per inference" in table
    # Each step once: one training, a compression a (density, index bits), a
    # model file a compression point and PE count, a measurement a point, one RTL run.
    kinds = [k.split("-")[0] for k in submitted]
    assert {k: kinds.count(k) for k in set(kinds)} == \
        {"dense": 1, "compress": 4, "encode": 8, "measure": 16, "rtl": 1}
    # A model file shared by the points that use it, accuracy the same over
    # hardware that does not change the model.
    files = {r["model_file"] for r in results}
    assert len(files) == 8 and all((out / f).is_file() for f in files)
    for r in results:
        same = [s for s in results if s["model_file"] == r["model_file"]]
        assert {s["accuracy"] for s in same} == {r["accuracy"]}
    # The cycle model's figures are those eiegen golden gives for the same
    # model file and inputs; the point in RTL agreed with it.
    from sw.train.datasets import load
    np.save(t / "x.npy", load("digits").x_test[:6])
    r = results[3]  # 2 PEs, queue depth 8
    assert r["hardware"] == {"pes": 2, "queue_depth": 8}
    status, _, err = cli("golden", str(out / r["model_file"]), "--inputs", str(t / "x.npy"),
                         "--out", str(t / "y.npy"), "--report", str(t / "g.json"),
                         "--queue-depth", "8")
    assert status == 0, err
    assert json.loads((t / "g.json").read_text())["cycles_per_inference"] == r["cycles"]
    checked = [r for r in results if r["rtl"]]
    assert len(checked) == 1 and checked[0]["rtl"]["mismatches"] == 0
    assert checked[0]["rtl"]["rtl_cycles"] == checked[0]["rtl"]["model_cycles"]
    # More PEs, fewer cycles; a sparser network (23.5% against 30%), less energy.
    for a, b in zip(results[0::4], results[2::4]):
        assert b["cycles"] < a["cycles"]
    assert results[8]["energy_nj"] < results[0]["energy_nj"]


def test_one_worker_gives_the_same_results(two_workers, tmp_path):
    _, (two, _, _, _) = two_workers
    one, _, _, _ = _sweep(tmp_path, "one", 1)
    assert _measured(one) == _measured(two)


class Interrupt:
    """A progress stream that stops the sweep (as Ctrl-C would) once ``after``
    points are done."""

    def __init__(self, after):
        self.after = after

    def write(self, line):
        if f" {self.after} done" in line:
            raise KeyboardInterrupt

    def flush(self):
        pass


def test_an_interrupted_sweep_resumes_without_redoing_a_step(two_workers, tmp_path):
    _, (whole, _, _, _) = two_workers
    with pytest.raises(KeyboardInterrupt):
        _sweep(tmp_path, "cut", 2, stream=Interrupt(5))
    cache = tmp_path / "cut" / "cache"
    finished = {p.stem for p in cache.glob("*.npz")}
    assert len(finished) >= 5
    resumed, _, _, submitted = _sweep(tmp_path, "cut", 2)
    assert not finished & set(submitted)
    assert _measured(resumed) == _measured(whole)
    # And a third run computes nothing at all.
    again, _, _, submitted = _sweep(tmp_path, "cut", 1)
    assert submitted == [] and _measured(again) == _measured(whole)
