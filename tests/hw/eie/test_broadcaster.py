"""The EIE broadcaster alone, in Amaranth's simulator: the non-zeros of the
golden model's layer inputs go out one a cycle, lowest lane first, only when
every PE is ready, as many as the cycle model counts."""

import random

import numpy as np
import pytest
from amaranth.hdl import signed
from amaranth.lib import data

from hw.eie.broadcaster import Broadcaster
from hw.eie.config import EieConfig
from sw.flows.testbench.amaranth import StreamSink, StreamSource, run_testbench
from sw.formats.synthetic import random_inputs, random_model
from sw.golden.cycles import layer_cycles
from sw.golden.eie import infer
from sw.spec.packing import pack

SIZES = [30, 23, 9]


def config(pes):
    return EieConfig(pes=pes, max_cols=32, nnz_depth=256, ptr_depth=128, rows_per_pe=32,
                     bias_depth=64, max_layers=2).validate()


def golden(seed, pes):
    """A model, its layer-1 input of the golden model, and that layer."""
    model = random_model(seed, SIZES, pes, density=0.3)
    _, acts = infer(model, random_inputs(seed, 2, SIZES[0], zero_rows=()), trace=True)
    return model.layers[1], acts[1][1]


def fetched_words(a, c, ptr_base):
    """The vector as the fetcher gives it: words with a non-zero lane."""
    a = list(a) + [0] * (-len(a) % c.pes)
    lanes = data.ArrayLayout(signed(c.act_bits), c.pes)
    return [{"vals": pack(lanes, a[w:w + c.pes]),
             "lanes": sum(1 << k for k in range(c.pes) if a[w + k]), "ptr": ptr_base + w}
            for w in range(0, len(a), c.pes) if any(a[w:w + c.pes])]


def simulate(c, words, *, seed, valid_stall=0.3, ready_stall=0.3, clear_at=None):
    """Offer ``words``; returns [(cycle, ptr, act)] broadcast, and whether
    ``push.valid`` was ever high without ``push.ready``."""
    dut = Broadcaster(c)
    rng = random.Random(seed)
    source = StreamSource(dut.words, words, rng, valid_stall)
    # Pushes are seen whether taken or not: one not taken is a fault.
    sink = StreamSink(dut.push, rng, ready_stall)
    pushes, bad = [], []

    async def bench(ctx):
        ctx.set(dut.enable, 1)
        for cycle in range(1000):
            source.offer(ctx)
            ready = sink.ready(ctx)
            ctx.set(dut.clear, cycle == clear_at)
            if ctx.get(dut.push.valid):
                bad.extend([cycle] if not ready else [])
                p = ctx.get(dut.push.payload)
                pushes.append((cycle, p.ptr, p.act))
            source.taken(ctx)
            if source.done and ctx.get(dut.done) and cycle > 2:
                if not ctx.get(dut.push.valid) or clear_at is not None:
                    return
            await ctx.tick()
        raise AssertionError("the broadcast did not end")

    run_testbench(dut, bench)
    return pushes, bad


@pytest.mark.parametrize("pes", [1, 4, 8])
@pytest.mark.parametrize("seed", [1, 2])
def test_every_non_zero_once_in_order(pes, seed):
    c = config(pes)
    layer, a = golden(seed, pes)
    pushes, bad = simulate(c, fetched_words(a, c, 40), seed=seed)
    assert bad == []
    expected = [(40 + j, int(a[j])) for j in np.flatnonzero(a)]
    assert [(p, v) for _, p, v in pushes] == expected
    # As many as the cycle model broadcasts for this layer and vector.
    assert len(pushes) == layer_cycles(layer, a, queue_depth=4)["broadcasts"]


def test_one_broadcast_a_cycle_when_never_stalled():
    c = config(4)
    _, a = golden(3, 4)
    pushes, _ = simulate(c, fetched_words(a, c, 0), seed=3, valid_stall=0, ready_stall=0)
    cycles = [t for t, _, _ in pushes]
    # The first the cycle after the first word is taken, then no gap.
    assert cycles == list(range(1, 1 + np.count_nonzero(a)))


def test_clear_drops_the_word_held():
    c = config(4)
    words = [{"vals": pack(data.ArrayLayout(signed(16), 4), [5, -6, 7, 8]), "lanes": 0b1111,
              "ptr": 0}]
    pushes, _ = simulate(c, words, seed=0, valid_stall=0, ready_stall=0, clear_at=2)
    # Taken in cycle 0; lanes 0 and 1 go out in cycles 1 and 2, then it is cleared.
    assert [(p, v) for _, p, v in pushes] == [(0, 5), (1, -6)]
