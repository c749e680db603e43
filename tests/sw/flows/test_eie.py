"""The EIE engine in Verilator against the golden model, and its cycle model.

Random models run on engines loaded at run time, so one Verilator build per
engine configuration serves every model and seed; LeNet-300-100 runs baked in.
"""

import numpy as np
import pytest

from hw.eie.config import EieConfig
from sw.flows import eie as eie_sim
from sw.flows.eie_image import build_image, config_for
from sw.golden.eie import infer

from sw.formats.synthetic import one_entry_per_column_model, random_inputs, random_model

# Engine sizes shared by the random tests (one build each).
ENGINES = {
    "4pe": dict(pes=4, queue_depth=4, nnz_depth=2048, ptr_depth=256, max_cols=96,
                rows_per_pe=24, bias_depth=64, max_layers=3),
    "1pe": dict(pes=1, queue_depth=2, nnz_depth=4096, ptr_depth=128, max_cols=64,
                rows_per_pe=64, bias_depth=128, max_layers=3),
    "8pe": dict(pes=8, queue_depth=8, nnz_depth=1024, ptr_depth=256, max_cols=96,
                rows_per_pe=12, bias_depth=32, max_layers=3),
    # The iCE40 organization: sparse matrix and activations single-ported
    # (SPRAM), every activation word read in turn.
    "2pe-spram": dict(pes=2, queue_depth=4, entries_per_word=2, nnz_depth=4096,
                      ptr_depth=256, max_cols=96, rows_per_pe=48, bias_depth=128,
                      max_layers=3, spram=True, sequential_scan=True),
}

CASES = {
    # name: (engine, layer sizes, density, extra model options)
    "4pe-three-layers": ("4pe", [37, 50, 23, 9], 0.3, {}),
    "4pe-long-zero-runs": ("4pe", [20, 90, 11], 0.05, {}),
    "4pe-saturating": ("4pe", [30, 17, 5], 0.5, {"saturate": True}),
    "1pe": ("1pe", [25, 40, 7], 0.3, {}),
    "8pe-fewer-rows-than-pes": ("8pe", [33, 21, 3], 0.4, {}),
    "8pe-odd-columns": ("8pe", [91, 13, 5], 0.2, {}),
    "2pe-spram": ("2pe-spram", [37, 50, 23, 9], 0.3, {}),
    "2pe-spram-long-zero-runs": ("2pe-spram", [90, 60, 11], 0.05, {}),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("seed", [1, 2])
def test_random_models_with_stalls(case, seed):
    engine, sizes, density, extra = CASES[case]
    pes = ENGINES[engine]["pes"]
    model = random_model(seed, sizes, pes, density=density, **extra)
    x = random_inputs(seed, 4, sizes[0])
    y, report = eie_sim.run(model, x, runtime_load=True, seed=seed, in_stall=0.3,
                            out_stall=0.4, **ENGINES[engine])
    assert report["mismatches"] == 0
    assert y.shape == (4, sizes[-1])
    # The cycle model follows the engine register for register.
    assert [l["cycles"] for l in report["layers"]] == [l["model_cycles"] for l in report["layers"]]


@pytest.mark.parametrize("queue_depth", [1, 2, 8])
def test_one_column_a_cycle_at_every_queue_depth(queue_depth):
    # Every PE has one entry in every column and every input is non-zero:
    # the broadcasts must keep up with the PEs whatever the depth (the
    # cycle model's unit test counts the cycles that makes), and the RTL
    # must take the cycle model's cycles.
    model = one_entry_per_column_model(1, 8, 96)
    x = np.random.default_rng(1).integers(1, 256, (2, 96))
    _, acts = infer(model, x, trace=True)
    assert np.count_nonzero(acts[0]) == acts[0].size
    _, report = eie_sim.run(model, x, queue_depth=queue_depth)
    assert report["mismatches"] == 0
    assert report["layers"][0]["cycles"] == report["layers"][0]["model_cycles"]
    assert report["layers"][0]["load_balance_efficiency"] == 1.0


def test_saturating_case_does_saturate():
    # The saturation case is only a test if outputs really clip.
    model = random_model(1, [30, 17, 5], 4, density=0.5, saturate=True)
    y = infer(model, random_inputs(1, 4, 30))
    assert (np.abs(y) == (1 << 15) - 1).any() or (y == -(1 << 15)).any()


def test_padding_entries_are_exercised():
    model = random_model(1, [20, 90, 11], 4, density=0.05)
    assert any((v == 0).any() for v in model.layers[0].eie.v)


@pytest.fixture(scope="module")
def lenet():
    from sw.compress.pipeline import compress_preset
    model, report, _ = compress_preset("lenet-300-100")
    return model, report


def test_lenet_200_digits_bit_exact(lenet):
    from sw.train.datasets import load
    model, _ = lenet
    data = load("mnist")
    x, labels = data.x_test[:200], data.y_test[:200]
    y, report = eie_sim.run(model, x)
    assert report["mismatches"] == 0
    golden = infer(model, x)
    assert np.mean(y.argmax(axis=1) == labels) == np.mean(golden.argmax(axis=1) == labels)
    assert report["cycles"] == report["model_cycles"]


def test_image_rejects_what_does_not_fit():
    model = random_model(3, [37, 50, 9], 4)
    with pytest.raises(ValueError, match="interleaved over 4 PEs but the engine has 8: "
                                         "recompress with --pes 8"):
        build_image(model, EieConfig(pes=8))
    with pytest.raises(ValueError, match="entries on a PE, over the engine's 16: raise "
                                         "--nnz-depth"):
        build_image(model, config_for(model, nnz_depth=16))
    with pytest.raises(ValueError, match="rows on a PE, over the engine's 2: raise --rows-per-pe"):
        build_image(model, config_for(model, rows_per_pe=2))
    with pytest.raises(ValueError, match="3 layers|2 layers, over the engine's 1: raise "
                                         "--max-layers"):
        build_image(model, config_for(model, max_layers=1))
    with pytest.raises(ValueError, match="activation vector, over the engine's 20: raise "
                                         "--max-cols"):
        build_image(model, config_for(model, max_cols=20))


def test_a_model_no_nnz_depth_can_hold_asks_for_more_pes():
    # PE 2 holds 2**20 + 3 entries of layer 0 and 2 of layer 1: 1048581 in
    # all, over the cap whatever --nnz-depth says; 1048581 x 4 PEs spread
    # under the cap needs 5 PEs at least.
    model = random_model(3, [37, 50, 9], 4)
    model.layers[0].eie.v[2] = np.zeros((1 << 20) + 3, dtype=np.int64)
    model.layers[1].eie.v[2] = np.zeros(2, dtype=np.int64)
    with pytest.raises(ValueError) as error:
        config_for(model)
    assert str(error.value) == (
        "the model puts 1048581 entries on a PE, over the 1048576 a PE can hold: recompress "
        "it over more PEs than 4 (--pes, about 5 or more)")


@pytest.mark.parametrize("per_word", [1, 2, 8, 16])
def test_engine_fits_the_model_in_whole_words_of_its_own_width(per_word):
    # Sized in words of the engine's entries per word, an override's too
    # (not always in words of 8), and not one word more than needed.
    model = random_model(3, [37, 50, 9], 4)
    most = max(sum(len(layer.eie.v[pe]) for layer in model.layers) for pe in range(4))
    config = config_for(model, entries_per_word=per_word)
    assert config.entries_per_word == per_word
    assert config.nnz_depth % per_word == 0 and most <= config.nnz_depth < most + per_word
    build_image(model, config)


@pytest.mark.parametrize("option,value,message", [
    ("pes", 0, "PE count must be an integer from 1 to 64"),
    ("pes", 65, "PE count must be an integer from 1 to 64"),
    ("queue_depth", 0, "queue depth must be an integer from 1 to 64"),
    ("entries_per_word", 3, "entries per word must be a power of two"),
    ("spram", 1, "spram must be True or False"),
    # 8 PEs x 4 SPRAMs (64-bit words), and 8 for 128-bit activation words.
    ("spram", True, "need 40 SPRAMs, over the UP5K's 4: lower --pes"),
])
def test_engine_parameters_are_validated(option, value, message):
    with pytest.raises(ValueError, match=message):
        EieConfig(**{option: value}).validate()


def test_spram_engine_cannot_bake_a_model():
    from hw.eie import EieEngine
    model = random_model(3, [37, 50, 9], 2)
    config = config_for(model, spram=True, entries_per_word=2)
    with pytest.raises(ValueError, match="SPRAM has no initial contents"):
        EieEngine(config, build_image(model, config))


def test_checker_catches_a_wrong_answer(monkeypatch):
    # The comparison must be able to fail: against a golden model that is off
    # by one, every output is a mismatch (the cycle model still gets the true
    # activations, so only the comparison changes).
    real = eie_sim.infer

    def off_by_one(*args, **kwargs):
        y, acts = real(*args, **kwargs)
        return y + 1, acts

    monkeypatch.setattr(eie_sim, "infer", off_by_one)
    engine, sizes, density, extra = CASES["1pe"]
    model = random_model(1, sizes, ENGINES[engine]["pes"], density=density, **extra)
    y, report = eie_sim.run(model, random_inputs(1, 2, sizes[0]), runtime_load=True,
                            **ENGINES[engine])
    assert report["mismatches"] == report["outputs"] == 2 * sizes[-1]
