"""Deep Compression's pieces: Huffman coding, EIE format, model file, golden model."""

import json

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from sw.compress import pipeline as compress
from sw.compress.share import kmeans, share_layer
from sw.formats import model as model_file
from sw.formats.csc import EieLayer, decode_layer, encode_column, encode_layer
from sw.formats.huffman import code_lengths, decode, encode, encoded_bits
from sw.golden.cycles import layer_cycles
from sw.golden.dense import dense_layer
from sw.golden.eie import infer, input_activations


# ---------------------------------------------------------------- Huffman

@given(st.lists(st.integers(0, 15), max_size=400))
def test_huffman_round_trip(symbols):
    data, lengths = encode(symbols)
    assert decode(data, lengths, len(symbols)) == symbols
    assert len(data) == -(-encoded_bits(symbols) // 8)


def test_huffman_is_optimal_on_a_textbook_case():
    # Frequencies 1, 1, 2, 4: code lengths 3, 3, 2, 1.
    lengths = code_lengths([0] + [1] + [2] * 2 + [3] * 4)
    assert lengths == {0: 3, 1: 3, 2: 2, 3: 1}


def test_huffman_truncated_stream_is_an_error():
    data, lengths = encode([0, 1, 2, 3] * 10)
    with pytest.raises(ValueError, match="truncated Huffman stream"):
        decode(data[:2], lengths, 40)


# ---------------------------------------------------------------- EIE format

def test_paper_example_column():
    column = [0, 0, 1, 2] + [0] * 18 + [3]
    assert encode_column(column, 4) == ([1, 2, 0, 3], [2, 0, 15, 2])


def test_no_padding_after_the_last_nonzero():
    assert encode_column([5] + [0] * 40, 4) == ([5], [0])
    assert encode_column([0] * 40, 4) == ([], [])


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 20), st.integers(1, 12), st.integers(1, 9), st.integers(1, 5),
       st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_encode_decode_round_trip(rows, cols, pes, z_bits, density, seed):
    rng = np.random.default_rng(seed)
    indices = rng.integers(1, 16, (rows, cols)) * (rng.random((rows, cols)) < density)
    layer = encode_layer(indices, pes, z_bits)
    assert np.array_equal(decode_layer(layer), indices)
    assert layer.ptr.shape == (pes, cols + 1)
    assert all(z.max(initial=0) < 1 << z_bits for z in layer.z)


def test_rows_are_interleaved_over_pes():
    indices = np.zeros((5, 1), dtype=int)
    indices[3, 0] = 7  # row 3 -> PE 3 mod 2 = 1, local row 1
    layer = encode_layer(indices, 2, 4)
    assert layer.v[0].tolist() == [] and layer.v[1].tolist() == [7]
    assert layer.z[1].tolist() == [1]


# ---------------------------------------------------------------- weight sharing

@pytest.mark.parametrize("init", ["linear", "density", "random"])
def test_kmeans_finds_obvious_clusters(init):
    w = np.concatenate([np.full(50, -1.0), np.full(50, 0.5), np.full(50, 2.0)])
    centroids, labels = kmeans(w, 3, init, seed=1)
    assert sorted(np.round(centroids, 6)) == [-1.0, 0.5, 2.0]
    assert len(set(labels[:50])) == len(set(labels[50:100])) == 1


def test_shared_layer_reserves_index_zero():
    w = np.array([[0.0, 1.0], [-2.0, 0.0]])
    idx, cb = share_layer(w, w != 0, 2)
    assert cb[0] == 0 and len(cb) == 4
    assert idx[0, 0] == idx[1, 1] == 0 and np.allclose(cb[idx], w)


# ---------------------------------------------------------------- whole pipeline

@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    model, report, _ = compress.compress_preset("digits-mlp", pes=4)
    path = tmp_path_factory.mktemp("model") / "digits.npz"
    model_file.save(model, path)
    return path, report


def test_compress_report_and_golden_accuracy(digits_model):
    path, report = digits_model
    assert set(report["accuracy"]) >= {"dense", "pruned", "shared", "fixed_point"}
    assert report["compression_ratio"] > 5
    model = model_file.load(path)
    from sw.train.datasets import load
    data = load("digits")
    golden = infer(model, data.x_test).argmax(axis=1)
    assert np.mean(golden == data.y_test) == report["accuracy"]["fixed_point"]
    assert report["accuracy"]["fixed_point"] > 0.85


def test_compression_is_deterministic(digits_model, tmp_path):
    path, _ = digits_model
    again, _, _ = compress.compress_preset("digits-mlp", pes=4)
    model_file.save(again, tmp_path / "again.npz")
    a, b = np.load(path), np.load(tmp_path / "again.npz")
    for name in a.files:
        if name != "meta":
            assert np.array_equal(a[name], b[name]), name


def test_golden_agrees_with_the_dense_layer_model(digits_model):
    # Two independent golden models must agree: the EIE one (decoding the
    # compressed file) and the dense one the MAC array is checked against.
    model = model_file.load(digits_model[0])
    from sw.train.datasets import load
    raw = load("digits").x_test[:40]
    y, acts = infer(model, raw, trace=True)
    a = input_activations(model, raw)
    for layer in model.layers:
        a = dense_layer(a, layer.weights(), layer.bias, shift=layer.shift,
                        out_bits=model.act_bits, relu=layer.relu)
    assert np.array_equal(a, y)


def test_model_file_round_trip(digits_model, tmp_path):
    model = model_file.load(digits_model[0])
    model_file.save(model, tmp_path / "copy.npz")
    again = model_file.load(tmp_path / "copy.npz")
    for l1, l2 in zip(model.layers, again.layers):
        assert np.array_equal(l1.weights(), l2.weights())
        assert (l1.shift, l1.relu) == (l2.shift, l2.relu)


def corrupt(src, dst, edit):
    arrays = dict(np.load(src))
    meta = json.loads(str(arrays["meta"]))
    edit(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(dst, **arrays)
    return dst


def _bump_ptr(a, m):
    ptr = a["l0.ptr"].copy()
    ptr[0, 2], ptr[0, 3] = ptr[0, 3], ptr[0, 2] - 1
    a["l0.ptr"] = ptr


BAD_MODELS = {
    "version": (lambda a, m: m.update(version=99), "version 99 is not supported"),
    "missing array": (lambda a, m: a.pop("l1.v"), "missing array l1.v"),
    "index outside codebook": (lambda a, m: a.update({"l0.v": np.where(a["l0.v"] > 0, 16, 0)
                                                      .astype(np.uint8)}),
                               "index 16 is outside its 16-entry codebook"),
    "pointers not monotone": (_bump_ptr, "column pointers are not monotone"),
    "shapes do not chain": (lambda a, m: m["layers"][1].update(cols=47),
                            "pointers have shape|takes 47 inputs"),
    "codebook zero": (lambda a, m: a["l0.codebook"].__setitem__(0, 5),
                      "codebook entry 0 is 5, must be 0"),
    "bias shape": (lambda a, m: a.update({"l2.bias": a["l2.bias"][:3]}),
                   r"bias has shape \(3,\), expected \(10,\)"),
    "z too wide": (lambda a, m: m.update(z_bits=1), "relative index .* does not fit 1 bits"),
    "format": (lambda a, m: m.update(format="other"), "format 'other' is not"),
}


@pytest.mark.parametrize("case", BAD_MODELS)
def test_model_file_validation(digits_model, tmp_path, case):
    edit, message = BAD_MODELS[case]
    bad = corrupt(digits_model[0], tmp_path / "bad.npz", edit)
    with pytest.raises(model_file.ModelFileError, match=message):
        model_file.load(bad)


def test_truncated_and_garbage_model_files(digits_model, tmp_path):
    data = digits_model[0].read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(model_file.ModelFileError, match="not a readable eiegen model file"):
        model_file.load(tmp_path / "cut.npz")
    (tmp_path / "junk.npz").write_bytes(b"hello")
    with pytest.raises(model_file.ModelFileError, match="not a readable eiegen model file"):
        model_file.load(tmp_path / "junk.npz")


def test_user_weights_are_checked():
    with pytest.raises(ValueError, match="W1 takes 5 inputs but W0 gives 4"):
        compress.check_float_layers([{"W": np.ones((4, 3)), "b": np.ones(4)},
                                     {"W": np.ones((2, 5)), "b": np.ones(2)}])
    with pytest.raises(ValueError, match="W0 holds NaN"):
        compress.check_float_layers([{"W": np.full((2, 2), np.nan), "b": np.ones(2)}])
    with pytest.raises(ValueError, match="index width must be an integer from 1 to 8"):
        compress.check_format(pes=8, index_bits=0, z_bits=4, act_bits=16, codebook_bits=16,
                              bias_bits=32)


def test_compress_user_weights_without_data():
    rng = np.random.default_rng(0)
    layers = [{"W": rng.normal(0, 0.1, (20, 30)), "b": rng.normal(0, 0.1, 20)},
              {"W": rng.normal(0, 0.1, (5, 20)), "b": np.zeros(5)}]
    model, report = compress.compress_weights(layers, qualities=[1.0, 0.5], pes=4)
    assert report["accuracy"]["fixed_point"] is None
    assert model.sizes == [30, 20, 5]
    # Every kept weight decodes to its layer's codebook.
    assert np.count_nonzero(model.layers[0].indices()) == np.count_nonzero(
        np.abs(layers[0]["W"]) >= 0.1 * layers[0]["W"].std() * 10)


def test_eie_bytes_count_the_engines_pointer_width():
    # 3 x 4 indices on 1 PE: columns [1, 0, 4], [0, 3, 0], [0, 0, 5], [2, 0, 0]
    # hold 2 + 1 + 1 + 1 = 5 entries, one word of 8: the engine's 8 entries
    # take 4-bit pointers (addresses 0..8). EIE bytes: 5 entries x 8 bits = 5,
    # 5 pointers x 4 bits = 2.5, the 16-entry 16-bit codebook 32, 3 biases 12.
    idx = np.array([[1, 0, 0, 2], [0, 3, 0, 0], [4, 0, 5, 0]])
    rows, _ = compress.size_table([{}], [idx], 4, 4, [encode_layer(idx, 1, 4)], 1)
    assert rows[0]["eie_bytes"] == 5 + 2.5 + 32 + 12
    # 100 x 700 all non-zero on 1 PE: 70000 entries, 17-bit pointers; 701 of
    # them are 1489.625 bytes.
    idx = np.ones((100, 700), dtype=np.int64)
    rows, _ = compress.size_table([{}], [idx], 4, 4, [encode_layer(idx, 1, 4)], 1)
    assert rows[0]["eie_bytes"] == 70000 + 1489.625 + 32 + 400


# ---------------------------------------------------------------- cycle model

def test_a_bubble_is_every_idle_pe_cycle_of_the_window():
    """The words say what the code counts: starvation = PEs x window - working,
    so a PE waiting when no other PE has work is a bubble too. One PE,
    sequential scan: between its two columns it waits for the fetcher with
    no other PE working, and those cycles are bubbles."""
    from pathlib import Path
    import sw.golden.cycles as cycles
    eie = EieLayer(rows=1, cols=12, pes=1, z_bits=4, v=[np.array([1, 1])],
                   z=[np.array([0, 0])], ptr=np.array([[0] + [1] * 11 + [2]]))
    a = np.zeros(12, dtype=np.int64)
    a[[0, 11]] = 3
    r = layer_cycles(eie, a, queue_depth=1, sequential_scan=True)
    assert r["working_cycles"] == 2 and r["starvation_cycles"] == r["window_cycles"] - 2 > 0
    docs = (Path(__file__).parents[3] / "docs" / "benchmarks.md").read_text()
    from sw.benchmarks import report
    for text in (cycles.__doc__, docs, Path(report.__file__).read_text()):
        assert "while another still has work" not in text
        assert "PE-cycle of the" in text

def _hand_worked_layer(pe0_values=(1, 1, 1, 1)):
    """The layer of the hand-worked examples below: PE 0's entries have the
    values ``pe0_values``."""
    return EieLayer(rows=4, cols=2, pes=2, z_bits=4,
                    v=[np.array(pe0_values), np.array([2])],
                    z=[np.array([0, 0, 0, 0]), np.array([0])],
                    ptr=np.array([[0, 3, 4], [0, 1, 1]]))


def test_cycle_model_hand_worked_example():
    # 2 PEs, 2 columns in one activation word. PE 0 has 3 entries in column 0
    # and 1 in column 1; PE 1 has 1 and 0. Both activations non-zero, depth 1.
    # t0-t2 START, FIRST, PICK.  t3 fetch the word; t4 it enters the FIFO;
    # t5 the broadcaster takes it.  t6 broadcast col 0 (in the PEs' broadcast
    # registers at t7); t7 col 1, the last (the register is a 1-deep queue's
    # skid slot): scanning ends; both PEs pop col 0 from their registers.
    # t8 both pop col 1; col 0's pointers are read, t9 registered, t10 its
    # start and length registered; E stages take col 0.  t11 PE0 issues 1/3,
    # PE1 its only entry; col 1 is in both span registers, and PE1's, with no
    # entry, is dropped at once.  t12 PE0 2/3; PE1 has nothing left (the
    # empty column cost it no cycle).  t13 PE0 3/3, and takes col 1.  t14 PE0 issues
    # col 1.  t15-t19 the last entry is in flight (sparse-matrix read, its
    # register, entry register and codebook read, multiply, accumulate: the
    # PEs raise their idle registers as it accumulates, t19); t20 every PE is
    # empty and DRAIN sees their idle registers.
    # -> 21 compute cycles, 5 working PE-cycles in a window of 4 (t11-t14);
    # write-back 2 rows + 7.
    r = layer_cycles(_hand_worked_layer(), np.array([5, 7]), queue_depth=1)
    assert r["compute_cycles"] == 21 and r["working_cycles"] == 5
    assert r["useful_macs"] == 5
    assert r["window_cycles"] == 4 and r["load_balance_efficiency"] == 5 / 8
    assert r["writeback_cycles"] == 9 and r["cycles"] == 30


def test_phases_of_the_hand_worked_example():
    # The example above with PE 0's second entry of column 0 a padding entry
    # (v = 0): the timing is the same. t0-t10 nothing issues (START, FIRST,
    # PICK, the fetch, the broadcasts, the pointer stages), t11-t14 the
    # window, t15-t20 the drain, then 2 rows + 7 of write-back.
    r = layer_cycles(_hand_worked_layer((1, 0, 1, 1)), np.array([5, 7]), queue_depth=1)
    assert (r["start_cycles"], r["window_cycles"], r["drain_cycles"],
            r["writeback_cycles"], r["cycles"]) == (11, 4, 6, 9, 30)
    # The window's 8 PE-cycles: PE 0 issues 4 entries, one of them padding,
    # PE 1 one: 4 useful MACs, 1 padding entry, 3 bubbles (PE 1 at t12-t14).
    assert (r["useful_macs"], r["padding_issues"], r["starvation_cycles"]) == (4, 1, 3)


def test_deeper_queues_never_cost_cycles(digits_model):
    model = model_file.load(digits_model[0])
    from sw.train.datasets import load
    _, acts = infer(model, load("digits").x_test[:3], trace=True)
    for layer, a in zip(model.layers, acts):
        cycles = [layer_cycles(layer, a[0], d)["compute_cycles"] for d in (1, 2, 8, 32)]
        assert cycles == sorted(cycles, reverse=True)


def test_load_balanced_pruning_keeps_equal_counts_per_pe():
    from sw.compress.prune import threshold_masks
    rng = np.random.default_rng(0)
    layers = [{"W": rng.normal(0, 1, (37, 50))}]
    mask = threshold_masks(layers, [1.0], [1.0], balance_pes=4)[0]
    counts = [int(mask[pe::4].sum()) for pe in range(4)]
    assert max(counts) - min(counts) <= 1
    assert sum(counts) == int((np.abs(layers[0]["W"]) >= 1.0).sum())
