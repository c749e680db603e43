"""The sweep's cache on disk: each step's result under the content hash of its inputs.

A step's key hashes its kind, its settings and the keys of the steps it
takes results from (``key``), so a result is found again whenever the same
inputs come back: a sweep interrupted, run again or extended redoes only
what it had not finished. Results are dicts of JSON values and numpy arrays,
written whole (``sw.files``): one ``KEY.npz`` each, arrays as members and
the rest as JSON, never a pickle.

The cache lives with the client (the ``eiegen explore`` process), not the
workers, so a cluster needs no shared folder: workers get their inputs and
return their results through Dask.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from sw import files

__all__ = ["key", "Cache"]


def _canonical(value):
    """JSON-ready ``value`` for hashing: arrays by their dtype, shape and bytes."""
    if isinstance(value, np.ndarray):
        return {"__array__": [str(value.dtype), list(value.shape),
                              hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest()]}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in sorted(value.items())}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def key(kind, settings, *inputs):
    """``KIND-HASH``: the content hash of ``settings`` and the input keys."""
    text = json.dumps([kind, _canonical(settings), list(inputs)], sort_keys=True)
    return f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:20]}"


def _split(value, arrays):
    """``value`` with every array replaced by a reference into ``arrays``."""
    if isinstance(value, np.ndarray):
        name = f"a{len(arrays)}"
        arrays[name] = value
        return {"__array__": name}
    if isinstance(value, dict):
        return {k: _split(v, arrays) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_split(v, arrays) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _join(value, arrays):
    if isinstance(value, dict):
        if set(value) == {"__array__"}:
            return arrays[value["__array__"]]
        return {k: _join(v, arrays) for k, v in value.items()}
    if isinstance(value, list):
        return [_join(v, arrays) for v in value]
    return value


class Cache:
    """Results by key in ``folder`` (made when the first result is stored)."""

    def __init__(self, folder):
        self.folder = Path(folder)

    def _path(self, key):
        return self.folder / f"{key}.npz"

    def __contains__(self, key):
        return self._path(key).is_file()

    def get(self, key):
        with np.load(self._path(key), allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files if name != "meta"}
            meta = json.loads(str(archive["meta"]))
        return _join(meta, arrays)

    def put(self, key, value):
        arrays = {}
        meta = _split(value, arrays)
        self.folder.mkdir(parents=True, exist_ok=True)
        files.save_arrays(self._path(key), meta=np.array(json.dumps(meta)), **arrays)
