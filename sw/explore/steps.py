"""The steps of a sweep, as the Dask workers run them: plain functions of plain values.

Each step takes its settings and its inputs' results and returns a dict of
JSON values and numpy arrays (``sw.explore.cache`` keeps it), or raises:

* ``dense``: a bundled network trained dense (once a sweep);
* ``compress``: pruned, retrained, shared and fine-tuned (once a compression
  point: pruning, index bits, retraining);
* ``encode``: the fixed-point model file for a PE count and widths, and its
  accuracy by the golden model on the eval set;
* ``measure``: cycles per inference by the cycle model and energy by the
  45 nm model (``sw.golden.energy``), on the engine a hardware point builds;
* ``synthesize``: LUTs, DSPs, block RAMs and Fmax by Yosys and nextpnr, once
  an engine configuration, target and seed;
* ``rtl``: the engine in Verilator against the golden model and the cycle model.

Nothing here knows Dask: ``sw.explore.sweep`` submits these.
"""

import time
from contextlib import contextmanager

import numpy as np

from sw.errors import DoesNotFit, ToolchainError

__all__ = ["dense", "compress", "encode", "measure", "synthesize", "rtl", "engine_overrides",
           "eval_inputs"]


@contextmanager
def _one_thread():
    """One BLAS thread a worker: the workers are the parallelism (one a core),
    and threaded OpenBLAS runs these small matrices slower, not faster."""
    from threadpoolctl import threadpool_limits
    with threadpool_limits(1, user_api="blas"):
        yield


def _timed(step):
    """``step`` run with one BLAS thread, its wall time added as ``wall_s``."""
    def run(*args, **kwargs):
        started = time.monotonic()
        with _one_thread():
            result = step(*args, **kwargs)
        return {**result, "wall_s": round(time.monotonic() - started, 2)}
    run.__name__ = step.__name__
    run.__doc__ = step.__doc__
    return run


def _trained(source, layers):
    """The preset's ``Trained`` with float ``layers`` (copied: steps change them)."""
    from sw.compress.pipeline import PRESETS, Trained
    from sw.train.datasets import load
    data = load(PRESETS[source["name"]]["dataset"])
    raw_train, y_train = data.augmented()
    return Trained(source["name"], data, data.scaled(raw_train), y_train,
                   data.scaled(data.x_test), [{k: v.copy() for k, v in l.items()}
                                               for l in layers])


def eval_inputs(source):
    """``(x, labels)``: the eval set accuracy is measured on (raw inputs)."""
    if source["kind"] == "bundled":
        from sw.compress.pipeline import PRESETS
        from sw.train.datasets import load
        data = load(PRESETS[source["name"]]["dataset"])
        return data.x_test, data.y_test
    if source["kind"] == "onnx":
        return (source["data"], None) if source["eval_data"] is None else \
            (source["eval_data"], None)
    return source["calibration"], None


@_timed
def dense(settings, source):
    """The bundled network ``source["name"]`` trained dense with ``source["seed"]``
    (``settings``: none)."""
    from sw.compress.pipeline import train_dense
    from sw.train import mlp
    trained = train_dense(source["name"], seed=source["seed"])
    return {"layers": trained.layers,
            "accuracy": mlp.accuracy(trained.layers, trained.x_test, trained.data.y_test)}


def _qualities(point, layers):
    """Pruning qualities per layer: given, or those that keep ``density`` of
    each dense layer (threshold = quality x its standard deviation)."""
    if "density" not in point:
        return list(point["quality"])
    return [float(np.quantile(np.abs(l["W"]), 1 - d) / l["W"].std()) if d < 1 else 0.0
            for l, d in zip(layers, point["density"])]


@_timed
def compress(point, source, dense_result):
    """Deep Compression of the dense network at the compression ``point``
    (``quality`` or ``density``, ``index_bits``, ``retrain_epochs``,
    ``balance_pes``)."""
    from sw.compress.pipeline import PRESETS, prune_and_share
    cfg = PRESETS[source["name"]]
    trained = _trained(source, dense_result["layers"])
    layers = trained.layers
    qualities = _qualities(point, layers)
    _, indices, codebooks, acc, _ = prune_and_share(
        trained, layers, qualities=qualities,
        retrain_epochs=point.get("retrain_epochs", cfg["retrain_epochs"]),
        finetune_epochs=cfg["finetune_epochs"], index_bits=point["index_bits"],
        balance_pes=point["balance_pes"], seed=source["seed"])
    return {"layers": layers, "indices": indices, "codebooks": codebooks,
            "accuracy": {"dense": dense_result["accuracy"], **acc}, "qualities": qualities}


@_timed
def encode(fmt, source, compressed):
    """The model file of a compression point on ``fmt["pes"]`` PEs with its
    widths, and its accuracy: the golden model's top-1 on the eval set (a
    bundled network's test split; with ``--weights``, agreement with the float
    network on the calibration inputs; with ``--onnx``, as ``eiegen compress``
    measures it)."""
    from sw.compress.pipeline import FORMAT_DEFAULTS, compress_weights, finish_trained
    widths = {**FORMAT_DEFAULTS,
              **{k: fmt[k] for k in ("pes", "index_bits", "act_bits", "codebook_bits")}}
    if source["kind"] == "bundled":
        trained = _trained(source, compressed["layers"])
        model, _, total, accuracy = finish_trained(trained, trained.layers,
                                                   compressed["indices"],
                                                   compressed["codebooks"], **widths)
        stages = compressed["accuracy"]
    elif source["kind"] == "onnx":
        from sw.compress.imported import compress_network
        dense_layers = [l for l in source["layers"] if l["kind"] == "dense"]
        qualities = _qualities(fmt, dense_layers) if "quality" in fmt or "density" in fmt \
            else None
        model, report = compress_network(
            source["layers"], tuple(source["input_shape"]), source["data"],
            name=source["name"], labels=source["labels"], eval_x=source["eval_data"],
            eval_labels=source["eval_labels"], qualities=qualities,
            retrain_epochs=fmt.get("retrain_epochs", 2), seed=0, **widths)
        total, accuracy = report["total"], report["accuracy"]["fixed_point"]
        stages = {**report["accuracy"], "qualities": report["qualities"]}
    else:
        from sw.golden.eie import infer
        from sw.train import mlp
        layers = source["layers"]
        qualities = _qualities(fmt, layers)
        model, report = compress_weights(layers, name=source["name"], qualities=qualities,
                                         calibration=source["calibration"], seed=0, **widths)
        total = report["total"]
        raw = source["calibration"]
        reference = mlp.forward(layers, raw / 256.0)[-1].argmax(axis=1)
        accuracy = float(np.mean(infer(model, raw).argmax(axis=1) == reference))
        stages = {"qualities": qualities}
    model.stats = {"accuracy": accuracy, "compression_ratio": total["ratio"],
                   "density": total["density"]}
    return {"model_file": _file_bytes(model),
            "accuracy": accuracy, "stages": stages, "density": total["density"],
            "compression_ratio": total["ratio"], "eie_bytes": total["eie_bytes"]}


def _file_bytes(model):
    """The bytes of ``model``'s model file (``sw.formats.model``), as a uint8 array."""
    import tempfile
    from pathlib import Path
    from sw.formats import model as model_file
    with tempfile.TemporaryDirectory(prefix="eiegen-explore-") as folder:
        path = Path(folder) / "model.npz"
        model_file.save(model, path)
        return np.frombuffer(path.read_bytes(), dtype=np.uint8)


def load_model(result):
    """The ``CompressedModel`` of an ``encode`` result (the file checked as any is)."""
    import tempfile
    from pathlib import Path
    from sw.formats import model as model_file
    with tempfile.TemporaryDirectory(prefix="eiegen-explore-") as folder:
        path = Path(folder) / "model.npz"
        path.write_bytes(result["model_file"].tobytes())
        return model_file.load(path)


#: The hardware axes that are ``EieConfig`` fields.
ENGINE_KEYS = ("pes", "queue_depth", "entries_per_word", "nnz_depth", "spram",
               "sequential_scan")


def engine_overrides(hardware):
    """``EieConfig`` overrides of a hardware point: its board's organization
    (``boards.flow.BOARDS``), then the point's own values."""
    from sw.explore.space import target_of
    overrides = {}
    if "target" in hardware:
        _, board = target_of(hardware["target"])
        if board is not None:
            from boards.flow import BOARDS
            overrides.update(BOARDS[board]["engine"])
    overrides.update({k: v for k, v in hardware.items() if k in ENGINE_KEYS})
    return overrides


def engine_config(model, overrides):
    """The engine a model and its hardware point build, checked to hold the
    model: ``(config, None)`` or ``(None, why not)``."""
    from sw.flows.eie_image import build_image, config_for
    try:
        config = config_for(model, **overrides)
        build_image(model, config)
    except ValueError as error:
        return None, str(error)
    return config, None


@_timed
def measure(settings, encoded, x):
    """Cycles per inference (cycle model) and energy (45 nm model) of the
    engine ``settings["engine"]`` (``EieConfig`` overrides) builds for the
    model, averaged over inputs ``x``."""
    from sw.golden.cycles import network_cycles
    from sw.golden.energy import inference_energy
    from sw.golden.eie import infer
    model = load_model(encoded)
    config, why = engine_config(model, settings["engine"])
    if config is None:
        return {"status": "does not fit", "reason": why}
    _, acts = infer(model, x, trace=True)
    _, total = network_cycles(model, acts[:-1], config.queue_depth, config.sequential_scan,
                              config.spram)
    energy = [inference_energy(model, [a[i] for a in acts[:-1]], config.entries_per_word)
              for i in range(len(x))]
    return {"status": "ok", "config": vars(config),
            "cycles": total["cycles"] / len(x),
            "energy_nj": float(np.mean([e["nanojoules"] for e in energy]))}


@_timed
def synthesize(settings):
    """Out-of-context synthesis of the engine ``settings["config"]`` (memories
    loaded at run time, so one synthesis serves every model it holds) for
    ``settings["target"]``, placed with nextpnr seed ``settings["seed"]``."""
    from sw.flows.eie import synth
    try:
        report = synth(None, settings["target"], seeds=settings["seed"], **settings["config"])
    except DoesNotFit as error:
        return {"status": "does not fit", "reason": str(error)}
    return {"status": "ok", **{k: report[k] for k in ("luts", "ffs", "dsps", "brams",
                                                       "sprams", "fmax_mhz")}}


@_timed
def rtl(settings, encoded, x):
    """The model's engine (``settings["engine"]``) in Verilator on inputs ``x``,
    stalls seeded with ``settings["seed"]``: mismatches against the golden
    model, and its cycles against the cycle model's."""
    from sw.flows.eie import run
    model = load_model(encoded)
    try:
        _, report = run(model, x, seed=settings["seed"], **settings["engine"])
    except ToolchainError as error:
        return {"status": "failed", "reason": str(error)}
    same = report["mismatches"] == 0 and report["cycles"] == report["model_cycles"]
    return {"status": "ok" if same else "failed",
            "reason": "" if same else (f"RTL differs from the model: {report['mismatches']} "
                                       f"output mismatches, {report['cycles']} RTL cycles "
                                       f"against {report['model_cycles']} modelled"),
            "samples": len(x), "mismatches": report["mismatches"],
            "rtl_cycles": report["cycles"] / len(x),
            "model_cycles": report["model_cycles"] / len(x)}
