"""Cycle model of the EIE dataflow: cycles, load balance and utilization.

Per layer and input vector:

* The central unit finds the non-zero input activations in order (leading
  non-zero detection) and broadcasts one ``(j, a_j)`` per cycle, but only in
  a cycle where every PE's activation queue has room (``queue_depth``);
  a broadcast is in the queues from the next cycle on.
* A PE with no column in progress pops the oldest queued activation. It then
  spends one cycle per entry of its slice of column ``j`` (non-zeros and
  padding zeros alike), the first in the cycle of the pop; a column with no
  entries still costs the pop's cycle.
* A cycle in which a PE has no column and an empty queue, before the layer
  is done, is a starvation cycle. The layer is done when every broadcast is
  made and every PE has finished; the result write-back then takes one cycle
  per row of the largest slice (each PE writes its own rows).

Load-balance efficiency = 1 - starvation / (PEs x compute cycles);
PE utilization = useful MACs (real non-zeros x non-zero activations) /
(PEs x compute cycles), against the ceiling of one MAC per PE per cycle.
"""

from collections import deque

import numpy as np

__all__ = ["layer_cycles", "network_cycles"]


def layer_cycles(layer, activations, queue_depth):
    """Cycle figures of one ``Layer`` (or ``EieLayer``) for one activation vector."""
    eie = getattr(layer, "eie", layer)
    if queue_depth < 1:
        raise ValueError(f"queue depth must be >= 1, not {queue_depth}")
    entries = eie.entries()  # (pes, cols)
    real = np.zeros_like(entries)  # entries that are not padding
    for pe in range(eie.pes):
        upto = np.concatenate([[0], np.cumsum(eie.v[pe] != 0)])
        real[pe] = upto[eie.ptr[pe, 1:]] - upto[eie.ptr[pe, :-1]]
    columns = [j for j in np.flatnonzero(np.asarray(activations) != 0)]
    pes = eie.pes
    queues = [deque() for _ in range(pes)]
    left = [0] * pes
    cycles = starvation = 0
    sent = 0
    while sent < len(columns) or any(left) or any(queues):
        for pe in range(pes):
            if left[pe] == 0 and queues[pe]:
                left[pe] = max(1, int(entries[pe, queues[pe].popleft()]))
            if left[pe]:
                left[pe] -= 1
            else:
                starvation += 1
        if sent < len(columns) and all(len(q) < queue_depth for q in queues):
            for q in queues:
                q.append(columns[sent])
            sent += 1
        cycles += 1
    useful = int(sum(real[:, j].sum() for j in columns))
    compute = max(cycles, 1)
    writeback = max(eie.rows_of(pe) for pe in range(pes))
    return {
        "compute_cycles": cycles, "writeback_cycles": writeback,
        "cycles": cycles + writeback, "broadcasts": len(columns),
        "starvation_cycles": starvation, "useful_macs": useful,
        "load_balance_efficiency": 1 - starvation / (pes * compute),
        "pe_utilization": useful / (pes * compute),
    }


def network_cycles(model, activations_per_layer, queue_depth):
    """Per-layer figures summed over a batch: ``[{...}, ...]`` and totals.

    ``activations_per_layer[l]`` holds layer ``l``'s input vectors (B, cols),
    as the golden model's trace gives them.
    """
    layers = []
    for layer, acts in zip(model.layers, activations_per_layer):
        runs = [layer_cycles(layer, a, queue_depth) for a in acts]
        total = {k: sum(r[k] for r in runs) for k in ("compute_cycles", "writeback_cycles",
                                                      "cycles", "broadcasts",
                                                      "starvation_cycles", "useful_macs")}
        pe_cycles = model.pes * max(total["compute_cycles"], 1)
        total["load_balance_efficiency"] = 1 - total["starvation_cycles"] / pe_cycles
        total["pe_utilization"] = total["useful_macs"] / pe_cycles
        total["samples"] = len(runs)
        layers.append(total)
    cycles = sum(l["cycles"] for l in layers)
    return layers, {"cycles": cycles, "samples": layers[0]["samples"] if layers else 0}
