"""The EIE layer sequencer alone, in Amaranth's simulator.

The bench stands in for its neighbours: an activation memory built from the
words the sequencer writes (read a cycle after the address, as the word
fetcher's), a scan that takes a few cycles, and PEs that give back the
golden model's next activations ``WRITEBACK_LATENCY`` cycles after each
write-back request. The sequencer must write the input masked to the layer's
columns, run each layer's phases with the layer table's fields, write every
layer's results into the other bank, and stream out the golden outputs.
"""

import random

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data

from hw.eie.config import MEMORIES, layer_fields
from hw.eie.sequencer import LayerSequencer
from sw.flows.eie_image import build_image, config_for
from sw.flows.testbench.amaranth import run_testbench
from sw.formats.synthetic import random_inputs, random_model
from sw.golden.cycles import pe_figures
from sw.golden.eie import infer
from sw.spec.packing import pack, pack_fields

SCAN_CYCLES = 5  # cycles the stand-in scan stays busy
# The cycle model's write-back latency (these cases have no SPRAM).
WRITEBACK_LATENCY = pe_figures()["writeback"]


def case(seed, pes, sizes=(13, 20, 7)):
    model = random_model(seed, list(sizes), pes, density=0.3)
    c = config_for(model)
    x = random_inputs(seed, 1, sizes[0], zero_rows=())
    y, acts = infer(model, x, trace=True)
    return model, c, build_image(model, c), [a[0] for a in acts]


def words(values, n, bits):
    values = list(values) + [0] * (-len(values) % n)
    lanes = data.ArrayLayout(signed(bits), n)
    return [pack(lanes, values[w:w + n]) for w in range(0, len(values), n)]


def lane_flags(values, n):
    values = list(values) + [0] * (-len(values) % n)
    return [sum(1 << k for k in range(n) if values[w + k]) for w in range(0, len(values), n)]


def simulate(c, layers, vector, acts, *, seed, garbage=0, loads=(), stall=0.3):
    """Run one vector; returns the trace: writes, per-cycle phases, outputs."""
    dut = LayerSequencer(c, layers)
    rng = random.Random(seed)
    n = c.pes
    beats = [list(vector[w:w + n]) + [garbage] * (w + n - len(vector))
             for w in range(0, len(vector), n)]
    t = {"writes": [], "cycles": [], "outputs": [], "wb": []}

    async def bench(ctx):
        memory = {}
        pending = []  # (cycle due, row, keep bits) of write-back requests
        scan_left = None
        read_word = 0
        for load in loads:
            ctx.set(dut.load.payload, load)
            ctx.set(dut.load.valid, 1)
            await ctx.tick()
            ctx.set(dut.load.valid, 0)
        sent, started = 0, False
        for cycle in range(3000):
            offering = sent < len(beats) and rng.random() >= stall
            if offering:
                ctx.set(dut.input.payload, beats[sent])
            ctx.set(dut.input.valid, offering)
            if offering and ctx.get(dut.input.ready):
                sent += 1
            # The stand-in scan: busy for SCAN_CYCLES once `scan` rises.
            scanning = ctx.get(dut.scan)
            if scanning and scan_left is None:
                scan_left = SCAN_CYCLES
            ctx.set(dut.fetch_busy, bool(scan_left))
            ctx.set(dut.word_done, 1)
            if scan_left:
                scan_left -= 1
            if not scanning:
                scan_left = None
            ctx.set(dut.pes_idle, 1)
            # The stand-in PEs: results WRITEBACK_LATENCY cycles after the request.
            layer = ctx.get(dut.layer)
            if ctx.get(dut.wb_valid):
                row, keep = ctx.get(dut.wb_addr), ctx.get(dut.wb_keep)
                pending.append((cycle + WRITEBACK_LATENCY, row, keep, layer))
                t["wb"].append((cycle, layer, row, keep))
            due = [p for p in pending if p[0] == cycle]
            pending = [p for p in pending if p[0] != cycle]
            if due:
                _, row, keep, l = due[0]
                out = acts[l + 1]
                vals = [int(out[row * n + k]) if keep >> k & 1 else 0 for k in range(n)]
                ctx.set(dut.wb_done, 1)
                ctx.set(dut.wb_result, words(vals, n, c.act_bits)[0])
                ctx.set(dut.wb_nonzero, sum(1 << k for k in range(n) if vals[k]))
            else:
                ctx.set(dut.wb_done, 0)
            ctx.set(dut.word, read_word)
            ready = rng.random() >= stall
            ctx.set(dut.output.ready, ready)
            if ctx.get(dut.output.valid) and ready:
                t["outputs"].append(list(ctx.get(dut.output.payload)))
            cfg = ctx.get(dut.layer_config)
            t["cycles"].append({
                "clear": ctx.get(dut.clear), "gather": ctx.get(dut.gather),
                "begin": ctx.get(dut.begin), "scan": scanning, "layer": layer,
                "src": ctx.get(dut.src), "words": ctx.get(dut.layer_words),
                "busy": ctx.get(dut.busy), "in_ready": ctx.get(dut.input.ready),
                "config": {k: getattr(cfg, k) for k in ("index", "ptr_base", "bias_base",
                                                          "coarse_shift", "round", "relu")}})
            if ctx.get(dut.write.valid):
                w = ctx.get(dut.write.payload)
                t["writes"].append({"layer": layer, "busy": ctx.get(dut.busy), "bank": w.bank,
                                    "addr": w.addr, "data": w.data, "lanes": w.lanes})
                memory[w.bank, w.addr] = w.data
            # The fetcher's read port: the word a cycle after its address.
            read_word = memory.get((ctx.get(dut.src), ctx.get(dut.read_addr)), 0)
            started = started or ctx.get(dut.busy)
            if started and not ctx.get(dut.busy):
                return
            await ctx.tick()
        raise AssertionError("the network did not finish")

    run_testbench(dut, bench)
    return t


@pytest.mark.parametrize("pes", [1, 2, 4])
@pytest.mark.parametrize("seed", [1, 2])
def test_runs_the_network_through_its_neighbours(pes, seed):
    model, c, image, acts = case(seed, pes)
    n = c.pes
    t = simulate(c, image.layers, [int(v) for v in acts[0]], acts, seed=seed, garbage=77)
    # The input, masked past the first layer's columns (the bench's 77s),
    # into bank 0 with its non-zero lanes.
    inputs = [w for w in t["writes"] if not w["busy"]]
    expect = words(acts[0], n, c.act_bits)
    assert [(w["bank"], w["addr"], w["data"]) for w in inputs] == \
        [(0, a, word) for a, word in enumerate(expect)]
    assert [w["lanes"] for w in inputs] == lane_flags(acts[0], n)
    # Each layer's results into the bank it does not read, from word 0.
    for l in range(len(model.layers)):
        got = [w for w in t["writes"] if w["busy"] and w["layer"] == l]
        expect = words(acts[l + 1], n, c.act_bits)
        assert [(w["bank"], w["addr"], w["data"]) for w in got] == \
            [((l + 1) % 2, a, word) for a, word in enumerate(expect)]
        assert [w["lanes"] for w in got] == lane_flags(acts[l + 1], n)
    # The outputs stream out: the golden model's last layer.
    assert t["outputs"] == [list(row) for row in np.reshape(
        list(acts[-1]) + [0] * (-len(acts[-1]) % n), (-1, n))]


def test_phases_and_layer_fields():
    model, c, image, acts = case(3, 2)
    t = simulate(c, image.layers, [int(v) for v in acts[0]], acts, seed=3)
    cycles = t["cycles"]
    starts = [k for k, s in enumerate(cycles) if s["clear"]]
    assert len(starts) == len(model.layers)
    ptr_base = bias_base = 0
    for l, (k, layer) in enumerate(zip(starts, model.layers)):
        # START, FIRST and PICK a cycle each, then the scan.
        assert [cycles[k + 1]["gather"], cycles[k + 2]["begin"], cycles[k + 3]["scan"]] == \
            [1, 1, 1]
        assert cycles[k + 3 + SCAN_CYCLES]["scan"] == 1
        assert cycles[k + 4 + SCAN_CYCLES]["scan"] == 0
        # The layer's fields as the image packed them, decoded for the PEs.
        s = cycles[k + 1]
        assert s["layer"] == l and s["src"] == l % 2
        assert s["words"] == -(-layer.cols // c.pes)
        assert s["config"] == {"index": l, "ptr_base": ptr_base, "bias_base": bias_base,
                               "coarse_shift": max(layer.shift - 1, 0),
                               "round": int(layer.shift > 0), "relu": int(layer.relu)}
        ptr_base += layer.cols + 1
        bias_base += -(-layer.rows // c.pes)
        # Write-back: a row of every PE a cycle, keep bits for rows of the layer.
        wb = [w for w in t["wb"] if w[1] == l]
        rows_pe = -(-layer.rows // c.pes)
        assert [w[2] for w in wb] == list(range(rows_pe))
        assert [w[0] for w in wb] == list(range(wb[0][0], wb[0][0] + rows_pe))
        assert [w[3] for w in wb] == [sum(1 << p for p in range(c.pes) if r * c.pes + p
                                          < layer.rows) for r in range(rows_pe)]
        # The cycle model's write-back: rows_pe + WRITEBACK_LATENCY cycles,
        # then the next layer starts.
        if l + 1 < len(starts):
            assert starts[l + 1] - wb[0][0] == rows_pe + WRITEBACK_LATENCY


def test_a_new_input_count_is_taken():
    """Entry 0 loaded at run time over the baked one: the input is as long
    as the new count says, and the input is not ready the cycle after."""
    model, c, image, acts = case(4, 2)
    fields = layer_fields(c)
    layer = model.layers[0]
    shorter = layer.cols - 4
    entry = pack_fields(fields, {"cols": shorter, "rows": layer.rows,
                                 "words": -(-shorter // c.pes), "ptr_base": 0,
                                 "bias_base": 0, "shift": layer.shift, "relu": layer.relu,
                                 "last": 0})
    load = {"mem": MEMORIES["layers"], "pe": 0, "addr": 0, "data": entry}
    vector = [int(v) for v in acts[0][:shorter]]
    t = simulate(c, image.layers, vector, acts, seed=4, loads=[load], garbage=55)
    inputs = [w["data"] for w in t["writes"] if not w["busy"]]
    assert inputs == words(vector, c.pes, c.act_bits)
    assert [s["in_ready"] for s in t["cycles"][:2]] == [0, 1]


def test_a_table_longer_than_max_layers_is_refused():
    model, c, image, _ = case(5, 2)
    with pytest.raises(ValueError, match=r"^the layer table holds 2 entries, not 3 "
                                         r"\(option --max-layers\)$"):
        LayerSequencer(c, image.layers + [0])
