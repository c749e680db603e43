"""The pooling unit's flow: a conv layer's raw correlations fed window by window.

A layer's raw accumulators ``acc`` (B, K, H, W) from a conv core become the
next layer's activations on ``hw.pool.PoolUnit``: the host builds every
pooling window from them, one beat an output activation, output positions
in C order (b, k, y, x), each window's positions in row-major kernel order,
padding masked out (its accumulator 0). The unit adds the bias, requantizes,
applies ReLU and pools. A layer without pooling is the 1 x 1 window.

The Verilog depends only on the unit's parameters (``window`` and widths),
never on the layer's shift, mode, kernel, stride or padding, which travel
in the beats: layers of a network that share the parameters share one
Verilator build (``sw.flows.toolchain`` caches it by design).
"""

import time

import numpy as np

from sw.flows.stream import describe_fields, describe_ports, run_beats, synth_core, write_design
from sw.golden.pool import check_pool, pool2d, tail
from sw.spec.numerics import check_fits

__all__ = ["TOP", "build_core", "describe", "generate", "check_layer", "windows", "fit_beats",
           "golden", "run", "synth"]

TOP = "eiegen_pool"


def build_core(params):
    """A ``PoolUnit`` from CLI-style parameters (``ValueError`` if invalid)."""
    from hw.pool import PoolUnit
    return PoolUnit(**params)


def describe(core):
    """JSON-ready description: parameters, ports, payload fields, latency, divider table."""
    shift, multipliers = core.divider.reciprocals
    return {"core": "pool", "top": TOP, "params": core.params,
            "ports": describe_ports(core), "input_fields": describe_fields(core),
            "output": {"width": core.act_bits, "signed": True},
            "latency_cycles": core.latency,
            "reciprocals": {"shift": shift, "multipliers": list(multipliers)}}


def generate(params, out_dir):
    """Write ``pool.v`` and ``pool.json`` into ``out_dir``; return their paths."""
    core = build_core(params)
    return write_design(core, TOP, out_dir, "pool", describe(core))


def check_layer(core, acc, bias, *, shift, mode, kernel, stride, pads):
    """Validate a layer against the unit; one-line ``ValueError`` if wrong.

    Returns the pooled ``(Ho, Wo)``.
    """
    acc, bias = np.asarray(acc), np.asarray(bias)
    if acc.ndim != 4:
        raise ValueError(f"accumulators must have shape (B, K, H, W), not {acc.shape}")
    if bias.shape != (acc.shape[1],):
        raise ValueError(f"bias has shape {bias.shape}, expected ({acc.shape[1]},) for "
                         f"{acc.shape[1]} channels")
    out = check_pool(acc.shape, mode=mode, kernel=kernel, stride=stride, pads=pads)
    if kernel[0] * kernel[1] > core.window:
        raise ValueError(f"the {kernel[0]}x{kernel[1]} pooling window has "
                         f"{kernel[0] * kernel[1]} positions, over the unit's {core.window}: "
                         f"raise --window")
    check_fits("accumulators", acc, core.acc_bits)
    check_fits("bias", bias, core.bias_bits)
    if isinstance(shift, bool) or not isinstance(shift, (int, np.integer)) \
            or not 0 <= shift <= core.max_shift:
        raise ValueError(f"requantize shift must be an integer from 0 to the unit's "
                         f"{core.max_shift}, not {shift!r}: raise --max-shift")
    return out


def windows(acc, bias, *, shift, relu, mode, kernel, stride, pads, count_pads):
    """The beats of a whole layer: one a pooled output, in C order (b, k, y, x).

    Each beat is a payload dict of ``PoolUnit.i`` for a window of exactly
    ``kh * kw`` positions, row-major in the kernel: ``acc`` (the raw
    correlations, 0 at padding), ``mask`` (bit ``j``: position ``j`` is in
    the image), ``count`` (the average's divisor: the real positions, or
    ``kh * kw`` with ``count_pads``), ``bias`` (the channel's), ``shift``,
    ``avg`` and ``relu``. ``fit_beats`` pads them to a unit's window.
    """
    acc, bias = np.asarray(acc), np.asarray(bias)
    for name, array in (("accumulators", acc), ("bias", bias)):
        if not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"{name} must hold integers, not {array.dtype}")
    ho, wo = check_pool(acc.shape, mode=mode, kernel=kernel, stride=stride, pads=pads)
    (kh, kw), (sh, sw), (top, left, bottom, right) = kernel, stride, pads
    batch, channels, height, width = acc.shape
    # One padded copy, so each window is a slice; a mask of the same shape marks the image.
    padded = np.zeros((batch, channels, height + top + bottom, width + left + right),
                      dtype=np.int64)
    padded[:, :, top:top + height, left:left + width] = acc
    real = np.zeros(padded.shape[2:], dtype=bool)
    real[top:top + height, left:left + width] = True
    weights = 1 << np.arange(kh * kw)
    beats = []
    for b in range(batch):
        for k in range(channels):
            for y in range(ho):
                for x in range(wo):
                    rows, cols = slice(y * sh, y * sh + kh), slice(x * sw, x * sw + kw)
                    inside = real[rows, cols].reshape(-1)
                    beats.append({
                        "acc": padded[b, k, rows, cols].reshape(-1).tolist(),
                        "mask": int(weights[inside].sum()),
                        "count": kh * kw if count_pads else int(inside.sum()),
                        "bias": int(bias[k]), "shift": int(shift),
                        "avg": int(mode == "avg"), "relu": int(bool(relu))})
    return beats


def fit_beats(beats, window):
    """``beats`` of windows smaller than ``window`` positions padded to it (unused
    positions: accumulator 0, mask bit clear)."""
    return [dict(beat, acc=beat["acc"] + [0] * (window - len(beat["acc"]))) for beat in beats]


def golden(acc, bias, *, shift, act_bits, relu, mode, kernel, stride, pads, count_pads):
    """The layer as the golden models compute it: ``pool2d(tail(acc, bias))``."""
    return pool2d(tail(acc, bias, shift=shift, act_bits=act_bits, relu=relu), mode=mode,
                  kernel=kernel, stride=stride, pads=pads, count_pads=count_pads)


def run(params, acc, bias, *, shift, relu, mode="max", kernel=(1, 1), stride=(1, 1),
        pads=(0, 0, 0, 0), count_pads=False, seed=0, in_stall=0.0, out_stall=0.0, workdir=None):
    """Run a layer's tail through the generated Verilog in Verilator.

    Returns ``(y, report)``: ``y`` (B, K, Ho, Wo) and a report whose
    ``mismatches`` counts outputs that differ from the golden model
    (``golden``), with the outputs, beats, cycles, the unit's latency and
    the wall time.
    """
    started = time.monotonic()
    core = build_core(params)
    acc, bias = np.asarray(acc), np.asarray(bias)
    layer = dict(mode=mode, kernel=tuple(kernel), stride=tuple(stride), pads=tuple(pads))
    ho, wo = check_layer(core, acc, bias, shift=shift, **layer)
    expect = golden(acc, bias, shift=shift, act_bits=core.act_bits, relu=relu,
                    count_pads=count_pads, **layer)
    beats = fit_beats(windows(acc, bias, shift=shift, relu=relu, count_pads=count_pads, **layer),
                      core.window)
    results, cycles = run_beats(core, TOP, beats, len(beats), seed=seed, in_stall=in_stall,
                                out_stall=out_stall, workdir=workdir)
    y = np.array(results, dtype=np.int64).reshape(acc.shape[0], acc.shape[1], ho, wo)
    report = {
        "core": "pool", "params": core.params, "shape": list(acc.shape),
        "out_shape": list(y.shape), "mode": mode, "kernel": list(layer["kernel"]),
        "stride": list(layer["stride"]), "pads": list(layer["pads"]),
        "count_pads": bool(count_pads), "shift": int(shift), "relu": bool(relu),
        "mismatches": int(np.count_nonzero(y != expect)), "outputs": int(y.size),
        "beats": len(beats), "cycles": cycles, "latency_cycles": core.latency,
        "outputs_per_cycle": round(y.size / cycles, 3) if cycles else 0.0,
        "seed": seed, "in_stall": in_stall, "out_stall": out_stall,
        "wall_s": round(time.monotonic() - started, 2),
    }
    return y, report


def synth(params, target, workdir=None, seeds=1):
    """Out-of-context synthesis report of the unit on ``target`` (LUT/FF/Fmax)."""
    report, core = synth_core(build_core, params, TOP, target, workdir, seeds=seeds)
    report.update(core="pool", params=core.params, latency_cycles=core.latency)
    return report
