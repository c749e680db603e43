"""``eiegen explore``: a design space of compression and hardware, measured on Dask.

Everything is checked before a worker starts: the network, the space file
(``sw.explore.space``), the output folder. Then the sweep runs on a local
cluster of one worker a core, or on the Dask scheduler ``--scheduler`` (or
``DASK_SCHEDULER_ADDRESS``) names, and writes its folder (``sw.explore.report``).
"""

import os
from pathlib import Path

from sw.cli.common import (integer, load_array, load_float_layers, output_folder, progress)
from sw.errors import EiegenError

__all__ = ["add_explore_verb"]

#: The bundled networks explore takes (``sw.compress.pipeline.PRESETS``).
MODELS = ["lenet-300-100", "digits-mlp"]


def _source(args):
    """The network the sweep compresses, checked: ``(source, weighted layers)``."""
    from sw.compress.pipeline import PRESETS, check_calibration, check_float_layers
    onnx_only = [flag for flag, value in (("--data", args.data), ("--labels", args.labels),
                                          ("--eval-data", args.eval_data),
                                          ("--eval-labels", args.eval_labels)) if value]
    if onnx_only and not args.onnx:
        raise EiegenError(f"{onnx_only[0]} goes with --onnx")
    if args.calibration and not args.weights:
        raise EiegenError("--calibration goes with --weights")
    if args.model:
        return {"kind": "bundled", "name": args.model, "seed": 0}, \
            len(PRESETS[args.model]["sizes"]) - 1
    if args.weights:
        layers = load_float_layers(args.weights)
        check_float_layers(layers)
        if not args.calibration:
            raise EiegenError("--weights needs --calibration X.npy: raw inputs (value = "
                              "raw/256) to calibrate on and to measure accuracy on (agreement "
                              "with the float network)")
        calibration = load_array(args.calibration, "calibration")
        check_calibration(calibration, layers[0]["W"].shape[1])
        return {"kind": "weights", "name": Path(args.weights).stem, "layers": layers,
                "calibration": calibration}, len(layers)
    return _onnx_source(args)


def _onnx_source(args):
    from sw.formats.onnx_graph import load_onnx
    network = load_onnx(args.onnx)
    kinds = {layer["kind"] for layer in network.layers}
    if not kinds <= {"dense", "relu"}:
        raise EiegenError(f"{args.onnx} has {', '.join(sorted(kinds - {'dense', 'relu'}))} "
                          f"layers: explore measures the EIE engine, which runs fully "
                          f"connected networks")
    if not args.data:
        raise EiegenError("--onnx needs --data X.npy: float inputs in the model's own units "
                          "to calibrate on")
    arrays = {key: None if path is None else load_array(path, what)
              for key, path, what in (("data", args.data, "data"),
                                      ("labels", args.labels, "labels"),
                                      ("eval_data", args.eval_data, "evaluation data"),
                                      ("eval_labels", args.eval_labels, "evaluation labels"))}
    return {"kind": "onnx", "name": network.name, "layers": network.layers,
            "input_shape": list(network.input_shape), **arrays}, \
        sum(layer["kind"] == "dense" for layer in network.layers)


def _client(args):
    """A client of the scheduler asked for, or of a new local cluster."""
    import logging
    from distributed import Client, LocalCluster
    address = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
    if address:
        progress(f"Dask scheduler {address}")
        try:
            return Client(address, timeout="20s"), None
        except (OSError, TimeoutError) as error:
            raise EiegenError(f"cannot reach the Dask scheduler at {address} ({error}): start "
                              f"one with 'dask scheduler', or drop --scheduler for a local "
                              f"cluster") from None
    workers = args.workers or os.cpu_count() or 1
    progress(f"local Dask cluster: {workers} worker{'s' * (workers > 1)}, one thread each")
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.CRITICAL)
    return Client(cluster), cluster


def cmd_explore(args):
    from sw.explore.space import load_space
    from sw.explore.sweep import explore
    source, layers = _source(args)
    space = load_space(args.space, layers,
                       bundled=source["kind"] == "bundled" or
                       (source["kind"] == "onnx" and source["labels"] is not None))
    if args.workers is not None and (args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")):
        raise EiegenError("--workers sizes the local cluster: a --scheduler's cluster has "
                          "the workers started for it")
    points = space.points(args.samples, args.seed)
    progress(f"{len(points)} points" + (f" sampled of {space.size()}" if args.samples else "")
             + f" of {source['name']}; results and cache in {args.out}")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    made = []

    def connect():  # the first step not in the cache starts the cluster
        made.append(_client(args))
        return made[0][0]
    try:
        results, table, failed_rtl = explore(source, space, points, out, connect,
                                             seed=args.seed)
    finally:
        for client, cluster in made:
            client.close()
            if cluster is not None:
                cluster.close()
    print(table)
    progress(f"wrote {out}/points.json, points.csv, pareto.json" +
             (", pareto.png" if (out / "pareto.png").exists() else ""))
    if failed_rtl:
        raise EiegenError(f"{failed_rtl} point(s) differ in RTL from the golden or cycle "
                          f"model: see their reason in {out}/points.json")


def add_explore_verb(verbs):
    p = verbs.add_parser("explore", help="a design space of compression and hardware, "
                                         "measured point by point on Dask")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--model", choices=MODELS, help="a bundled network, on its data")
    source.add_argument("--weights", help="W.npz of float arrays W0, b0, W1, b1, ... "
                                          "(with --calibration)")
    source.add_argument("--onnx", help="MODEL.onnx, fully connected (with --data)")
    p.add_argument("--space", required=True, help="SPACE.toml: the axes (docs/explore.md)")
    p.add_argument("--out", required=True, type=output_folder,
                   help="folder of the results, the model files and the cache")
    p.add_argument("--scheduler", help="tcp://HOST:8786: a Dask cluster (default "
                                       "$DASK_SCHEDULER_ADDRESS, else a local cluster)")
    p.add_argument("--workers", type=integer(1), help="local cluster workers (default: one "
                                                      "a core)")
    p.add_argument("--samples", type=integer(1), help="a random sample of the grid's points")
    p.add_argument("--seed", type=integer(0), default=0,
                   help="seed of --samples and of the points run in RTL (default 0)")
    p.add_argument("--calibration", help="with --weights: X.npy of raw inputs (value = raw/256)")
    g = p.add_argument_group("with --onnx (as eiegen compress takes them)")
    g.add_argument("--data", help="X.npy: float inputs, calibration (and training, with "
                                  "--labels)")
    g.add_argument("--labels", help="y.npy: the classes of --data")
    g.add_argument("--eval-data", help="Xe.npy: inputs accuracy is measured on")
    g.add_argument("--eval-labels", help="ye.npy: their classes")
    p.set_defaults(func=cmd_explore)
