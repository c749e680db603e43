"""The dense engine (the MAC array running whole networks) in Verilator."""

import time

import numpy as np

from sw.flows.dense_image import build_dense_image, dense_config_for
from sw.golden.eie import infer, input_activations
from sw.flows.eie import drive

__all__ = ["dense_engine_for", "run"]


def dense_engine_for(model, *, runtime_load=False, **options):
    """``(engine, image)`` for ``model``'s layers, decoded to dense weights; baked
    in unless ``runtime_load``. ``options``: ``lanes``, ``width`` and
    ``hw.dense_config.DenseConfig`` overrides."""
    from hw.dense_engine import DenseEngine
    config = dense_config_for(model, **options)
    image = build_dense_image(model, config)
    return DenseEngine(config, None if runtime_load else image), image


def run(model, raw, *, runtime_load=False, seed=0, in_stall=0.0, out_stall=0.0,
        workdir=None, **options):
    """Raw inputs (B, inputs) through the dense engine; ``(y, report)`` with
    ``mismatches`` against the golden model ``sw.golden.eie.infer`` (the same
    network the EIE engine runs), and cycles per layer and inference."""
    started = time.monotonic()
    engine, image = dense_engine_for(model, runtime_load=runtime_load, **options)
    c = engine.config
    golden = infer(model, raw)
    beats = sum(-(-l.rows // c.lanes) * -(-l.cols // c.width) for l in model.layers)
    y, result = drive(engine, input_activations(model, raw),
                      image.load_beats() if runtime_load else [], image.out_rows,
                      2 * beats * len(raw) + 100 * len(model.layers), len(model.layers),
                      seed=seed, in_stall=in_stall, out_stall=out_stall, workdir=workdir)
    cycles = result["layer_cycles"]
    macs = sum(l.rows * l.cols for l in model.layers) * len(raw)
    return y, {
        "model": model.name, "config": vars(c), "samples": len(raw),
        "mismatches": int(np.count_nonzero(y != golden)), "outputs": int(golden.size),
        "layer_cycles": cycles, "cycles": sum(cycles),
        "cycles_per_inference": sum(cycles) / len(raw),
        # Dense: every weight is multiplied, zero or not.
        "mac_utilization": macs / (c.lanes * c.width * sum(cycles)),
        "runtime_load": runtime_load, "wall_s": round(time.monotonic() - started, 2),
    }
