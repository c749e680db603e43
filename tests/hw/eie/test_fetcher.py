"""The EIE word fetcher alone, in Amaranth's simulator: words written into a
bank come back, and a scan reads exactly the words holding a non-zero
activation of the golden model's layer inputs, in order."""

import random

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data

from hw.eie.config import EieConfig
from hw.eie.fetcher import WordFetcher
from sw.flows.testbench.amaranth import StreamSink, run_testbench
from sw.formats.synthetic import random_inputs, random_model
from sw.golden.cycles import FETCH_LATENCY, FETCH_SLOTS
from sw.golden.eie import infer
from sw.spec.packing import pack

PES = 4
SIZES = [30, 23, 9]


def config(pes=PES, **overrides):
    return EieConfig(pes=pes, max_cols=32, nnz_depth=256, ptr_depth=128, rows_per_pe=8,
                     bias_depth=16, max_layers=2, **overrides).validate()


def layer_input(seed):
    """A layer input of the golden model: ReLU leaves whole words of zeros."""
    model = random_model(seed, SIZES, PES, density=0.3)
    _, acts = infer(model, random_inputs(seed, 2, SIZES[0], zero_rows=()), trace=True)
    return acts[1][1]


def words_of(a, n, bits):
    """The vector as words of ``n`` lanes (padded with zeros) and their lanes' flags."""
    a = list(a) + [0] * (-len(a) % n)
    return [(pack_word(a[w:w + n], bits), sum(1 << k for k in range(n) if a[w + k]))
            for w in range(0, len(a), n)]


def pack_word(values, bits):
    return pack(data.ArrayLayout(signed(bits), len(values)), values)


def simulate(c, vectors, *, scan_bank, ptr_base, layer_words, seed, ready_stall=0.3,
             reads=()):
    """Write ``vectors`` (bank: vector), read ``reads`` back, then scan
    ``scan_bank``; returns (words read back, [(cycle, fetched word)], cycles)."""
    dut = WordFetcher(c)
    sink = StreamSink(dut.words, random.Random(seed), ready_stall)
    fetched, read_back = [], []

    async def bench(ctx):
        for bank, a in vectors.items():
            for addr, (word, lanes) in enumerate(words_of(a, c.pes, c.act_bits)):
                ctx.set(dut.write.payload, {"addr": addr, "bank": bank, "data": word,
                                            "lanes": lanes})
                ctx.set(dut.write.valid, 1)
                await ctx.tick()
        ctx.set(dut.write.valid, 0)
        await ctx.tick()  # the last write lands now (writes are registered)
        for bank, addr in reads:
            ctx.set(dut.src, bank)
            ctx.set(dut.read_addr, addr)
            await ctx.tick()
            read_back.append(ctx.get(dut.word))
        ctx.set(dut.src, scan_bank)
        ctx.set(dut.ptr_base, ptr_base)
        ctx.set(dut.layer_words, layer_words)
        ctx.set(dut.gather, 1)
        await ctx.tick()
        ctx.set(dut.gather, 0)
        ctx.set(dut.begin, 1)
        await ctx.tick()
        ctx.set(dut.begin, 0)
        ctx.set(dut.scan, 1)
        for cycle in range(500):
            sink.ready(ctx)
            if (p := sink.collect(ctx)) is not None:
                fetched.append((cycle, (p.vals, p.lanes, p.ptr)))
            if not ctx.get(dut.busy):
                return cycle
            await ctx.tick()
        raise AssertionError("the scan did not end")

    cycles = run_testbench(dut, bench)
    return read_back, fetched, cycles


def expected_words(a, c, ptr_base):
    """Words of the vector holding a non-zero: (word, lanes, first pointer)."""
    return [(word, lanes, ptr_base + w * c.pes)
            for w, (word, lanes) in enumerate(words_of(a, c.pes, c.act_bits)) if lanes]


@pytest.mark.parametrize("sequential", [False, True], ids=["tree", "sequential"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_scan_reads_the_words_holding_a_non_zero(sequential, seed):
    c = config(sequential_scan=sequential)
    a = layer_input(seed)
    other = layer_input(seed + 10)
    words = -(-len(a) // c.pes)
    assert 0 < np.count_nonzero(a) < len(a)
    _, fetched, _ = simulate(c, {0: other, 1: a}, scan_bank=1, ptr_base=37,
                             layer_words=words, seed=seed)
    got = [w for _, w in fetched]
    assert got == expected_words(a, c, 37)
    # The other bank's words would give another sequence.
    assert got != expected_words(other, c, 37)
    # Every non-zero activation of the golden model's vector, once, in order.
    columns = [p - 37 + k for _, lanes, p in got for k in range(c.pes) if lanes >> k & 1]
    assert columns == np.flatnonzero(a).tolist()


def test_scan_stops_at_the_layers_words():
    c = config()
    a = layer_input(4)
    _, fetched, _ = simulate(c, {0: a}, scan_bank=0, ptr_base=0, layer_words=3, seed=4)
    assert [w for _, w in fetched] == expected_words(a[:3 * c.pes], c, 0)


@pytest.mark.parametrize("spram", [False, True])
def test_words_written_are_read_back(spram):
    # The iCE40 organization fits a UP5K with two PEs.
    c = config(pes=2, spram=spram, sequential_scan=spram, entries_per_word=2)
    a, b = layer_input(5), layer_input(6)
    reads = [(0, 0), (1, 0), (0, 5), (1, 7)]
    read_back, _, _ = simulate(c, {0: a, 1: b}, scan_bank=0, ptr_base=0, layer_words=0,
                               seed=5, reads=reads)
    words = {0: words_of(a, c.pes, c.act_bits), 1: words_of(b, c.pes, c.act_bits)}
    assert read_back == [words[bank][addr][0] for bank, addr in reads]


def test_one_word_a_cycle_after_the_fetch_latency():
    """All words non-zero and never stalled: the first is taken FETCH_LATENCY
    cycles after the scan's first read, the rest one a cycle (the FIFO's
    FETCH_SLOTS slots cover the late count of a freed slot)."""
    c = config()
    a = np.arange(1, 29)
    _, fetched, cycles = simulate(c, {0: a}, scan_bank=0, ptr_base=0, layer_words=7, seed=0,
                                  ready_stall=0)
    assert FETCH_SLOTS == 3
    assert [t for t, _ in fetched] == [FETCH_LATENCY + k for k in range(7)]
    assert cycles == FETCH_LATENCY + 7
