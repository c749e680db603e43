"""A sweep on Dask: every point of a space measured, each step once, cached by content.

The points' steps (``sw.explore.steps``) form a graph: one ``dense`` training,
one ``compress`` a compression point, one ``encode`` a compression point and
PE count and widths, one ``measure`` a point, one ``synthesize`` an engine
configuration, target and seed (configurations come out of ``measure``, so
two points building the same engine share one synthesis), one ``rtl`` a
sampled point. Each step's key is the content hash of its inputs
(``sw.explore.cache``); a step already in the cache is read from it, the
others are submitted to the Dask client, chained on their inputs' futures,
and stored as they finish, so an interrupted sweep resumes where it stopped.

A point that does not fit, or misses its clock, is a result with its reason.
A step that raises fails its points, with the error as their reason, and
is not cached: it runs again next time.
"""

import math
import sys
import time

from sw.explore import steps
from sw.explore.cache import Cache, key
from sw.explore.space import target_of

__all__ = ["explore", "run_sweep", "Progress"]


class Progress:
    """The progress bar: points done, running and failed, on ``stream``.

    On a terminal one line redrawn in place; elsewhere (a log) a line each
    time a point ends.
    """

    def __init__(self, total, stream=None, width=30):
        self.total, self.width = total, width
        self.stream = stream or sys.stderr
        self.tty = getattr(self.stream, "isatty", lambda: False)()
        self.started = time.monotonic()
        self.done = self.failed = 0

    def update(self, done, failed):
        if (done, failed) == (self.done, self.failed) and not self.tty:
            return
        self.done, self.failed = done, failed
        ended = done + failed
        fill = self.width * ended // max(self.total, 1)
        line = (f"[{'#' * fill}{'.' * (self.width - fill)}] {ended}/{self.total} points: "
                f"{done} done, {self.total - ended} running, {failed} failed, "
                f"{time.monotonic() - self.started:.0f} s")
        self.stream.write(f"\r{line}" if self.tty else f"{line}\n")
        if self.tty and ended == self.total:
            self.stream.write("\n")
        self.stream.flush()


class Lazy:
    """An input known by its key before it is made: ``make()`` gives its
    handle, called only if the step taking it is not cached."""

    def __init__(self, key, make):
        self.key, self.make = key, make


def _key_of(given):
    """The key of a step's input: a handle's, a lazy input's, or a plain value's content."""
    if isinstance(given, Lazy):
        return given.key
    return given[0] if given[0] is not None else key("value", given[1])


class _Graph:
    """Steps by key: a cached result, or a Dask future; submitted once each.

    A handle is ``(key, "value", result)`` or ``(key, "future", future)``; a
    plain input is ``(None, value)``.
    """

    def __init__(self, client, cache):
        self.client, self.cache = client, cache
        self.handles, self.kinds = {}, {}

    def step(self, kind, function, settings, *inputs, priority=0):
        """The handle of the step ``kind`` with ``settings`` and ``inputs``."""
        k = key(kind, settings, *map(_key_of, inputs))
        if k not in self.handles:
            if k in self.cache:
                self.handles[k] = (k, "value", self.cache.get(k))
            else:
                made = [i.make() if isinstance(i, Lazy) else i for i in inputs]
                args = [h[2] if h[0] is not None and h[1] == "future" else h[-1]
                        for h in made]
                if not hasattr(self.client, "submit"):  # connect only when work is due
                    self.client = self.client()
                future = self.client.submit(function, settings, *args, key=k, pure=False,
                                            priority=priority)
                self.handles[k] = (k, "future", future)
                self.kinds[k] = kind
        return self.handles[k]

    def futures(self):
        return [h[2] for h in self.handles.values() if h[1] == "future"]

    def result(self, handle):
        """The value of a finished handle (stored in the cache if it was a future)."""
        k, state, value = self.handles[handle[0]]
        if state == "value":
            return value
        result = value.result()
        if result.get("status") != "failed":  # a tool's failure may not recur
            self.cache.put(k, result)
        self.handles[k] = (k, "value", result)
        return result


def run_sweep(source, space, points, out, client, *, seed=0, stream=None):
    """Measure ``points`` (from ``space.points``) of the network ``source`` on
    ``client`` (a Dask client, or a function that makes one, called only if a
    step is not in the cache); results cached in ``out/cache``, model files in
    ``out/models``.

    Returns the points' results, in the order of ``points``.
    """
    from sw.compress.pipeline import FORMAT_DEFAULTS
    import numpy as np
    cache = Cache(out / "cache")
    graph = _Graph(client, cache)
    bar = Progress(len(points), stream)
    x_eval, _ = steps.eval_inputs(source)
    x_cycles = x_eval[:space.measure["cycle_samples"]]
    x_rtl = x_eval[:space.measure["rtl_samples"]]
    pes_axis = space.hardware.get("pes", [FORMAT_DEFAULTS["pes"]])
    balance = math.lcm(*pes_axis)
    rng = np.random.default_rng([seed, 1])
    rtl_ids = set(rng.choice(len(points), min(space.measure["rtl_points"], len(points)),
                             replace=False).tolist())
    bundled = source["kind"] == "bundled"
    dense_key = key("dense", {}, _key_of((None, source)))

    def dense():
        return graph.step("dense", steps.dense, {}, (None, source))

    plans = []
    for i, point in enumerate(points):
        comp, hw = point["compression"], point["hardware"]
        pruning = {k: comp[k] for k in ("quality", "density") if k in comp} or \
            _default_pruning(source, space.layers)
        index_bits = comp.get("index_bits", FORMAT_DEFAULTS["index_bits"])
        fmt = {"pes": hw.get("pes", FORMAT_DEFAULTS["pes"]), "index_bits": index_bits,
               "act_bits": comp.get("act_bits", FORMAT_DEFAULTS["act_bits"]),
               "codebook_bits": comp.get("codebook_bits", FORMAT_DEFAULTS["codebook_bits"])}
        if bundled:
            settings = {**pruning, "index_bits": index_bits, "balance_pes": balance,
                        **{k: comp[k] for k in ("retrain_epochs",) if k in comp}}
            compressed = Lazy(key("compress", settings, _key_of((None, source)), dense_key),
                              lambda settings=settings: graph.step(
                                  "compress", steps.compress, settings, (None, source),
                                  dense()))
        else:
            fmt.update(pruning, **{k: comp[k] for k in ("retrain_epochs",) if k in comp})
            compressed = (None, None)
        encoded = graph.step("encode", steps.encode, fmt, (None, source), compressed)
        overrides = steps.engine_overrides(hw)
        measured = graph.step("measure", steps.measure, {"engine": overrides},
                              encoded, (None, x_cycles))
        checked = graph.step("rtl", steps.rtl, {"engine": overrides, "seed": seed},
                             encoded, (None, x_rtl)) if i in rtl_ids else None
        plans.append({"point": point, "encoded": encoded, "measured": measured,
                      "checked": checked, "synthesis": None})

    from distributed import as_completed
    pending = []  # an as_completed once a step is submitted: none if all is cached

    def watch(future):
        if pending:
            pending[0].add(future)
        else:
            pending.append(as_completed([future]))
    results = [None] * len(plans)

    def settle():
        """Finish every point whose steps are done; submit syntheses whose
        configurations are now known."""
        for i, plan in enumerate(plans):
            if results[i] is not None:
                continue
            ready = [h for h in (plan["encoded"], plan["measured"], plan["checked"],
                                 plan["synthesis"]) if h is not None]
            errors = [h for h in ready if h[1] == "future" and h[2].status == "error"]
            if errors:
                results[i] = _failed(i, plan, graph, errors[0])
                continue
            if any(h[1] == "future" and h[2].status != "finished" for h in ready):
                continue
            measured = graph.result(plan["measured"])
            target = plan["point"]["hardware"].get("target")
            if target and measured["status"] == "ok" and plan["synthesis"] is None:
                device, _ = target_of(target)
                plan["synthesis"] = graph.step(
                    "synthesize", steps.synthesize,
                    {"config": measured["config"], "target": device,
                     "seed": plan["point"]["hardware"].get("seed", 1)}, priority=10)
                if plan["synthesis"][1] == "future":
                    watch(plan["synthesis"][2])
                    continue
            results[i] = _assemble(i, plan, graph)
            _save_model(out / results[i]["model_file"], graph.result(plan["encoded"]))
        bar.update(sum(r is not None and r["status"] != "failed" for r in results),
                   sum(r is not None and r["status"] == "failed" for r in results))

    for future in graph.futures():
        watch(future)
    settle()
    for future in pending[0] if pending else []:
        if future.status == "finished":
            graph.result((future.key,))  # into the cache as soon as it is done
        settle()
    settle()
    return results


def _save_model(path, encoded):
    """The model file of an ``encode`` result at ``path`` (once)."""
    from sw import files
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        with files.replacing(path, "wb") as f:
            f.write(encoded["model_file"].tobytes())


def _default_pruning(source, layers):
    """Pruning when the space sets none: the preset's qualities, 1.0 a layer for
    ``--weights``, and for ``--onnx`` the importer's search."""
    from sw.compress.pipeline import PRESETS
    if source["kind"] == "bundled":
        return {"quality": PRESETS[source["name"]]["qualities"]}
    return {"quality": [1.0] * layers} if source["kind"] == "weights" else {}


def _failed(i, plan, graph, handle):
    error = handle[2].exception()
    kind = graph.kinds.get(handle[0], "a step")
    return {**_identity(i, plan), "status": "failed",
            "reason": f"{kind} failed: {type(error).__name__}: {error}".splitlines()[0]}


def _identity(i, plan):
    return {"id": i, "compression": plan["point"]["compression"],
            "hardware": plan["point"]["hardware"]}


def _assemble(i, plan, graph):
    """The result of point ``i`` from its steps' results."""
    from sw.explore.space import BOARD_TARGETS
    encoded = graph.result(plan["encoded"])
    measured = graph.result(plan["measured"])
    point = {**_identity(i, plan), "status": "ok", "reason": "",
             "accuracy": encoded["accuracy"], "density": encoded["density"],
             "compression_ratio": encoded["compression_ratio"],
             "model_bytes": encoded["eie_bytes"], "model_file": f"models/{plan['encoded'][0]}.npz",
             "cycles": None, "energy_nj": None, "luts": None, "ffs": None, "dsps": None,
             "brams": None, "sprams": None, "fmax_mhz": None, "latency_us": None,
             "rtl": None, "cost_s": {"encode": encoded["wall_s"]}}
    point["cost_s"]["measure"] = measured["wall_s"]
    if measured["status"] != "ok":
        return {**point, "status": measured["status"], "reason": measured["reason"]}
    point.update(cycles=measured["cycles"], energy_nj=measured["energy_nj"])
    if plan["synthesis"] is not None:
        synthesis = graph.result(plan["synthesis"])
        point["cost_s"]["synthesis"] = synthesis["wall_s"]
        if synthesis["status"] != "ok":
            return {**point, "status": synthesis["status"], "reason": synthesis["reason"]}
        point.update({k: synthesis[k] for k in ("luts", "ffs", "dsps", "brams", "sprams",
                                                 "fmax_mhz")})
        if point["fmax_mhz"]:
            point["latency_us"] = point["cycles"] / point["fmax_mhz"]
        hardware = plan["point"]["hardware"]
        clock = hardware.get("clock_mhz")
        if clock is None and hardware["target"] in BOARD_TARGETS:
            from boards.flow import BOARDS
            clock = BOARDS[hardware["target"]]["clock_mhz"]
        if clock is not None and (point["fmax_mhz"] or 0) < clock:
            point.update(status="fails timing",
                         reason=f"Fmax {point['fmax_mhz']} MHz is under the {clock:g} MHz clock")
    if plan["checked"] is not None:
        checked = graph.result(plan["checked"])
        point["cost_s"]["rtl"] = checked["wall_s"]
        point["rtl"] = {k: checked.get(k) for k in ("samples", "mismatches", "rtl_cycles",
                                                     "model_cycles")}
        if checked["status"] != "ok":
            point.update(status="failed", reason=checked["reason"])
    return point


def explore(source, space, points, out, client, *, seed=0, stream=None):
    """``run_sweep``, then the folder's outputs (``sw.explore.report``).

    Returns ``(results, the console table of the fronts, points whose RTL run
    differed from the models)``.
    """
    from sw.explore.report import front_table, write_outputs
    started = time.monotonic()
    results = run_sweep(source, space, points, out, client, seed=seed, stream=stream)
    summary = {"network": source["name"], "points_in_grid": space.size(),
               "measure": space.measure, "seed": seed,
               "wall_s": round(time.monotonic() - started, 1)}
    found = write_outputs(results, out, summary)
    failed_rtl = sum(1 for r in results if r["status"] == "failed" and r.get("rtl"))
    return results, front_table(results, found), failed_rtl
