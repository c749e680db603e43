"""Binary and ternary MLPs run whole in Verilator against their golden models.

Each layer runs on a generated array (the XNOR array for a ``BinaryNet``,
the ternary array for a ``TernaryNet``) and its outputs, as the hardware
produced them, are the next layer's inputs. Every layer is compared with
its golden layer, and the last outputs with the golden network
(``sw.golden.lowbit.binary_infer`` / ``ternary_infer``).
"""

import time

import numpy as np

from sw.flows import ternary
from sw.flows import xnor
from sw.golden.lowbit import binary_infer, ternary_infer
from sw.spec.lowbit import xnor_acc_bits
from sw.spec.numerics import signed_bits_for

__all__ = ["binary_layer_params", "ternary_layer_params", "run_binary", "run_ternary"]


def binary_layer_params(net, lanes, width):
    """The XNOR array of each layer: sign output but for the last, which adds a bias."""
    n_max = max(w.shape[1] for w in net.weights)
    n_last = net.weights[-1].shape[1]
    acc_bits = max(xnor_acc_bits(n_max, False),
                   signed_bits_for(int(net.bias.min()) - n_last, int(net.bias.max()) + n_last))
    hidden = dict(lanes=lanes, width=width, max_inputs=n_max, sign=True)
    last = dict(lanes=lanes, width=width, max_inputs=n_max, acc_bits=acc_bits)
    return [hidden] * (len(net.weights) - 1) + [last]


def ternary_layer_params(net, lanes, width):
    """The ternary array of each layer: its shift, ReLU but on the last."""
    n_max = max(w.shape[1] for w in net.weights)
    last = len(net.weights) - 1
    return [dict(lanes=lanes, width=width, act_bits=net.act_bits, scale_bits=net.scale_bits,
                 bias_bits=net.bias_bits, max_inputs=n_max, shift=shift, out_bits=out_bits,
                 relu=i < last)
            for i, (shift, out_bits) in enumerate(zip(net.shifts, net.out_bits))]


def _run(kind, flow, layers, x, golden, labels, *, seed, in_stall, out_stall, progress,
         started):
    reports = []
    for i, (params, args) in enumerate(layers):
        if progress:
            progress(f"{kind} layer {i}: {x.shape[0]} x {args[0].shape} on a "
                     f"{params['lanes']}x{params['width']} {flow.__name__.split('.')[-1]} array")
        x, report = flow.run(params, args[0], x, *args[1:], seed=seed + i, in_stall=in_stall,
                             out_stall=out_stall)
        reports.append({k: report[k] for k in ("rows", "inputs", "beats", "cycles", "mismatches",
                                                "macs", "macs_per_cycle", "peak_macs_per_cycle",
                                                "params")})
    cycles = sum(r["cycles"] for r in reports)
    report = {
        "network": kind, "samples": int(x.shape[0]),
        "mismatches": int(np.count_nonzero(x != golden)) + sum(r["mismatches"] for r in reports),
        "outputs": int(x.size), "layers": reports, "cycles": cycles,
        "cycles_per_inference": cycles / x.shape[0],
        "macs_per_cycle": round(sum(r["macs"] for r in reports) / cycles, 3),
        "wall_s": round(time.monotonic() - started, 2),
    }
    if labels is not None:
        report["accuracy"] = float(np.mean(x.argmax(axis=1) == np.asarray(labels)))
        report["golden_accuracy"] = float(np.mean(golden.argmax(axis=1) == np.asarray(labels)))
    return x, report


def run_binary(net, raw, labels=None, *, lanes=8, width=64, seed=0, in_stall=0.0,
               out_stall=0.0, progress=None):
    """Run a ``BinaryNet`` on raw inputs (B, features); ``(outputs, report)``.

    ``report["mismatches"]`` counts differences from the golden layers and
    from the golden network; ``accuracy`` is measured when ``labels`` are given.
    """
    started = time.monotonic()
    raw = np.asarray(raw)
    x = (raw >= net.input_threshold).astype(np.int64)
    params = binary_layer_params(net, lanes, width)
    args = [(w, None, t) for w, t in zip(net.weights[:-1], net.thresholds)]
    args.append((net.weights[-1], net.bias))
    return _run("binary", xnor, list(zip(params, args)), x, binary_infer(net, raw), labels,
                seed=seed, in_stall=in_stall, out_stall=out_stall, progress=progress,
                started=started)


def run_ternary(net, raw, labels=None, *, lanes=8, width=16, seed=0, in_stall=0.0,
                out_stall=0.0, progress=None):
    """Run a ``TernaryNet`` on raw inputs (B, features); ``(outputs, report)``."""
    started = time.monotonic()
    raw = np.asarray(raw, dtype=np.int64)
    x = raw >> net.input_shift
    params = ternary_layer_params(net, lanes, width)
    args = list(zip(net.weights, net.biases, net.scales))
    return _run("ternary", ternary, list(zip(params, args)), x, ternary_infer(net, raw), labels,
                seed=seed, in_stall=in_stall, out_stall=out_stall, progress=progress,
                started=started)
