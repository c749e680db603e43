"""A whole network on generated cores in Verilator, layer after layer.

Each layer runs on the core made for it, and the RTL's outputs of one
layer are the next one's inputs:

* a convolution on the Winograd tile (``--conv-core winograd``: F(m, r) in
  the spatial domain, stride-1 correlations of the input padded in the
  feed, every ``stride``-th kept) or on the MAC array (``mac``: the
  strided windows as the rows of a matrix product), raw accumulators out;
* then the pooling unit (``hw/pool.py``): bias, requantize, ReLU and the
  layer's pooling (a window of one where none follows), windows built in
  the feed from the conv core's outputs, padding masked out;
* the fully connected layers after the last flatten on the EIE engine, as
  one model run whole (``sw.flows.eie``).

Every core's outputs are compared with the golden model's on the same
inputs (``sw.golden.network``), and the network's with the golden network.
The inputs are quantized by the host, as the model file says.
"""

import math
import time

import numpy as np

from sw.formats.model import CompressedModel
from sw.golden import network as golden
from sw.spec.numerics import accumulator_bits

__all__ = ["CONV_CORES", "stages", "conv_params", "pool_params", "check", "run"]

CONV_CORES = ("winograd", "mac")


def stages(model):
    """The network as the cores run it: ``[(kind, first layer, layers), ...]``.

    Kinds: "conv" (a convolution and its pooling), "flatten" and "dense"
    (consecutive fully connected layers, one EIE run).
    """
    out, i, layers = [], 0, model.layers
    while i < len(layers):
        kind = layers[i].kind
        if kind == "conv":
            n = 2 if i + 1 < len(layers) and layers[i + 1].kind == "pool" else 1
        elif kind == "dense":
            n = 1
            while i + n < len(layers) and layers[i + n].kind == "dense":
                n += 1
        elif kind == "flatten":
            n = 1
        else:
            raise ValueError(f"layer {i} ({kind}) does not follow a convolution: the pooling "
                             f"unit sits after the convolution core")
        out.append((kind, i, layers[i:i + n]))
        i += n
    return out


def _convs(model):
    return [layer for layer in model.layers if layer.kind == "conv"]


def conv_params(model, conv_core, layer, *, winograd_m=2):
    """The conv core's parameters for ``layer`` (one build serves layers alike)."""
    if conv_core == "winograd":
        # F(m, r) needs m + r - 1 <= 8: a large filter takes a smaller tile.
        m = min(winograd_m, 9 - layer.kernel)
        return dict(m=m, r=layer.kernel, act_bits=model.act_bits,
                    weight_bits=model.codebook_bits,
                    max_channels=max(c.channels for c in _convs(model)))
    return dict(act_bits=model.act_bits, weight_bits=model.codebook_bits, requant=False,
                max_inputs=max(c.channels * c.kernel ** 2 for c in _convs(model)))


def pool_params(model):
    """The pooling unit's parameters: one build for every conv layer of ``model``."""
    convs = _convs(model)
    pools = [layer for layer in model.layers if layer.kind == "pool"]
    return dict(window=max([1] + [math.prod(p.kernel) for p in pools]),
                acc_bits=max(accumulator_bits(model.act_bits, model.codebook_bits,
                                              c.channels * c.kernel ** 2) for c in convs),
                bias_bits=model.bias_bits, act_bits=model.act_bits,
                max_shift=max(1, max(c.shift for c in convs)))


def _conv_winograd(model, layer, a, sim, winograd_m):
    from sw.flows import winograd
    t, left, b, right = layer.pads
    padded = np.pad(a, ((0, 0), (0, 0), (t, b), (left, right)))
    y, report = winograd.run(conv_params(model, "winograd", layer, winograd_m=winograd_m),
                             padded, layer.weights(), **sim)
    return y[:, :, ::layer.stride[0], ::layer.stride[1]], report


def _windows(a, r, stride, pads):
    """Every output position's r x r window of the padded input, (B, Ho, Wo, C*r*r)."""
    t, left, b, right = pads
    padded = np.pad(a, ((0, 0), (0, 0), (t, b), (left, right)))
    bsz, c, h, w = padded.shape
    ho, wo = (h - r) // stride[0] + 1, (w - r) // stride[1] + 1
    out = np.empty((bsz, ho, wo, c, r, r), dtype=np.int64)
    for u in range(r):
        for v in range(r):
            out[..., u, v] = padded[:, :, u:u + (ho - 1) * stride[0] + 1:stride[0],
                                    v:v + (wo - 1) * stride[1] + 1:stride[1]].transpose(0, 2, 3, 1)
    return out.reshape(bsz, ho, wo, c * r * r)


def _conv_mac(model, layer, a, sim):
    from sw.flows import mac
    win = _windows(a, layer.kernel, layer.stride, layer.pads)
    bsz, ho, wo, n = win.shape
    w = layer.weights().reshape(layer.filters, n)
    y, report = mac.run(conv_params(model, "mac", layer), w, win.reshape(-1, n), **sim)
    return y.reshape(bsz, ho, wo, layer.filters).transpose(0, 3, 1, 2), report


def _tail(model, conv, pool, acc, sim):
    from sw.flows import pool as pool_flow
    window = dict(mode="max", kernel=(1, 1), stride=(1, 1), pads=(0, 0, 0, 0), count_pads=False)
    if pool is not None:
        window = dict(mode=pool.mode, kernel=pool.kernel, stride=pool.stride, pads=pool.pads,
                      count_pads=pool.count_pads)
    return pool_flow.run(pool_params(model), acc, conv.bias, shift=conv.shift, relu=conv.relu,
                         **window, **sim)


def _dense_model(model, layers):
    """The fully connected layers as an EIE model of their own, fed activations."""
    return CompressedModel(
        name=model.name, pes=model.pes, index_bits=model.index_bits, z_bits=model.z_bits,
        act_bits=model.act_bits, codebook_bits=model.codebook_bits, bias_bits=model.bias_bits,
        input_frac=layers[0].in_frac, input_shift=0, layers=list(layers))


def check(model, conv_core="winograd", winograd_m=2):
    """Refuse, in one line, a network the cores cannot run, before anything is simulated."""
    if conv_core not in CONV_CORES:
        raise ValueError(f"the conv core must be {' or '.join(CONV_CORES)}, not {conv_core!r} "
                         f"(option --conv-core)")
    if isinstance(winograd_m, bool) or not isinstance(winograd_m, int) or winograd_m < 1:
        raise ValueError(f"--winograd-m must be a tile size >= 1, not {winograd_m!r}")
    stages(model)
    for layer in _convs(model):
        params = conv_params(model, conv_core, layer, winograd_m=winograd_m)
        if conv_core == "winograd" and params["m"] < 1:
            raise ValueError(f"a {layer.kernel}x{layer.kernel} filter is larger than the "
                             f"Winograd tile allows (r <= 7): use --conv-core mac")
        from sw.flows import mac, winograd
        (winograd if conv_core == "winograd" else mac).build_core(params)
    if _convs(model):
        from sw.flows import pool
        pool.build_core(pool_params(model))


def run(model, x, *, conv_core="winograd", winograd_m=2, runtime_load=False, seed=0,
        in_stall=0.0, out_stall=0.0, workdir=None, progress=None):
    """Run inputs ``x`` through the whole network on generated cores.

    Returns ``(y, report)``: the last layer's integer outputs and, per
    stage, the core, cycles and mismatches (RTL against the golden model on
    the same inputs); ``report["mismatches"]`` counts all of them plus the
    network's outputs that differ from ``sw.golden.network.infer``.
    """
    check(model, conv_core, winograd_m)
    started = time.monotonic()
    say = progress or (lambda message: None)
    plan = stages(model)
    expected, golden_acts = golden.infer(model, x, trace=True)
    a, saturated = golden.input_activations(model, x)
    sim = dict(seed=seed, in_stall=in_stall, out_stall=out_stall, workdir=workdir)
    layers = []
    for kind, first, group in plan:
        if kind == "flatten":
            a = a.reshape(len(a), -1)
            continue
        if kind == "conv":
            conv = group[0]
            pool = group[1] if len(group) > 1 else None
            say(f"layer {first}: {conv.filters}x{conv.channels}x{conv.kernel}x{conv.kernel} "
                f"convolution on the {conv_core} core"
                + (f", then {pool.mode} pooling {pool.kernel[0]}x{pool.kernel[1]}" if pool else "")
                + f" ({len(a)} inputs)")
            if conv_core == "winograd":
                acc, conv_report = _conv_winograd(model, conv, a, sim, winograd_m)
            else:
                acc, conv_report = _conv_mac(model, conv, a, sim)
            a, tail_report = _tail(model, conv, pool, acc, sim)
            want = golden_acts[first + len(group)]
            layers.append({
                "layers": list(range(first, first + len(group))), "kind": "conv",
                "core": conv_core, "tail_core": "pool",
                "cycles": conv_report["cycles"] + tail_report["cycles"],
                "conv_cycles": conv_report["cycles"], "tail_cycles": tail_report["cycles"],
                "mismatches": conv_report["mismatches"] + tail_report["mismatches"]
                + int(np.count_nonzero(a != want)),
                "outputs": int(a.size), "shape": list(a.shape[1:]),
                "wall_s": round(conv_report["wall_s"] + tail_report["wall_s"], 2)})
        else:
            say(f"layers {first}-{first + len(group) - 1}: "
                f"{' -> '.join(str(l.rows) for l in group)} fully connected on the EIE engine "
                f"({model.pes} PEs)")
            from sw.flows import eie
            a_in = a.reshape(len(a), -1)
            a, eie_report = eie.run(_dense_model(model, group), a_in, runtime_load=runtime_load,
                                    seed=seed, in_stall=in_stall, out_stall=out_stall,
                                    workdir=workdir)
            want = golden_acts[first + len(group)]
            layers.append({
                "layers": list(range(first, first + len(group))), "kind": "dense",
                "core": "eie", "cycles": eie_report["cycles"],
                "layer_cycles": [l["cycles"] for l in eie_report["layers"]],
                "mismatches": eie_report["mismatches"] + int(np.count_nonzero(a != want)),
                "outputs": int(a.size), "shape": list(a.shape[1:]),
                "pe_utilization": eie_report["pe_utilization"], "wall_s": eie_report["wall_s"]})
        say(f"  {layers[-1]['cycles']} cycles, {layers[-1]['mismatches']} mismatches")
    y = a
    mismatches = sum(l["mismatches"] for l in layers) + int(np.count_nonzero(y != expected))
    cycles = sum(l["cycles"] for l in layers)
    return y, {
        "model": model.name, "samples": len(x), "conv_core": conv_core,
        "mismatches": mismatches, "outputs": int(y.size), "input_saturated": saturated,
        "layers": layers, "cycles": cycles, "cycles_per_inference": cycles / len(x),
        "wall_s": round(time.monotonic() - started, 2),
    }


# ---------------------------------------------------------------- eiegen sim network
# Declared here, so the command line gains the core without a CLI module
# knowing it (sw.flows.registry). A network is several cores: generate and
# synth are theirs (eiegen generate|synth winograd, mac, pool, eie).

def _cli_options(parser, verb):
    parser.add_argument("--model", required=True, help="NET.npz from eiegen compress")
    if verb == "sim":
        parser.add_argument("--conv-core", default="winograd", choices=CONV_CORES,
                            help="the core convolutions run on (default winograd)")
        parser.add_argument("--winograd-m", type=int, default=2,
                            help="output tile m of F(m, r) (default 2; smaller where r is "
                                 "large, m + r - 1 <= 8)")


def _cli_params(args):
    return {}


def _cli_sim_arguments(p):
    from sw.cli.common import model_sim_arguments
    model_sim_arguments(p)


def _cli_per_core(args, params):
    from sw.errors import EiegenError
    raise EiegenError("a network runs on several cores: generate and synthesize them one by "
                      "one (eiegen generate|synth winograd, mac, pool, eie); eiegen sim network "
                      "runs them together")


def _cli_simulate(args, params):
    from sw.cli.common import progress, simulate_model

    def summary(report):
        per_layer = ", ".join(f"{'+'.join(map(str, l['layers']))} {l['core']} "
                              f"{l['cycles'] // report['samples']}" for l in report["layers"])
        return (f"{report['samples']} inferences, 0 mismatches against the golden model; "
                f"{report['cycles_per_inference']:.0f} cycles per inference (layers "
                f"{per_layer}), {report['wall_s']} s wall")
    simulate_model(args, lambda model: check(model, args.conv_core, args.winograd_m),
                   lambda model, x, **stimulus: run(model, x, conv_core=args.conv_core,
                                                    winograd_m=args.winograd_m,
                                                    progress=progress, **stimulus), summary,
                   any_network=True)


# Imported here, not above, to keep the declaration in one place.
from sw.flows.registry import Core, register  # noqa: E402

register(Core(name="network", help="a whole network, each layer on its core",
              options=_cli_options, params=_cli_params, generate=_cli_per_core,
              simulate=_cli_simulate, synthesize=_cli_per_core,
              sim_arguments=_cli_sim_arguments,
              sim_report="R.json: core, cycles and mismatches per layer"))
