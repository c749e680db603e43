"""``eiegen bench imported``: networks brought as ONNX files, compressed and run whole.

Each network is trained here in float (``sw.train.nn``), exported to ONNX
the way a framework exports it (``sw.formats.onnx_export``: PyTorch's Gemm
with ``transB = 1``, or Keras's MatMul + Add; batch normalization as its
own node; a final Softmax), and from then on treated as a user's file:
imported (``sw.formats.onnx_graph``), compressed on its data with labels
(``sw.compress.imported``), run by the golden model on the held-out
digits and by the generated cores in Verilator on some of them
(``sw.flows.network``), with the cycles of every layer on its core.
"""

import tempfile
import time
from pathlib import Path

import numpy as np

from sw.benchmarks.report import write_section

__all__ = ["NETWORKS", "bench_imported"]


def _mlp(rng):
    sizes = [784, 300, 100, 10]
    layers = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append({"kind": "dense", "W": rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)),
                       "b": np.zeros(n_out)})
        if i < len(sizes) - 2:
            layers.append({"kind": "relu"})
    return layers


def _cnn(rng):
    def conv(k, c, r, **extra):
        return {"kind": "conv", "W": rng.normal(0, np.sqrt(2 / (c * r * r)), (k, c, r, r)),
                "b": np.zeros(k), **extra}

    def bn(n):
        return {"kind": "bn", "gamma": np.ones(n), "beta": np.zeros(n), "mean": np.zeros(n),
                "var": np.ones(n)}
    return [conv(8, 1, 3, pads=(1, 1, 1, 1)), bn(8), {"kind": "relu"},
            {"kind": "pool", "mode": "max", "kernel": (3, 3), "stride": (3, 3)},
            conv(16, 8, 3, stride=(2, 2), pads=(1, 1, 1, 1)), {"kind": "relu"},
            {"kind": "pool", "mode": "avg", "kernel": (2, 2), "stride": (1, 1),
             "pads": (0, 0, 1, 1)},
            {"kind": "flatten"},
            {"kind": "dense", "W": rng.normal(0, np.sqrt(2 / 400), (64, 400)), "b": np.zeros(64)},
            {"kind": "relu"},
            {"kind": "dense", "W": rng.normal(0, np.sqrt(2 / 64), (10, 64)), "b": np.zeros(10)}]


#: name: (what it is, float layers, input shape, export options, training epochs,
#: the conv cores its RTL runs on).
NETWORKS = {
    "lenet-300-100": ("784-300-100-10 MLP, Gemm transB=1 as PyTorch exports it", _mlp,
                      (784,), dict(dense="gemm", softmax=True), 20, [None]),
    "mnist-cnn": ("conv 3x3 SAME + BN, max 3x3/3, conv 3x3 stride 2, average 2x2 (padded), "
                  "two dense layers; MatMul + Add as Keras exports it, opset 9", _cnn,
                  (1, 28, 28), dict(dense="matmul", opset=9, softmax=True), 12,
                  ["winograd", "mac"]),
}


def bench_imported(out_dir, progress=print, rtl_samples=10):
    """Import, compress and run every network of ``NETWORKS``; write the section."""
    import onnx
    from onnx.reference import ReferenceEvaluator

    from sw.compress.imported import compress_network
    from sw.flows import network as network_flow
    from sw.formats.onnx_export import export_onnx
    from sw.formats.onnx_graph import load_onnx
    from sw.golden.network import infer
    from sw.train import nn
    from sw.train.datasets import load
    data = load("mnist")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, (what, build, shape, export, epochs, cores) in NETWORKS.items():
            x = data.scaled(data.x_train).reshape((-1,) + shape)
            xt = data.scaled(data.x_test).reshape((-1,) + shape)
            raw_aug, y_aug = data.augmented()
            progress(f"{name}: training the float network ({epochs} epochs on "
                     f"{len(raw_aug)} digits: the training split and its shifted copies)")
            layers = build(np.random.default_rng(0))
            started = time.monotonic()
            nn.train(layers, data.scaled(raw_aug).reshape((-1,) + shape), y_aug, epochs=epochs,
                     lr=0.05, lr_decay=0.8, seed=0, progress=progress, label=name)
            train_s = time.monotonic() - started
            path = Path(tmp) / f"{name}.onnx"
            onnx.save(export_onnx(layers, shape, name=name, **export), path)
            imported = load_onnx(path)
            # What the ONNX reference predicts, against the imported network run by eiegen.
            reference = ReferenceEvaluator(str(path)).run(
                None, {imported.input_name: xt.astype(np.float32)})[0].argmax(axis=1)
            same = int(np.sum(nn.predict(imported.layers, xt) == reference))
            started = time.monotonic()
            model, report = compress_network(imported.layers, imported.input_shape, x,
                                             labels=data.y_train, eval_x=xt,
                                             eval_labels=data.y_test, name=name,
                                             progress=progress)
            compress_s = time.monotonic() - started
            predictions = infer(model, xt).reshape(len(xt), -1).argmax(axis=1)
            runs = []
            for core in cores:
                progress(f"{name}: {rtl_samples} digits on the generated cores"
                         + (f" (convolutions on {core})" if core else ""))
                y, sim = network_flow.run(model, xt[:rtl_samples], conv_core=core or "winograd",
                                          progress=progress)
                if sim["mismatches"]:
                    raise AssertionError(f"{name}: {sim['mismatches']} RTL outputs differ "
                                         f"from the golden model")
                runs.append(sim)
            rows.append(dict(name=name, what=what, notes=imported.notes, report=report,
                             same_as_reference=same,
                             golden_acc=float(np.mean(predictions == data.y_test)),
                             runs=runs, train_s=train_s, compress_s=compress_s,
                             layers=model.layers))
    body = _markdown(rows, len(data.x_test), rtl_samples)
    write_section(Path(out_dir) / "benchmarks.md", "imported", body)
    progress(f"wrote the imported-network section of {Path(out_dir) / 'benchmarks.md'}")
    return rows


def _markdown(rows, test_digits, rtl_samples):
    lines = [
        "## Networks brought as ONNX files (`eiegen bench imported`)",
        "",
        "Each network is trained in float here, exported to ONNX as a framework exports it, "
        "and from then on handled as a user's file: `eiegen compress --onnx` (import, "
        "pruning with the quality searched, masked retraining, k-means sharing with centroid "
        f"fine-tuning, radix points from the data), then the golden model on the {test_digits} "
        "held-out MNIST digits and the generated cores in Verilator on "
        f"{rtl_samples} of them, each layer's RTL outputs feeding the next layer's core. "
        "Accuracy: `float` is the imported network run by eiegen (its predictions are "
        "compared with `onnx.reference.ReferenceEvaluator` running the file), `fixed point` "
        "the golden integer model, "
        "equal to the RTL's outputs (0 mismatches on every run below).",
        "",
        "| network | same argmax as onnx.reference | float | pruned | shared | fixed point | "
        "loss | ratio | density | train s | compress s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        acc = r["report"]["accuracy"]
        lines.append(
            f"| {r['name']} | {r['same_as_reference']} of {test_digits} | "
            f"{100 * acc['float']:.2f}% | {100 * acc['pruned']:.2f}% | "
            f"{100 * acc['shared']:.2f}% | {100 * acc['fixed_point']:.2f}% | "
            f"{100 * (acc['float'] - acc['fixed_point']):+.2f} | "
            f"{r['report']['compression_ratio']:.1f}x | {100 * r['report']['density']:.1f}% | "
            f"{r['train_s']:.0f} | {r['compress_s']:.0f} |")
    lines += ["", "Cycles per inference, per stage and core (RTL):", "",
              "| network | conv core | stages: layers core cycles | cycles/inference | "
              f"RTL wall s ({rtl_samples} digits) |", "|---|---|---|---:|---:|"]
    for r in rows:
        for sim in r["runs"]:
            stages = "; ".join(
                f"{'+'.join(map(str, s['layers']))} {s['core']}"
                + ("+pool" if s["kind"] == "conv" else "")
                + f" {s['cycles'] / sim['samples']:.0f}" for s in sim["layers"])
            convs = any(s["kind"] == "conv" for s in sim["layers"])
            lines.append(f"| {r['name']} | {sim['conv_core'] if convs else '-'} | {stages} | "
                         f"{sim['cycles_per_inference']:.0f} | {sim['wall_s']:.1f} |")
    lines += [""]
    for r in rows:
        notes = "; ".join(r["notes"]) or "none"
        lines.append(f"- {r['name']}: {r['what']}. Import notes: {notes}. Pruning quality "
                     f"{r['report']['qualities'][0]} (searched), "
                     f"{100 * r['report']['density']:.1f}% of the weights kept.")
    mlp = next((r for r in rows if r["name"] == "lenet-300-100"), None)
    if mlp:
        lines += ["", f"Against the anchor (Deep Compression: LeNet-300-100 40x smaller with no "
                  f"loss; the bundled preset, trained and pruned by eiegen in three rounds, "
                  f"41.2x): the imported LeNet-300-100 compresses "
                  f"{mlp['report']['compression_ratio']:.1f}x. The search stops pruning where "
                  f"accuracy on a tenth of the user's data falls half a point under the float "
                  f"network's, and that data is what the float network was trained on, so it "
                  f"stops early; a user's own validation split would let it go further."]
    lines += ["", "The conv stages' cycles are the conv core's plus the pooling unit's, each "
              "fed by the host one beat a cycle when it is ready: a board would overlap them. "
              "The MAC array runs a convolution as a matrix product of its strided windows, "
              "the Winograd tile as stride-1 tiles of the padded image, every stride-th "
              "output kept, so a stride-2 layer costs it four times its outputs."]
    return "\n".join(lines)
