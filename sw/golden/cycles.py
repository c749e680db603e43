"""Cycle model of the EIE engine: cycles, load balance and utilization.

It follows the generated engine (``hw/eie``) register for register, so its
cycle counts equal the RTL's (a test checks it), but it runs in plain Python
on any model without a simulator. Per layer and input vector:

* ``START`` latches the layer's configuration, ``FIRST`` gathers the words
  of ``pes`` activations that hold a non-zero and ``PICK`` finds the first
  of them (a cycle each).
* ``SCAN``: a fetcher reads one such word a cycle into a three-word FIFO,
  counting a slot free only from the cycle after its word left; a word
  fetched in cycle ``f`` can be taken from cycle ``f + 2``. The broadcaster
  takes a word when it has none or in the cycle of its word's last
  broadcast, and sends one non-zero ``(j, a_j)`` a cycle, in a cycle where
  every PE holds fewer than ``queue_depth + queue`` broadcasts, counting
  the one in its broadcast register and those popped up to the last cycle
  (``queue``, one, is the cycles from a broadcast to its first chance of a
  pop, below): the credits of a queue of ``queue_depth`` entries and of the
  register in front of it, the skid slot for the broadcast the credit loop
  keeps in flight, so a PE that pops every cycle never stops the
  broadcasts, at any depth; words of zeros cost nothing (with
  ``sequential_scan`` the fetcher reads every word in turn, and a word of
  zeros costs it the cycle of its read, and its FIFO slot in the next,
  but never reaches the broadcaster). A broadcast
  decided in cycle ``e`` is in every PE's broadcast register in ``e + 1``
  and can be popped from ``e + 1`` (from the register if the PE's queue is
  empty; else it enters the queue, or waits in the register while the
  queue is full).
* A PE pops its next activation while its pointer read stage is empty or
  being emptied; the column's pointers are read in that stage, registered
  in the next, and its start and length registered in the third (with
  ``spram``, found from the read and registered in the second), each
  stage moving when the next is empty or moving. The entry stage takes
  a column when it is idle or on its last entry, then issues one entry a
  cycle; a column with no entry for the PE leaves the last pointer stage at
  once, dropped, without costing the entry stage a cycle (a column still
  takes its cycle in each pointer stage); each entry is in flight for
  five more cycles (sparse-matrix read and its register, entry register and
  codebook read, multiply, accumulate). These latencies are the hardware's
  own counts (``pe_figures``), as are the fetcher's (``fetch_figures``).
* ``DRAIN`` waits until every queue, stage and pipeline is empty, as each
  PE notes in a register: the cycle after it was empty but for at most its
  last entry's accumulate and nothing was pushed to it, so the first cycle
  it is empty (one ``DRAIN`` cycle if that already held in the last
  ``SCAN`` cycle).
* ``WRITEBACK``: one local row a cycle on every PE at once, results seven
  cycles later: ``rows_per_pe + 7`` cycles.

Load-balance efficiency = 1 - starvation bubbles / (PEs x window cycles)
= working PE-cycles / (PEs x window cycles): a PE works when it issues an
entry (an empty column costs it no cycle), and the window runs from the
first cycle any PE works to the last. A bubble is every PE-cycle of the
window in which that PE does not work, whatever it waits for (a broadcast,
its pointer stages, the other PEs to finish): a cycle in which every PE
waits is a bubble of each. The layer's fixed latencies (its start before the
first entry issues, the pipeline's drain after the last, write-back) are not
imbalance; PE utilization counts them: useful MACs (real non-zeros x
non-zero activations) / (PEs x all the layer's cycles), against the ceiling
of one MAC per PE per cycle.

Where the cycles go: ``cycles`` = ``start_cycles`` (before the first cycle
any PE works) + ``window_cycles`` (the compute phase, to the last) +
``drain_cycles`` (from then until write-back starts) + ``writeback_cycles``;
and the window's PE-cycles, ``PEs x window_cycles``, = ``useful_macs`` +
``padding_issues`` (padding entries issued) + ``starvation_cycles``.
"""

from collections import deque
from functools import lru_cache

import numpy as np

__all__ = ["layer_cycles", "network_cycles", "pe_figures", "fetch_figures"]


@lru_cache(maxsize=None)
def pe_figures(spram=False):
    """The PE's latencies as the generator builds them (``hw.eie.pe.pe_timing``),
    not restated here: ``queue`` (a broadcast can be popped this many cycles
    after it is decided), ``pointer_stages``, ``in_flight`` (cycles an issued
    entry is in flight after its issue cycle) and ``writeback``. They depend
    on the organization only (``spram``), not on the sizes."""
    from hw.eie.config import EieConfig
    from hw.eie.pe import pe_timing
    return pe_timing(EieConfig(spram=spram))


@lru_cache(maxsize=None)
def fetch_figures(sequential_scan=False, spram=False):
    """The word fetcher's figures as the generator builds them
    (``hw.eie.fetcher.fetch_timing``), not restated here: ``latency`` (a
    fetched word can be taken this many cycles after its read) and ``slots``
    (words the fetch FIFO holds)."""
    from hw.eie.config import EieConfig
    from hw.eie.fetcher import fetch_timing
    return fetch_timing(EieConfig(sequential_scan=sequential_scan, spram=spram))


#: Figures of the default organization, by the names the unit tests use;
#: found from the hardware when first asked for (``__getattr__``).
_FIGURES = {"FETCH_LATENCY": lambda: fetch_figures()["latency"],
            "FETCH_SLOTS": lambda: fetch_figures()["slots"],
            "WRITEBACK_LATENCY": lambda: pe_figures()["writeback"]}


def __getattr__(name):
    if name in _FIGURES:
        return _FIGURES[name]()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _real_entries(eie):
    """Non-padding entries of each PE in each column: (pes, cols)."""
    real = np.zeros((eie.pes, eie.cols), dtype=np.int64)
    for pe in range(eie.pes):
        upto = np.concatenate([[0], np.cumsum(eie.v[pe] != 0)])
        real[pe] = upto[eie.ptr[pe, 1:]] - upto[eie.ptr[pe, :-1]]
    return real


def layer_cycles(layer, activations, queue_depth, sequential_scan=False, spram=False):
    """Cycle figures of one ``Layer`` (or ``EieLayer``) for one activation vector
    (``sequential_scan`` and ``spram`` as the engine's ``EieConfig``)."""
    eie = getattr(layer, "eie", layer)
    if queue_depth < 1:
        raise ValueError(f"queue depth must be >= 1, not {queue_depth}")
    n = eie.pes
    figures = pe_figures(bool(spram))
    fetcher = fetch_figures(bool(sequential_scan), bool(spram))
    pipeline = figures["in_flight"]  # cycles an issued entry is in flight after its issue
    entries = eie.entries()
    activations = np.asarray(activations)
    words = [[j for j in range(w, min(w + n, eie.cols)) if activations[j] != 0]
             for w in range(0, eie.cols, n)]
    if not sequential_scan:
        words = [w for w in words if w]  # the tree skips words of zeros
    kept = [w for w in words if w]  # words that enter the FIFO

    queues = [deque() for _ in range(n)]  # (col, cycle it can be popped)
    # A PE's credits: its queue's depth and the broadcasts its credit loop
    # keeps in flight (as many as the cycles from a broadcast to its pop:
    # one, the broadcast register).
    credits = queue_depth + figures["queue"]
    # The pointer stages of each PE, read stage first, span register last:
    # whether each holds a column, and that column's entries.
    stages = figures["pointer_stages"]
    p_valid = [[False] * stages for _ in range(n)]
    p_entries = [[0] * stages for _ in range(n)]
    busy = [False] * n
    left = [0] * n
    last_issue = [-10] * n
    working = 0
    first_work = last_work = None
    # Cycles 0-2 are START, FIRST, PICK; SCAN begins with nothing fetched.
    t = 3
    mask = deque()
    fetched = 0  # words read
    last_fetch = -10  # the cycle of the last read
    arrivals = []  # the cycle each word entering the FIFO was read
    taken = 0  # words the broadcaster has taken
    scanning = True
    # Every PE's idle register: last cycle all were empty but for the last
    # entry's accumulate (`idle`), and nothing was pushed.
    idle_reg = False
    while True:
        idle = all(not (q or any(p_valid[k]) or busy[k])
                   and t - last_issue[k] >= pipeline for k, q in enumerate(queues))
        # -- the central unit, from this cycle's registers
        if scanning:
            # FIFO room counts the word in flight (read last cycle), kept or
            # not, and the kept words in the FIFO, taken ones a cycle late.
            in_flight = last_fetch == t - 1
            held = sum(1 for f in arrivals[taken:] if f <= t - 2)
            fetch = fetched < len(words) and held + in_flight < fetcher["slots"]
            emit = bool(mask) and all(len(q) < credits for q in queues)
            after = len(mask) - emit
            ready = taken < len(arrivals) and arrivals[taken] + fetcher["latency"] <= t
            load = after == 0 and ready
            done_scanning = (after == 0 and taken == len(kept) and fetched == len(words)
                             and not in_flight)
        else:
            fetch = emit = load = False
            if idle_reg:
                break  # DRAIN saw every PE's idle register at cycle t
        # -- every PE
        for k in range(n):
            free = not busy[k] or left[k] <= 1
            issue = busy[k] and left[k] > 0
            valid, counts = p_valid[k], p_entries[k]
            # A column with no entries leaves the last stage at once (dropped);
            # one with entries when the entry stage is free (taken).
            take = valid[-1] and counts[-1] > 0 and free
            moves = [False] * stages  # each stage's column moves on this cycle
            moves[-1] = valid[-1] and (free or counts[-1] == 0)
            for st in reversed(range(stages - 1)):
                moves[st] = valid[st] and (not valid[st + 1] or moves[st + 1])
            pop = bool(queues[k]) and queues[k][0][1] <= t and (not valid[0] or moves[0])
            if issue:
                left[k] -= 1
                last_issue[k] = t
            if busy[k]:
                working += 1  # an entry issued (a taken column has one)
                first_work = t if first_work is None else first_work
                last_work = t
            if free:
                busy[k] = take
                if take:
                    left[k] = counts[-1]
            for st in reversed(range(stages)):
                if st == 0 and pop:
                    valid[0], counts[0] = True, int(entries[k, queues[k].popleft()[0]])
                elif st > 0 and moves[st - 1]:
                    valid[st], counts[st] = True, counts[st - 1]
                elif moves[st]:
                    valid[st] = False
        # -- register updates of the central unit
        if emit:
            col = mask.popleft()
            for q in queues:
                q.append((col, t + figures["queue"]))
        if load:
            mask = deque(kept[taken])
            taken += 1
        if fetch:
            if words[fetched]:
                arrivals.append(t)
            fetched += 1
            last_fetch = t
        if scanning and done_scanning:
            scanning = False
        idle_reg = idle and not emit
        t += 1
    compute = t + 1  # cycles 0..t: START, FIRST, PICK, SCAN, DRAIN
    window = 0 if first_work is None else last_work - first_work + 1
    start = compute if first_work is None else first_work
    rows_pe = -(-eie.rows // n)
    writeback = rows_pe + figures["writeback"]
    real = _real_entries(eie)
    columns = np.flatnonzero(activations != 0)
    useful = int(real[:, columns].sum())
    issued = int(entries[:, columns].sum())
    return {
        "compute_cycles": compute, "writeback_cycles": writeback,
        "cycles": compute + writeback, "broadcasts": len(columns),
        "start_cycles": start, "drain_cycles": compute - start - window,
        "working_cycles": working, "window_cycles": window,
        "padding_issues": issued - useful,
        "starvation_cycles": n * window - working, "useful_macs": useful,
        "load_balance_efficiency": working / (n * window) if window else 1.0,
        "pe_utilization": useful / (n * (compute + writeback)),
    }


def network_cycles(model, activations_per_layer, queue_depth, sequential_scan=False,
                   spram=False):
    """Per-layer figures summed over a batch: ``[{...}, ...]`` and totals.

    ``activations_per_layer[l]`` holds layer ``l``'s input vectors (B, cols),
    as the golden model's trace gives them.
    """
    layers = []
    for layer, acts in zip(model.layers, activations_per_layer):
        runs = [layer_cycles(layer, a, queue_depth, sequential_scan, spram) for a in acts]
        total = {k: sum(r[k] for r in runs) for k in (
            "compute_cycles", "writeback_cycles", "cycles", "broadcasts", "start_cycles",
            "drain_cycles", "working_cycles", "window_cycles", "padding_issues",
            "starvation_cycles", "useful_macs")}
        total["load_balance_efficiency"] = total["working_cycles"] / (
            model.pes * max(total["window_cycles"], 1))
        total["pe_utilization"] = total["useful_macs"] / (model.pes * max(total["cycles"], 1))
        total["samples"] = len(runs)
        layers.append(total)
    cycles = sum(l["cycles"] for l in layers)
    return layers, {"cycles": cycles, "samples": layers[0]["samples"] if layers else 0}
