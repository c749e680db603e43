"""Every verb against a matrix of bad paths, bad files and bad numbers (docs/reliability.md).

Each case must be refused before any work: one line on stderr, a non-zero
exit status, no traceback (any exception but ``SystemExit`` escaping
``main`` fails the test) and no file created, changed or left behind.

The work itself (Verilator, Yosys and nextpnr, training, the programmer)
is a tripwire here, ``WorkStarted``: a case that reaches it was refused
too late. Nothing is simulated or synthesized, so the matrix runs in
seconds. ``test_good_command_lines_reach_the_work`` shows every verb's good
command line reaches the tripwire, so each refusal in the matrix is the bad
input's doing.
"""

import json
import os
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

from sw.cli import main
from sw.formats import model as model_file
from sw.formats.synthetic import random_inputs, random_model


class WorkStarted(Exception):
    """A bad input reached the work it should have been refused before."""


#: Where the work starts: ``(module, name)`` replaced by the tripwire.
WORK = [("sw.flows.toolchain", "simulate"), ("sw.flows.toolchain", "synth_report"),
        ("sw.flows.toolchain", "to_verilog"), ("sw.flows.stream", "simulate"),
        ("sw.flows.stream", "synth_report"), ("sw.flows.stream", "to_verilog"),
        ("sw.flows.eie", "simulate"), ("sw.flows.eie", "to_verilog"),
        ("sw.host.simulated", "simulated_board"), ("boards.flow", "build"),
        ("subprocess", "run"), ("sw.golden.network", "infer"),
        ("sw.compress.pipeline", "compress_preset"), ("sw.compress.pipeline", "compress_weights"),
        ("sw.compress.imported", "_accuracy"),  # compress --onnx, once its inputs are checked
        ("sw.compress.experiments", "run"),
        ("sw.benchmarks.report", "bench_mac"), ("sw.benchmarks.report", "bench_eie"),
        ("sw.benchmarks.experiments", "bench_experiments"),
        ("sw.cli.explore", "_client")]  # explore: its workers start there


@pytest.fixture
def tripwire(monkeypatch):
    import importlib

    def work(*args, **kwargs):
        raise WorkStarted
    # Every module first: one imported after a patch would keep the tripwire
    # it imported by name, and be restored to it.
    modules = [importlib.import_module(module) for module, _ in WORK]
    for module, (_, name) in zip(modules, WORK):
        monkeypatch.setattr(module, name, work)


def _world(t):
    """The good files every command line names, in the folder ``t``."""
    rng = np.random.default_rng(0)
    files = {}

    def npy(name, array):
        np.save(t / name, array)
        files[name.split(".")[0]] = str(t / name)
    model = random_model(0, [12, 8, 4], 2)
    model_file.save(model, t / "m.npz")
    files["model"] = str(t / "m.npz")
    npy("x.npy", random_inputs(0, 3, 12))
    npy("cal.npy", random_inputs(1, 5, 24))
    npy("mw.npy", rng.integers(-128, 128, (6, 10)))
    npy("mx.npy", rng.integers(-128, 128, (3, 10)))
    npy("bw.npy", rng.integers(0, 2, (6, 70)))
    npy("bx.npy", rng.integers(0, 2, (3, 70)))
    npy("tw.npy", rng.integers(-1, 2, (6, 20)))
    npy("tx.npy", rng.integers(-128, 128, (3, 20)))
    npy("cx.npy", rng.integers(-128, 128, (3, 9, 8)))
    npy("cw.npy", rng.integers(-128, 128, (2, 3, 3, 3)))
    np.savez(t / "fw.npz", W0=rng.normal(0, 0.1, (16, 24)), b0=np.zeros(16),
             W1=rng.normal(0, 0.1, (4, 16)), b1=np.zeros(4))
    files["fw"] = str(t / "fw.npz")
    import onnx
    from sw.formats.onnx_export import export_onnx
    onnx.save(export_onnx([{"kind": "dense", "W": rng.normal(0, 0.3, (4, 6)), "b": np.zeros(4)}],
                          (6,)), t / "net.onnx")
    files["onnx"] = str(t / "net.onnx")
    npy("od.npy", rng.normal(0, 1, (20, 6)))
    npy("ol.npy", rng.integers(0, 4, 20))
    build = t / "build"
    build.mkdir()
    (build / "eiegen.bin").write_bytes(b"\xff\x00bitstream")
    (build / "build.json").write_text(json.dumps({"board": "icebreaker", "timing_met": True,
                                                  "fmax_mhz": 30.1, "clock_mhz": 24.0}))
    files["build"] = str(build)
    (t / "space.toml").write_text(GOOD_SPACE)
    files["space"] = str(t / "space.toml")
    (t / "afile").write_text("a regular file\n")
    (t / "adir").mkdir()
    files.update(out=str(t / "y.npy"), outdir=str(t / "gen"), report=str(t / "r.json"),
                 adir=str(t / "adir"))
    return files


# Each verb: its good command line ({name}: a file of _world), what --out is
# ("file", "folder" or None), whether it takes --report, the slots of its
# input files and their kind, and bad numbers: (option, value) pairs.
SIM = [("--seed", "-1"), ("--in-stall", "1.5"), ("--out-stall", "-0.1"), ("--in-stall", "nan")]
ARRAY = [("--lanes", "0"), ("--width", "-1")]
EIE = [("--pes", "0"), ("--queue-depth", "0"), ("--pes", "-3"), ("--nnz-depth", "0")]
SEEDS = [("--seeds", "0"), ("--seeds", "4-1"), ("--seeds", "1,x"), ("--seeds", "1-3,2")]
VERBS = {
    "generate mac": (["generate", "mac", "--out", "{outdir}"], "folder", False, {}, ARRAY),
    "generate xnor": (["generate", "xnor", "--out", "{outdir}"], "folder", False, {}, ARRAY),
    "generate ternary": (["generate", "ternary", "--out", "{outdir}"], "folder", False, {},
                         ARRAY),
    "generate winograd": (["generate", "winograd", "--out", "{outdir}"], "folder", False, {},
                          [("--m", "0"), ("--r", "-1")]),
    "generate eie": (["generate", "eie", "--model", "{model}", "--out", "{outdir}"], "folder",
                     False, {"model": "model"}, EIE),
    "generate dense": (["generate", "dense", "--model", "{model}", "--out", "{outdir}"],
                       "folder", False, {"model": "model"}, ARRAY),
    "sim mac": (["sim", "mac", "--weights", "{mw}", "--inputs", "{mx}", "--out", "{out}"],
                "file", True, {"mw": "npy", "mx": "batch"}, SIM + ARRAY),
    "sim xnor": (["sim", "xnor", "--weights", "{bw}", "--inputs", "{bx}", "--out", "{out}"],
                 "file", True, {"bw": "npy", "bx": "batch"}, SIM + ARRAY),
    "sim ternary": (["sim", "ternary", "--raw", "--weights", "{tw}", "--inputs", "{tx}",
                     "--out", "{out}"], "file", True, {"tw": "npy", "tx": "batch"},
                    SIM + ARRAY),
    "sim winograd": (["sim", "winograd", "--max-channels", "4", "--inputs", "{cx}",
                      "--weights", "{cw}", "--out", "{out}"], "file", True,
                     {"cx": "batch", "cw": "npy"}, SIM + [("--m", "0")]),
    "sim eie": (["sim", "eie", "--model", "{model}", "--inputs", "{x}", "--out", "{out}"],
                "file", True, {"model": "model", "x": "batch"}, SIM + EIE),
    "sim dense": (["sim", "dense", "--model", "{model}", "--inputs", "{x}", "--out", "{out}"],
                  "file", True, {"model": "model", "x": "batch"}, SIM + ARRAY),
    "sim network": (["sim", "network", "--model", "{model}", "--inputs", "{x}", "--out",
                     "{out}"], "file", True, {"model": "model", "x": "batch"},
                    SIM + [("--winograd-m", "0")]),
    "synth mac": (["synth", "mac", "--target", "ice40-up5k"], None, True, {}, ARRAY + SEEDS),
    "synth winograd": (["synth", "winograd", "--target", "ice40-up5k"], None, True, {},
                       [("--m", "0")] + SEEDS),
    "synth eie": (["synth", "eie", "--model", "{model}", "--target", "ice40-up5k"], None, True,
                  {"model": "model"}, EIE + SEEDS),
    "synth dense": (["synth", "dense", "--model", "{model}", "--target", "ice40-up5k"], None,
                    True, {"model": "model"}, ARRAY + SEEDS),
    "compress": (["compress", "--weights", "{fw}", "--calibration", "{cal}", "--out", "{out}"],
                 "file", True, {"fw": "weights", "cal": "data"},
                 [("--quality", "-1,1"), ("--quality", "nan,1"), ("--quality", "1"),
                  ("--pes", "0"), ("--index-bits", "9"), ("--seed", "-1")]),
    "compress --onnx": (["compress", "--onnx", "{onnx}", "--data", "{od}", "--labels", "{ol}",
                         "--out", "{out}"], "file", True,
                        {"onnx": "onnx", "od": "data", "ol": "labels"},
                        [("--lr", "0"), ("--lr", "-0.1"), ("--retrain-epochs", "-1"),
                         ("--conv-index-bits", "0"), ("--quality", "-2")]),
    "inspect": (["inspect", "{model}"], None, False, {"model": "model"}, []),
    "golden": (["golden", "{model}", "--inputs", "{x}", "--out", "{out}"], "file", True,
               {"model": "model", "x": "batch"}, [("--queue-depth", "0"),
                                                  ("--queue-depth", "-2")]),
    "bench": (["bench", "mac", "--out", "{adir}"], "existing folder", False, {}, []),
    "build": (["build", "--board", "icebreaker", "--model", "{model}", "--out", "{outdir}"],
              "folder", True, {"model": "model"},
              [("--clock", "0"), ("--clock", "-5"), ("--clock", "inf"), ("--baud", "0"),
               ("--baud", "-1"), ("--pes", "0")]),
    "flash": (["flash", "--board", "icebreaker", "{build}"], None, False, {"build": "build"},
              []),
    "infer": (["infer", "--sim", "--model", "{model}", "--inputs", "{x}", "--out", "{out}"],
              "file", True, {"model": "model", "x": "batch"},
              [("--timeout", "0"), ("--baud", "0"), ("--pes", "0"), ("--baud", "-9600")]),
    "experiment dsd": (["experiment", "dsd", "--model", "digits-mlp"], None, True, {},
                       [("--seed", "-1"), ("--dense-lr-scale", "0"), ("--sparsity", "1"),
                        ("--epochs", "0"), ("--phase-epochs", "1,0,1")]),
    "experiment bench": (["experiment", "bench", "--out", "{adir}"], "existing folder", False,
                         {}, []),
    "soak": (["soak", "--core", "mac", "--space", "ci", "--seed", "1"], None, True, {},
             [("--minutes", "0"), ("--minutes", "-1"), ("--minutes", "nan"), ("--configs", "0"),
              ("--cases", "0"), ("--seed", "-1"), ("--core", "nope"), ("--space", "narrow"),
              ("--replay", "mac:ci:1"), ("--replay", "nope:ci:1:2"), ("--replay", "mac:ci:x:2"),
              ("--replay", "mac:other:1:2"), ("--replay", "mac:ci:1:2")]),
    "explore": (["explore", "--model", "digits-mlp", "--space", "{space}", "--out", "{outdir}"],
                "folder", False, {"space": "space"},
                [("--workers", "0"), ("--samples", "0"), ("--samples", "5"), ("--seed", "-1")]),
    "explore --weights": (["explore", "--weights", "{fw}", "--calibration", "{cal}", "--space",
                           "{space}", "--out", "{outdir}"], "folder", False,
                          {"fw": "weights", "cal": "data", "space": "space"}, []),
    "demo": (["demo", "--out", "{outdir}"], "folder", False, {},
             [("--digits", "-1"), ("--digits", "0"), ("--digits", "1001")]),
}


def _damaged_zip(good, t, name):
    """``good`` with one byte flipped inside its largest member's compressed data."""
    data = bytearray(Path(good).read_bytes())
    with zipfile.ZipFile(good) as z:
        info = max(z.infolist(), key=lambda i: i.compress_size)
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0x10
    (t / name).write_bytes(bytes(data))
    return str(t / name)


def _model_with(t, name, edit):
    arrays = dict(np.load(t / "m.npz"))
    meta = json.loads(str(arrays["meta"]))
    edit(arrays, meta)
    arrays["meta"] = np.array(json.dumps(meta))
    np.savez(t / name, **arrays)
    return str(t / name)


def _write(t, name, data):
    (t / name).write_bytes(data)
    return str(t / name)


def _npy(t, name, array):
    np.save(t / name, array)
    return str(t / name)


#: Bad files by slot kind: name -> make(folder, good file) -> the bad file's path.
COMMON_FILES = {
    "missing": lambda t, good: str(t / "nope.npy"),
    "a folder": lambda t, good: str(t / "adir"),
    "text": lambda t, good: _write(t, "text.npy", b"hello, not numbers\n"),
    "empty": lambda t, good: _write(t, "empty.npy", b""),
}
FILES = {
    "npy": {**COMMON_FILES,
            "pickled": lambda t, good: _npy(t, "obj.npy", np.array([[{}]], dtype=object)),
            "npz": lambda t, good: str(t / "fw.npz"),
            "truncated": lambda t, good: _write(t, "cut.npy", Path(good).read_bytes()[:-7]),
            "float": lambda t, good: _npy(t, "f.npy", np.load(good) + 0.5),
            "1-D": lambda t, good: _npy(t, "flat.npy", np.load(good).ravel())},
    "model": {**COMMON_FILES,
              "truncated": lambda t, good: _write(t, "cut.npz", Path(good).read_bytes()[:300]),
              "damaged": lambda t, good: _damaged_zip(good, t, "flip.npz"),
              "an .npy": lambda t, good: str(t / "x.npy"),
              "meta type": lambda t, good: _model_with(t, "mt.npz",
                                                       lambda a, m: m.update(pes="2")),
              "layer type": lambda t, good: _model_with(
                  t, "lt.npz", lambda a, m: m["layers"][0].update(rows=8.0)),
              "float codebook": lambda t, good: _model_with(
                  t, "fc.npz", lambda a, m: a.update({"l0.codebook": a["l0.codebook"] + 0.5})),
              "pickled": lambda t, good: _save_npz(t, "obj.npz",
                                                   meta=np.array([{}], dtype=object))},
    "weights": {**COMMON_FILES,
                "truncated": lambda t, good: _write(t, "cut.npz", Path(good).read_bytes()[:200]),
                "damaged": lambda t, good: _damaged_zip(good, t, "flip.npz"),
                "an .npy": lambda t, good: str(t / "x.npy"),
                "all zero": lambda t, good: _save_npz(t, "zero.npz", W0=np.zeros((4, 6)),
                                                      b0=np.zeros(4)),
                "no layers": lambda t, good: _save_npz(t, "none.npz", x=np.ones(3))},
    "onnx": {**COMMON_FILES,
             "truncated": lambda t, good: _write(t, "cut.onnx", Path(good).read_bytes()[:40]),
             "a model file": lambda t, good: str(t / "m.npz")},
    "build": {"missing": lambda t, good: str(t / "nobuild"),
              "a file": lambda t, good: str(t / "afile"),
              "timing failed": lambda t, good: _build(t, "slow", timing_met=False),
              "other board": lambda t, good: _build(t, "ulx", board="ulx3s-85f"),
              "damaged report": lambda t, good: _build(t, "bad", text="{not json")},
}
#: The space of the explore command lines: 4 points, a network of any depth.
GOOD_SPACE = "[compression]\nquality = [1.0, 0.5]\n[hardware]\npes = [1, 2]\n"
FILES["space"] = {
    **COMMON_FILES,
    "not TOML": lambda t, good: _write(t, "bad.toml", b"[compression\nquality = 1\n"),
    "unknown key": lambda t, good: _write(t, "key.toml", b"[hardware]\npez = [1]\n"),
    "unknown section": lambda t, good: _write(t, "sec.toml", b"[hw]\npes = [1]\n"),
    "empty axis": lambda t, good: _write(t, "axis.toml", b"[compression]\nindex_bits = []\n"),
    "impossible PEs": lambda t, good: _write(t, "pes.toml", b"[hardware]\npes = [1, 0]\n"),
    "impossible index bits": lambda t, good: _write(t, "ib.toml",
                                                    b"[compression]\nindex_bits = [9]\n"),
    "impossible density": lambda t, good: _write(t, "den.toml",
                                                 b"[compression]\ndensity = [1.5]\n"),
    "density of 4 layers": lambda t, good: _write(t, "den4.toml",
                                                  b"[compression]\ndensity = [[0.1, 0.2, 0.3, 0.4]]\n"),
    "quality and density": lambda t, good: _write(
        t, "qd.toml", b"[compression]\ndensity = [0.1]\nquality = [1.0]\n"),
    "unknown target": lambda t, good: _write(t, "tgt.toml", b"[hardware]\ntarget = ['vu9p']\n"),
    "queue depth 0": lambda t, good: _write(t, "q.toml", b"[hardware]\nqueue_depth = [0]\n"),
    "entries per word 3": lambda t, good: _write(t, "epw.toml",
                                                 b"[hardware]\nentries_per_word = [3]\n"),
    "value twice": lambda t, good: _write(t, "twice.toml", b"[hardware]\npes = [2, 2]\n"),
    "rtl points -1": lambda t, good: _write(t, "rtl.toml",
                                            b"[hardware]\npes = [1]\n[measure]\nrtl_points = -1\n"),
    "no axis": lambda t, good: _write(t, "none.toml", b"[measure]\ncycle_samples = 4\n"),
}
FILES["batch"] = {**FILES["npy"],
                  "empty batch": lambda t, good: _npy(t, "e.npy",
                                                      np.load(good)[:0])}
#: Float inputs (--onnx --data): floats are what they should be.
FILES["data"] = {name: make for name, make in FILES["batch"].items() if name != "float"}
#: Labels (--labels): one a sample, 1-D already.
FILES["labels"] = {name: make for name, make in FILES["batch"].items() if name != "1-D"}


def _save_npz(t, name, **arrays):
    np.savez(t / name, **arrays)
    return str(t / name)


def _build(t, name, text=None, **fields):
    folder = t / name
    folder.mkdir()
    (folder / "eiegen.bin").write_bytes(b"\xff")
    report = {"board": "icebreaker", "timing_met": True, "fmax_mhz": 12.5, "clock_mhz": 24.0}
    (folder / "build.json").write_text(text or json.dumps(report | fields))
    return str(folder)


#: Bad output paths by what the option names: name -> make(folder) -> path.
BAD_FILE_OUTPUTS = {
    "an existing folder": lambda t: str(t / "adir"),
    "under a file": lambda t: str(t / "afile" / "y.npy"),
    "in a missing folder": lambda t: str(t / "no" / "such" / "y.npy"),
    "in a folder refusing files": lambda t: "/sys/eiegen-y.npy",
    "a device": lambda t: os.devnull,
    "empty": lambda t: "",
}
BAD_FOLDER_OUTPUTS = {
    "an existing file": lambda t: str(t / "afile"),
    "under a file": lambda t: str(t / "afile" / "sub"),
    "in a folder refusing files": lambda t: "/sys/eiegen-out",
    "empty": lambda t: "",
}
BAD_EXISTING_FOLDERS = {**BAD_FOLDER_OUTPUTS, "missing": lambda t: str(t / "no" / "docs")}
OUTPUTS = {"file": BAD_FILE_OUTPUTS, "folder": BAD_FOLDER_OUTPUTS,
           "existing folder": BAD_EXISTING_FOLDERS}


def cases():
    """``(verb, case)``: every bad input of every verb."""
    for verb, (argv, out, report, slots, numbers) in VERBS.items():
        for name in OUTPUTS.get(out, {}):
            yield verb, f"--out {name}"
        if report:
            for name in BAD_FILE_OUTPUTS:
                yield verb, f"--report {name}"
            if out == "file":
                yield verb, "--report the same file as --out"
        for slot, kind in slots.items():
            for name in FILES[kind]:
                yield verb, f"{slot} {name}"
        for option, value in numbers:
            yield verb, f"{option} {value}"


CASES = list(cases())


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """``(folder, files)``: the good files, made once; the bad ones are made
    there too, once each (``_command_line``)."""
    t = tmp_path_factory.mktemp("bad-input")
    return t, _world(t)


_made = {}


def _bad_file(t, kind, name, good):
    """The bad file ``name`` of ``kind`` in ``t`` (made the first time only)."""
    key = (str(t), kind, name, good)
    if key not in _made:
        _made[key] = FILES[kind][name](t, good)
    return _made[key]


def _command_line(verb, case, t, files):
    argv, out, report, slots, numbers = VERBS[verb]
    argv = [a.format(**files) for a in argv]
    if report and not (case or "").startswith("--report"):
        argv += ["--report", files["report"]]
    if case is None:
        return argv
    head, _, name = case.partition(" ")
    if case == "--report the same file as --out":
        argv += ["--report", argv[argv.index("--out") + 1]]
    elif head == "--out":
        argv[argv.index("--out") + 1] = OUTPUTS[out][name](t)
    elif head == "--report":
        argv += ["--report", BAD_FILE_OUTPUTS[name](t)]
    elif head in slots:
        good = files[head]
        argv[argv.index(good)] = _bad_file(t, slots[head], name, good)
    else:
        # OPTION=VALUE: argparse would take a value such as -1,1 for an option.
        argv = [a for i, a in enumerate(argv) if a != head and (i == 0 or argv[i - 1] != head)]
        argv += [f"{head}={name}"]
    return argv


def _tree(t):
    """Every path under ``t``, with each file's size and modification time."""
    return {str(p.relative_to(t)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file()
            else None for p in t.rglob("*")}


def test_the_matrix_covers_every_verb():
    from sw.cli.main import build_parser
    parser = build_parser()
    verbs = next(a for a in parser._actions if a.dest == "verb").choices
    covered = {verb.split()[0] for verb in VERBS}
    assert covered == set(verbs), set(verbs) - covered
    print(f"{len(VERBS)} command lines x their cases: {len(CASES)} cases")
    assert len(CASES) > 600


@pytest.mark.parametrize("verb", VERBS)
def test_good_command_lines_reach_the_work(verb, tripwire, world, monkeypatch):
    t, files = world
    monkeypatch.chdir(t)
    argv = _command_line(verb, None, t, files)
    if verb == "inspect":  # reading the model is all it does
        assert main(argv) == 0
        return
    with pytest.raises(WorkStarted):
        main(argv)


@pytest.mark.parametrize("verb", VERBS)
def test_bad_input_is_refused_in_one_line_before_any_work(verb, tripwire, world, monkeypatch,
                                                          capsys):
    t, files = world
    monkeypatch.chdir(t)
    problems = []
    for case in (case for v, case in CASES if v == verb):
        argv = _command_line(verb, case, t, files)
        before = _tree(t)
        try:
            status = main(argv)
        except SystemExit as exit:  # usage errors, the bad options among them
            status = exit.code
        except WorkStarted:
            status = "reached the work"
        out, err = capsys.readouterr()
        if status == "reached the work":
            problems.append(f"{case}: refused too late, or not at all")
        elif status in (0, None):
            problems.append(f"{case}: accepted")
        elif len(err.strip().splitlines()) != 1 or "Traceback" in err \
                or not re.match(r"eiegen[ \w-]*: error: \S", err):
            problems.append(f"{case}: stderr {err!r}")
        if _tree(t) != before:
            problems.append(f"{case}: files left behind")
    assert not problems, f"eiegen {verb}: " + "; ".join(problems)


def test_flash_programs_a_bitstream_that_missed_timing_only_with_force(tripwire, world, cli):
    """``eiegen build --clock`` too fast leaves a bitstream and a build.json saying
    timing_met false: flash refuses it, unless --force."""
    t, files = world
    slow = _bad_file(t, "build", "timing failed", files["build"])
    status, _, err = cli("flash", "--board", "icebreaker", slow)
    assert status == 1 and "did not meet timing" in err and "--force" in err
    with pytest.raises(WorkStarted):  # on to the programmer
        cli("flash", "--board", "icebreaker", slow, "--force")
