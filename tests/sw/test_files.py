"""sw.files: outputs checked before the work, written whole or not at all."""

import json

import numpy as np
import pytest

from sw import files
from sw.errors import EiegenError


def test_an_array_is_saved_to_exactly_the_path_named(tmp_path):
    # np.save would write y.npy for y, and out.npy.npy never; the user's name is the file.
    for name in ("y", "out.npy", "out.bin"):
        files.save_array(tmp_path / name, np.arange(3))
        assert np.array_equal(np.load(tmp_path / name), np.arange(3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.bin", "out.npy", "y"]


def test_a_write_that_fails_midway_leaves_the_old_file_and_no_other(tmp_path):
    path = tmp_path / "r.json"
    files.write_json(path, {"old": 1})
    with pytest.raises(TypeError):
        files.write_json(path, {"new": object()})  # not JSON: fails while writing
    assert json.loads(path.read_text()) == {"old": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
    with pytest.raises(KeyboardInterrupt):
        with files.replacing(tmp_path / "new.txt") as f:
            f.write("half")
            raise KeyboardInterrupt
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_a_written_file_has_the_permissions_of_a_new_file(tmp_path):
    import os
    umask = os.umask(0o022)
    try:
        files.write_text(tmp_path / "a.txt", "x")
        (tmp_path / "b.txt").write_text("x")
    finally:
        os.umask(umask)
    assert (tmp_path / "a.txt").stat().st_mode == (tmp_path / "b.txt").stat().st_mode


@pytest.mark.parametrize("name,message", [
    ("adir", "it is a folder; name a file in it"),
    ("afile/y.npy", "afile is a file, not a folder"),
    ("afile/deeper/y.npy", "afile is a file, not a folder"),
    ("none/y.npy", "folder .*none does not exist"),
])
def test_check_file_refuses_what_cannot_be_written(tmp_path, name, message):
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("x")
    with pytest.raises(EiegenError, match=message):
        files.check_file(tmp_path / name)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "afile"]


def test_check_file_and_folder_refuse_a_folder_refusing_new_files():
    # /sys takes no new files, even from root (chmod would not stop root).
    with pytest.raises(EiegenError, match="folder /sys does not accept new files"):
        files.check_file("/sys/y.npy")
    with pytest.raises(EiegenError, match="folder /sys does not accept new files"):
        files.check_folder("/sys/out")
    with pytest.raises(EiegenError, match="not a regular file"):
        files.check_file("/dev/null")


def test_check_folder(tmp_path):
    (tmp_path / "afile").write_text("x")
    assert files.check_folder(tmp_path / "new" / "deeper") == tmp_path / "new" / "deeper"
    assert not (tmp_path / "new").exists()  # made when written, not when checked
    with pytest.raises(EiegenError, match="it is a file, not a folder"):
        files.check_folder(tmp_path / "afile")
    with pytest.raises(EiegenError, match="afile is a file, not a folder"):
        files.check_folder(tmp_path / "afile" / "sub")
    with pytest.raises(EiegenError, match="does not exist"):
        files.check_folder(tmp_path / "new", exist=True)
    with pytest.raises(EiegenError, match="name a folder"):
        files.check_folder("")


def test_sniff(tmp_path):
    np.save(tmp_path / "a.npy", np.zeros(2))
    np.savez(tmp_path / "b.npz", a=np.zeros(2))
    (tmp_path / "c").write_bytes(b"")
    (tmp_path / "d").write_text("hello")
    assert [files.sniff(tmp_path / n) for n in ("a.npy", "b.npz", "c", "d", "e")] + \
        [files.sniff(tmp_path)] == ["npy", "zip", "empty", "other", "missing", "folder"]


def _output_actions(parser, prog="eiegen"):
    """``(command, action)`` of every option of every (sub)command of ``parser``."""
    import argparse
    parser.format_help()  # populates the lazily built core verbs
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _output_actions(sub, f"{prog} {name}")
        else:
            yield prog, action


def test_every_output_option_is_checked_as_it_is_read():
    """The class of late failures closed for good: an option naming a file or
    folder eiegen writes (``--out``, ``--report``) is refused at parse time."""
    from sw.cli.common import existing_folder, output_file, output_folder
    from sw.cli.main import build_parser
    outputs = [(prog, a) for prog, a in _output_actions(build_parser())
               if a.dest in ("out", "report")]
    assert len(outputs) > 40
    unchecked = [f"{prog} {a.option_strings[0]}" for prog, a in outputs
                 if a.type not in (output_file, output_folder, existing_folder)]
    assert not unchecked, unchecked


def test_a_figure_is_saved_whole_in_its_suffix_format(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    files.save_figure(fig, tmp_path / "p.png", dpi=50)
    files.save_figure(fig, tmp_path / "p.svg")
    plt.close(fig)
    assert (tmp_path / "p.png").read_bytes()[:4] == b"\x89PNG"
    assert b"<svg" in (tmp_path / "p.svg").read_bytes()[:400]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png", "p.svg"]
