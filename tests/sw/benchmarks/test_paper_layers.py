"""The paper-layer bench's vectorized encoder equals the format's own."""

import numpy as np
import pytest

from sw.benchmarks.paper_layers import encode_coordinates, random_layer
from sw.formats.csc import encode_layer


@pytest.mark.parametrize("rows, cols, pes, density, z_bits", [
    (50, 7, 4, 0.1, 4), (100, 30, 8, 0.03, 4), (7, 9, 3, 0.5, 4), (300, 20, 1, 0.02, 4),
    (64, 12, 2, 0.05, 2), (5, 5, 8, 0.4, 4), (40, 6, 4, 0.0, 4)])
def test_encode_coordinates_equals_encode_layer(rows, cols, pes, density, z_bits):
    rng = np.random.default_rng(rows * cols)
    m = np.where(rng.random((rows, cols)) < density, rng.integers(1, 16, (rows, cols)), 0)
    r, c = np.nonzero(m)
    want = encode_layer(m, pes, z_bits)
    got = encode_coordinates(rows, cols, r, c, m[r, c], pes, z_bits)
    assert (got.rows, got.cols, got.pes, got.z_bits) == (rows, cols, pes, z_bits)
    assert np.array_equal(got.ptr, want.ptr)
    for k in range(pes):
        assert np.array_equal(got.v[k], want.v[k]) and np.array_equal(got.z[k], want.z[k])


def test_random_layer_is_its_matrix():
    layer, (r, c, values) = random_layer(90, 11, 0.2, 4, seed=3)
    m = np.zeros((90, 11), dtype=np.int64)
    m[r, c] = values
    want = encode_layer(m, 4, 4)
    assert np.array_equal(layer.ptr, want.ptr)
    assert all(np.array_equal(a, b) for a, b in zip(layer.v, want.v))


TINY = [("tiny", 70, 40, 0.2, 0.5, 1.0), ("dense activations", 30, 90, 0.1, 1.0, 2.0)]


def test_both_models_count_the_same_work(tmp_path):
    """The cycle model and the plain FIFO differ in when PEs work, never in how
    much: an entry a cycle, an empty column nothing."""
    from sw.benchmarks.paper_layers import _markdown, _plot, run_paper_layers
    from sw.golden.fifo import column_work
    results = run_paper_layers(progress=lambda _: None, depths=[1, 8], pes=4, layers=TINY)
    for r, (_, inputs, outputs, w, a, _) in zip(results, TINY):
        layer, _ = random_layer(outputs, inputs, w, 4, seed=results.index(r))
        assert r["entries"] == int(layer.ptr[:, -1].sum())
        for d in (1, 8):
            assert r["model"][d]["working_cycles"] == r["fifo"][d]["working_cycles"]
        assert r["fifo"][8]["load_balance_efficiency"] <= r["bound"] + 1e-12
    work = column_work(layer, np.ones(inputs))
    assert int(work.sum()) == int(layer.entries().sum())
    text = _markdown(results, 1.0)
    assert "| tiny | 40 x 70 |" in text and "| dense activations | 90 x 30 |" in text
    _plot(results, tmp_path / "p.png")
    assert (tmp_path / "p.png").stat().st_size > 0


def test_paper_model_is_a_valid_model_of_the_paper_layer(tmp_path):
    # The model the RTL bench runs is the layer the cycle model runs (same
    # draw), and a model file that loads and validates.
    from sw.benchmarks.paper_layers import PAPER_LAYERS, paper_inputs, paper_model
    from sw.formats.model import load, save
    from sw.golden.eie import infer
    i = [layer[0] for layer in PAPER_LAYERS].index("NT-LSTM")
    model = paper_model("NT-LSTM", 8)
    drawn, _ = random_layer(2400, 1201, 0.10, 8, seed=i)
    assert np.array_equal(model.layers[0].eie.ptr, drawn.ptr)
    save(model, tmp_path / "m.npz")
    loaded = load(tmp_path / "m.npz")
    assert np.array_equal(loaded.layers[0].eie.ptr, drawn.ptr)
    x = paper_inputs("NT-LSTM", 2)
    assert x.shape == (2, 1201) and np.all(x > 0)  # the paper's 100% dense activations
    assert infer(loaded, x[:1]).shape == (1, 2400)
    half = paper_inputs("Alex-8", 2)  # 37.5% of 4096 non-zero
    assert np.count_nonzero(half[0]) == round(0.375 * 4096)
