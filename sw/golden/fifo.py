"""A plain D-entry FIFO per PE: a second opinion on the EIE cycle model.

Naive on purpose, with none of the engine's pipeline latencies (compare
``sw.golden.cycles``, which follows the RTL register for register). Each
cycle ``t = 0, 1, ...``:

1. every PE that has no work left pops the head of its FIFO, if any, and
   starts on that column: one cycle per entry (padding entries included);
   a column with no entry for it is dropped as it is popped, and the next
   popped in the same cycle (an empty column costs nothing, as in the
   engine's entry stage);
2. the central unit, if a non-zero activation is left, broadcasts the next
   one into every PE's FIFO when every FIFO holds fewer than ``D`` entries
   after this cycle's pops (a pop frees its slot in its own cycle); a PE can
   pop it from the next cycle;
3. every PE with work left works one cycle of it.

Load-balance efficiency is the cycle model's: working PE-cycles / (PEs x
window), the window running from the first cycle any PE works to the last.
``balance_bound`` is what no queue can beat: perfect-balance cycles (all
PEs' work / PEs) over the busiest PE's cycles.
"""

from collections import deque

import numpy as np

__all__ = ["fifo_cycles", "layer_fifo_cycles", "balance_bound", "column_work"]


def column_work(layer, activations):
    """Cycles each PE spends on each broadcast column, in broadcast order:
    ``(pes, non-zero activations)``: its entries, 0 for an empty column."""
    eie = getattr(layer, "eie", layer)
    columns = np.flatnonzero(np.asarray(activations) != 0)
    return eie.entries()[:, columns]


def fifo_cycles(work, queue_depth):
    """Figures of a plain ``queue_depth``-entry FIFO per PE.

    ``work[k][i]`` is the cycles PE ``k`` spends on the ``i``-th broadcast
    column (0: the column is dropped as it is popped). Returns ``cycles`` (from the first broadcast to the
    last working cycle, both included), ``working_cycles``,
    ``window_cycles`` and ``load_balance_efficiency``.
    """
    if queue_depth < 1:
        raise ValueError(f"queue depth must be >= 1, not {queue_depth}")
    work = [[int(w) for w in row] for row in work]
    pes = len(work)
    columns = len(work[0]) if pes else 0
    fifos = [deque() for _ in range(pes)]
    left = [0] * pes  # cycles left on the column a PE works on
    sent = 0
    working = 0
    first = last = None
    t = 0
    while sent < columns or any(fifos) or any(left):
        for k in range(pes):
            while left[k] == 0 and fifos[k]:
                left[k] = work[k][fifos[k].popleft()]
        if sent < columns and all(len(f) < queue_depth for f in fifos):
            for f in fifos:
                f.append(sent)
            sent += 1
        for k in range(pes):
            if left[k]:
                left[k] -= 1
                working += 1
                first = t if first is None else first
                last = t
        t += 1
    window = 0 if first is None else last - first + 1
    return {"cycles": 0 if last is None else last + 1, "working_cycles": working,
            "window_cycles": window,
            "load_balance_efficiency": working / (pes * window) if window else 1.0}


def layer_fifo_cycles(layer, activations, queue_depth):
    """``fifo_cycles`` of one layer (``Layer`` or ``EieLayer``) and activation vector."""
    return fifo_cycles(column_work(layer, activations), queue_depth)


def balance_bound(work):
    """Perfect-balance cycles over the busiest PE's: ``work`` as ``fifo_cycles``'."""
    per_pe = np.asarray(work, dtype=np.int64).sum(axis=1)
    return float(per_pe.sum() / (len(per_pe) * per_pe.max())) if per_pe.max() else 1.0
