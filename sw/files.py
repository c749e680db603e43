"""Files written whole or not at all, and outputs checked before any work.

Every file eiegen writes goes through ``replacing``: the bytes go to a
temporary name in the same folder, which is renamed over the target only
once complete (``os.replace`` is atomic within a folder), so an error, a
full disk or Ctrl-C midway leaves the old file or none, never a partial one.
Arrays are saved through a file object, so ``--out Y`` writes ``Y`` (numpy
would add ``.npy`` to a bare name).

``check_file`` and ``check_folder`` refuse an output path before anything is
computed: a folder where a file is wanted (or the reverse), a parent that is
missing or is a file, a folder that refuses a new file. They probe by creating
(and removing) a temporary file, so they are right for root and for read-only
file systems too.

Plain Python, importable everywhere (the model loader runs on Windows too).
"""

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

from sw.errors import EiegenError

__all__ = ["check_file", "check_folder", "replacing", "write_text", "write_json",
           "save_array", "save_arrays", "save_figure", "sniff"]


def sniff(path):
    """What the file at ``path`` holds by its first bytes: "npy" (one numpy
    array), "zip" (an .npz archive), "empty", "folder", "missing" or "other"."""
    path = Path(path)
    if path.is_dir():
        return "folder"
    if not path.is_file():
        return "missing"
    with open(path, "rb") as f:
        magic = f.read(6)
    if not magic:
        return "empty"
    return {b"\x93NUMPY": "npy"}.get(magic, "zip" if magic[:2] == b"PK" else "other")


def _probe(folder, path):
    """Refuse ``path`` unless a new file can be made in the existing ``folder``."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".eiegen-probe-", dir=folder)
    except OSError as error:
        raise EiegenError(f"cannot write {path}: folder {folder} does not accept new files "
                          f"({error.strerror or error.__class__.__name__})") from None
    os.close(fd)
    os.unlink(probe)


def _existing_ancestor(path):
    """The nearest ancestor of ``path`` that exists; refuse one that is a file."""
    parent = path.parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise EiegenError(f"cannot write {path}: {parent} is a file, not a folder")
    return parent


def check_file(path):
    """Refuse the output file ``path`` unless it can be written: an existing
    folder, a missing or file parent, a device, or a folder refusing new files."""
    if not str(path).strip():
        raise EiegenError("cannot write '': name a file")
    path = Path(path)
    if path.name in ("", ".", ".."):
        raise EiegenError(f"cannot write {str(path)!r}: name a file")
    if path.is_dir():
        raise EiegenError(f"cannot write {path}: it is a folder; name a file in it")
    if not path.parent.exists():
        _existing_ancestor(path)  # a file on the way says so first
        raise EiegenError(f"cannot write {path}: folder {path.parent} does not exist")
    if not path.parent.is_dir():
        raise EiegenError(f"cannot write {path}: {path.parent} is a file, not a folder")
    if path.exists() and not path.is_file():
        raise EiegenError(f"cannot write {path}: it is not a regular file")
    _probe(path.parent, path)
    return path


def check_folder(path, exist=False):
    """Refuse the output folder ``path`` unless it is one, or can be made (not
    with ``exist``), and accepts new files; made when written (parents too)."""
    if not str(path).strip():
        raise EiegenError("cannot write '': name a folder")
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EiegenError(f"cannot write {path}: it is a file, not a folder")
    if exist and not path.is_dir():
        raise EiegenError(f"folder {path} does not exist")
    _probe(path if path.is_dir() else _existing_ancestor(path), path)
    return path


@contextmanager
def replacing(path, mode="w"):
    """A file object (``mode`` "w" or "wb") whose contents become ``path`` when the
    block ends without an error; on an error ``path`` is left as it was."""
    path = Path(path)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
        # mkstemp makes the file private; give it the permissions of a new file.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except OSError:
            pass
        raise


def write_text(path, text):
    """Write ``text`` to ``path`` whole (``replacing``)."""
    with replacing(path) as f:
        f.write(text)


def write_json(path, value, indent=2, default=None):
    """Write ``value`` as JSON (and a final newline) to ``path`` whole; ``default``
    as ``json.dumps``'s."""
    write_text(path, json.dumps(value, indent=indent, default=default) + "\n")


def save_array(path, array):
    """``np.save`` to exactly ``path`` (no ``.npy`` added), whole."""
    import numpy as np
    with replacing(path, "wb") as f:
        np.save(f, array, allow_pickle=False)


def save_figure(fig, path, **options):
    """A matplotlib figure to ``path`` whole, in the format its suffix names;
    ``options`` as ``savefig``'s (``dpi``)."""
    path = Path(path)
    with replacing(path, "wb") as f:
        fig.savefig(f, format=path.suffix.lstrip(".") or "png", **options)


def save_arrays(path, compressed=True, **arrays):
    """``np.savez_compressed`` (or ``np.savez``) to exactly ``path``, whole."""
    import numpy as np
    with replacing(path, "wb") as f:
        (np.savez_compressed if compressed else np.savez)(f, **arrays)
