"""Pareto fronts of a sweep: the points no other point beats on both accuracy and a cost."""

__all__ = ["front", "OBJECTIVES"]

#: The costs a front is drawn against: point field -> (label, unit).
OBJECTIVES = {"latency_us": ("latency at Fmax", "us"), "luts": ("LUTs", ""),
              "energy_nj": ("energy per inference", "nJ"),
              "cycles": ("cycles per inference", "")}


def front(points, cost):
    """The ids of the points on the front of accuracy (higher is better)
    against ``cost`` (lower is better), in increasing cost.

    Only points measured whole (status ok, both values known) take part. A
    point is on the front when no other has accuracy at least as high and
    cost at least as low with one of them strictly better; points equal on
    both are all on it.
    """
    scored = sorted(((p[cost], -p["accuracy"], p["id"]) for p in points
                     if p["status"] == "ok" and p.get(cost) is not None
                     and p.get("accuracy") is not None))
    ids, best, last = [], None, None
    for c, minus_acc, i in scored:
        acc = -minus_acc
        if best is None or acc > best or (c, acc) == last:
            ids.append(i)
            best, last = acc, (c, acc)
    return ids
