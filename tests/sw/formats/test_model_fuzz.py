"""The model file fuzzer (docs/reliability.md, Model file fuzzing).

Valid model files (fully connected, a whole network with convolution,
pooling and flattening, and a version 1 file) are damaged at random:
truncated, bytes flipped inside the compressed members, arrays swapped,
arrays of the wrong dtype, ``meta`` fields replaced by values of other
types. Loading each must either refuse it in one line (``ModelFileError``,
no other exception) or give a model that validates: it saves and loads
back the same, and the golden model runs it on inputs of its shape.

Every case is seeded: ``(kind, seed)`` makes the same damaged file again.
``EIEGEN_FUZZ_CASES`` sets the cases a kind (default 800: 4,000 in all);
a failure names its kind and seed, and ``EIEGEN_FUZZ_SEED=S pytest
tests/sw/formats/test_model_fuzz.py -k KIND`` replays that one case.
"""

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sw.formats import model as model_file
from sw.formats.synthetic import random_model
from sw.golden.network import infer
from tests.sw.formats.test_model import as_version_1, small_network

CASES = int(os.environ.get("EIEGEN_FUZZ_CASES", 800))
ONE_SEED = os.environ.get("EIEGEN_FUZZ_SEED")
SEEDS = [int(ONE_SEED)] if ONE_SEED is not None else range(CASES)


def _version_1(model):
    """``model`` (fully connected) as a version 1 file's bytes."""
    return _pack(as_version_1(_arrays(_bytes(model))))


def _bytes(model):
    with tempfile.TemporaryDirectory() as folder:
        model_file.save(model, Path(folder) / "m.npz")
        return (Path(folder) / "m.npz").read_bytes()


@pytest.fixture
def scratch(tmp_path):
    """A folder for the damaged files: in memory where there is one (thousands of
    files are written; a slow disk would set the test's time)."""
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        with tempfile.TemporaryDirectory(dir=shm, prefix="eiegen-fuzz-") as folder:
            yield Path(folder)
    else:
        yield tmp_path


def _arrays(data):
    with np.load(io.BytesIO(data), allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


def _pack(arrays):
    f = io.BytesIO()
    np.savez_compressed(f, **arrays)
    return f.getvalue()


@pytest.fixture(scope="module")
def originals():
    """The valid files the fuzzer damages: bytes, by name."""
    dense = random_model(3, [20, 12, 6], 2)
    return {"dense": _bytes(dense), "network": _bytes(small_network()),
            "version 1": _version_1(random_model(4, [9, 5, 3], 3))}


def truncate(data, rng):
    cut = int(rng.integers(0, len(data)))
    return data[:cut], f"cut to {cut} of {len(data)} bytes"


def flip(data, rng):
    """1-3 bytes flipped inside one compressed member's data."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        infos = [i for i in z.infolist() if i.compress_size]
    info = infos[int(rng.integers(len(infos)))]
    name_length = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little")
    extra_length = int.from_bytes(data[info.header_offset + 28:info.header_offset + 30],
                                  "little")
    start = info.header_offset + 30 + name_length + extra_length
    data = bytearray(data)
    spots = rng.integers(start, start + info.compress_size, int(rng.integers(1, 4)))
    for spot in spots:
        data[spot] ^= 1 << int(rng.integers(8))
    return bytes(data), f"flipped bits at {sorted(spots.tolist())} in {info.filename}"


def swap(data, rng):
    arrays = _arrays(data)
    a, b = rng.choice(sorted(arrays), 2, replace=False)
    arrays[a], arrays[b] = arrays[b], arrays[a]
    return _pack(arrays), f"swapped {a} and {b}"


DTYPES = [np.float64, np.float32, np.bool_, np.int8, np.uint8, np.int16, np.uint16, np.int32,
          np.uint64, np.complex64, np.str_]


def retype(data, rng):
    arrays = _arrays(data)
    name = rng.choice(sorted(arrays))
    dtype = DTYPES[int(rng.integers(len(DTYPES)))]
    with np.errstate(all="ignore"):
        value = arrays[name].astype(dtype) if name != "meta" or dtype is np.str_ else \
            np.zeros(3, dtype)
    if dtype in (np.float64, np.float32) and rng.random() < 0.5:
        value = value + 0.5  # non-integral, not only of the wrong type
    arrays[name] = value
    return _pack(arrays), f"{name} as {np.dtype(dtype).name}"


ODD_VALUES = [None, "x", "8", 1.5, -1, 0, 1, 7, 63, 1 << 40, True, False, [], {}, [1, 2],
              [0, 0, 0, 0], "dense", "max"]


def _places(value, path=()):
    """Every place in a JSON value: a path of keys and indices."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, path + (key,))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _places(item, path + (i,))


def remeta(data, rng):
    """One ``meta`` field (at any depth) replaced by a value of another type or range."""
    arrays = _arrays(data)
    meta = json.loads(str(arrays["meta"]))
    places = [p for p in _places(meta) if p]
    path = places[int(rng.integers(len(places)))]
    value = ODD_VALUES[int(rng.integers(len(ODD_VALUES)))]
    target = meta
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    arrays["meta"] = np.array(json.dumps(meta))
    return _pack(arrays), f"meta{''.join(f'[{k!r}]' for k in path)} = {value!r}"


KINDS = {"truncate": truncate, "flip": flip, "swap": swap, "retype": retype, "remeta": remeta}


def _validates(model, path):
    """A model loaded from a damaged file must be one eiegen can use."""
    again_path = path.with_name("again.npz")
    model_file.save(model, again_path)
    again = model_file.load(again_path)
    assert again.shapes() == model.shapes()
    rng = np.random.default_rng(0)
    shape = (2,) + tuple(model.input_shape)
    x = rng.integers(0, 256, shape) if model.input_kind == "raw" else rng.normal(0, 1, shape)
    y = infer(model, x)
    assert y.shape == (2,) + tuple(model.shapes()[-1])
    assert np.array_equal(y, infer(again, x))


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_model_file_is_refused_in_one_line_or_validates(kind, originals, scratch):
    path = scratch / "fuzzed.npz"
    names = sorted(originals)
    outcomes = {"refused": 0, "loaded": 0}
    for seed in SEEDS:
        rng = np.random.default_rng([list(KINDS).index(kind), seed])
        name = names[int(rng.integers(len(names)))]
        data, what = KINDS[kind](originals[name], rng)
        path.write_bytes(data)
        case = f"{kind} seed {seed} ({name} file: {what}); replay: EIEGEN_FUZZ_SEED={seed} " \
               f"pytest tests/sw/formats/test_model_fuzz.py -k {kind}"
        try:
            model = model_file.load(path)
        except model_file.ModelFileError as error:
            assert "\n" not in str(error) and str(error).startswith(str(path)), case
            outcomes["refused"] += 1
            continue
        except Exception as error:  # anything else is a bug in the loader
            raise AssertionError(f"{case}: {error.__class__.__name__}: {error}") from error
        try:
            _validates(model, path)
        except Exception as error:
            raise AssertionError(f"{case}: loaded, but does not validate: "
                                 f"{error.__class__.__name__}: {error}") from error
        outcomes["loaded"] += 1
    print(f"{kind}: {len(SEEDS)} cases, {outcomes}")
    if ONE_SEED is None:
        # Most damage is caught (what loads is damage that made another valid
        # model, such as a widened dtype): a fuzzer whose files mostly load
        # is not damaging them.
        assert outcomes["refused"] > 0.75 * len(SEEDS), outcomes
