"""The MAC array's flow: generate, tile a layer into beats, simulate, synthesize.

The layer ``y = requantize(W x + b)`` of any shape M x N runs on an array of
``lanes`` x ``width``: rows go ``lanes`` at a time, inputs ``width`` at a
time, zero-padded at the edges (zeros add nothing to a dot product).
"""

import json
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from amaranth.hdl import Value

from .dense import dense_layer
from .numerics import check_fits
from .packing import pack, unpack
from .toolchain import simulate, synth_report, to_verilog

__all__ = ["build_core", "describe", "generate", "tile", "untile", "check_layer", "run", "synth"]

TOP = "eiegen_mac"


def build_core(params):
    """A ``MacArray`` from CLI-style parameters (``ValueError`` if invalid)."""
    from hw.mac import MacArray
    return MacArray(**params)


def describe(core):
    """JSON-ready description: parameters, ports, payload fields, latency."""
    ports = []
    for path, member, value in core.signature.flatten(core):
        ports.append({"name": "__".join(map(str, path)), "direction":
                      "in" if member.flow.name == "In" else "out",
                      "width": len(Value.cast(value))})
    fields = {name: {"offset": f.offset, "width": f.width}
              for name, f in core.i.payload.shape()}
    p = core.params
    return {
        "core": "mac", "top": TOP, "params": p,
        "ports": [{"name": "clk", "direction": "in", "width": 1},
                  {"name": "rst", "direction": "in", "width": 1}] + ports,
        "input_fields": fields,
        "output": {"lanes": p["lanes"], "width": core.out_width, "signed": True},
        "latency_cycles": core.latency,
        "multipliers": core.multipliers,
        "peak_macs_per_cycle": core.multipliers,
    }


def generate(params, out_dir):
    """Write ``mac.v`` and ``mac.json`` into ``out_dir``; return their paths."""
    core = build_core(params)
    verilog = to_verilog(core, TOP)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "mac.v").write_text(verilog)
    (out_dir / "mac.json").write_text(json.dumps(describe(core), indent=2) + "\n")
    return out_dir / "mac.v", out_dir / "mac.json"


def check_layer(core, w, x, b=None):
    """Validate a layer against the array's formats; one-line ``ValueError`` if wrong."""
    p = core.params
    for name, array, dims in (("weights", w, 2), ("inputs", x, 2), ("bias", b, 1)):
        if array is None:
            continue
        if array.ndim != dims:
            raise ValueError(f"{name} must be a {dims}-D array, not shape {array.shape}")
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integers (fixed-point mantissas), "
                             f"not {array.dtype}")
    (m, n), (batch, n_x) = w.shape, x.shape
    if n_x != n:
        raise ValueError(f"inputs have {n_x} features but weights have {n} columns: "
                         f"shapes must be W (M, N) and X (B, N)")
    if b is not None and b.shape != (m,):
        raise ValueError(f"bias has shape {b.shape}, expected ({m},) for {m} weight rows")
    if n > p["max_inputs"]:
        raise ValueError(f"the layer has {n} inputs, over the array's maximum "
                         f"{p['max_inputs']}: raise --max-inputs")
    if 0 in (m, n, batch):
        raise ValueError(f"empty layer: weights {w.shape}, inputs {x.shape}")
    check_fits("weights", w, p["weight_bits"])
    check_fits("inputs", x, p["act_bits"])
    if b is not None:
        check_fits("bias", b, p["bias_bits"])


def tile(w, x, b, lanes, width):
    """The beats that compute ``W x + b`` for every sample, in order.

    Sample-major, then groups of ``lanes`` rows, then chunks of ``width``
    inputs. Returns a list of payload dicts for ``MacArray.i``.
    """
    m, n = w.shape
    groups, chunks = -(-m // lanes), -(-n // width)
    wp = np.zeros((groups * lanes, chunks * width), dtype=np.int64)
    wp[:m, :n] = w
    xp = np.zeros((x.shape[0], chunks * width), dtype=np.int64)
    xp[:, :n] = x
    bp = np.zeros(groups * lanes, dtype=np.int64)
    if b is not None:
        bp[:m] = b
    beats = []
    for sample in xp:
        for g in range(groups):
            rows = slice(g * lanes, (g + 1) * lanes)
            for c in range(chunks):
                cols = slice(c * width, (c + 1) * width)
                beats.append({"act": sample[cols].tolist(), "weight": wp[rows, cols].tolist(),
                              "bias": bp[rows].tolist(), "first": int(c == 0),
                              "last": int(c == chunks - 1)})
    return beats


def untile(results, batch, m, lanes):
    """Output beats (lists of ``lanes`` values) back into Y of shape (B, M)."""
    groups = -(-m // lanes)
    y = np.array(results, dtype=np.int64).reshape(batch, groups * lanes)
    return y[:, :m]


def run(params, w, x, b=None, *, seed=0, in_stall=0.0, out_stall=0.0, workdir=None):
    """Run a layer through the generated Verilog in Verilator.

    Returns ``(y, report)``; ``report["mismatches"]`` counts outputs that
    differ from the golden model ``sw.dense.dense_layer``.
    """
    started = time.monotonic()
    core = build_core(params)
    w, x = np.asarray(w), np.asarray(x)
    b = None if b is None else np.asarray(b)
    check_layer(core, w, x, b)
    p = core.params
    beats = tile(w, x, b, p["lanes"], p["width"])
    batch, m = x.shape[0], w.shape[0]
    expect = batch * -(-m // p["lanes"])
    keep = workdir is not None
    workdir = Path(workdir) if keep else Path(tempfile.mkdtemp(prefix="eiegen-sim-"))
    workdir.mkdir(parents=True, exist_ok=True)
    job = {
        "inputs": [format(pack(core.i.payload.shape(), beat), "x") for beat in beats],
        "outputs": expect, "seed": seed, "in_stall": in_stall, "out_stall": out_stall,
        "result": str(workdir / "result.json"),
        "max_cycles": int(20 * (len(beats) + core.latency) / max(1e-3, (1 - in_stall) * (1 - out_stall))) + 1000,
    }
    (workdir / "job.json").write_text(json.dumps(job))
    simulate(to_verilog(core, TOP), TOP, "sw.bench.stream", workdir=workdir,
             env={"EIEGEN_JOB": str(workdir / "job.json")})
    result = json.loads((workdir / "result.json").read_text())
    shape = core.o.payload.shape()
    y = untile([unpack(shape, int(beat, 16)) for beat in result["outputs"]], batch, m, p["lanes"])
    golden = dense_layer(x, w, b, requant=p["requant"], shift=p["shift"],
                         out_bits=p["out_bits"], relu=p["relu"])
    macs = batch * w.shape[0] * w.shape[1]
    report = {
        "core": "mac", "params": p, "batch": batch, "rows": m, "inputs": w.shape[1],
        "beats": len(beats), "cycles": result["cycles"], "latency_cycles": core.latency,
        "mismatches": int(np.count_nonzero(y != golden)), "outputs": int(y.size),
        "macs": macs, "macs_per_cycle": round(macs / result["cycles"], 3),
        "peak_macs_per_cycle": core.multipliers,
        "seed": seed, "in_stall": in_stall, "out_stall": out_stall,
        "wall_s": round(time.monotonic() - started, 2),
    }
    if not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return y, report


def synth(params, target, workdir=None):
    """Out-of-context synthesis report of the array on ``target``."""
    made = []  # the cores synthesized; the first one describes them all

    def make():
        made.append(build_core(params))
        return made[-1]
    report = synth_report(make, TOP, target, workdir)
    core = made[0]
    report.update(core="mac", params=core.params, multipliers=core.multipliers,
                  peak_macs_per_cycle=core.multipliers)
    return report
