"""Winograd convolution tile F(m x m, r x r), dense or with pruned positions."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data

from sw.spec.winograd import cook_toom, odd_inverse, tile_widths

from .array import MAX_ACC_BITS, StreamArray, check_dsp
from .checks import check_int
from .multiply import balanced_sum, multiply, times_constant
from .pipeline import accumulate_stage, register_stage

__all__ = ["WinogradTile"]

#: Output values are int64 in the flow and the golden model.
MAX_OUT_BITS = MAX_ACC_BITS


def _apply(matrix, values):
    """``matrix @ values`` for an integer matrix: shifts and adders, no multipliers.

    ``None`` stands for a value known to be zero (a pruned position).
    """
    return [balanced_sum(times_constant(v, c) for c, v in zip(row, values)
                         if c and v is not None)
            for row in matrix.tolist()]


class WinogradTile(StreamArray):
    """One Winograd tile F(m x m, r x r): ``n^2`` multipliers, ``n = m + r - 1``.

    Computes ``Y = A'^T [sum_c U_c * (B'^T d_c B')] A' / S^2`` with the
    integer transforms of ``sw.spec.winograd.cook_toom`` (see ``docs/numerics.md``).
    A beat brings one n x n input tile ``d`` of one channel and that channel's
    Winograd-domain weights ``U`` (``G' g G'^T``, computed off line: filters
    are constants); ``first`` starts a sum over channels, ``last`` ends it and
    releases one m x m output tile.

    Pipeline, one register each: input transform rows (``B'^T d``), columns
    (``. B'``, and the optional ReLU), elementwise products, channel
    accumulation, output transform rows (``A'^T M``), columns (``. A'``), and
    in the spatial domain the exact division by S^2 (a shift, then a product
    with the odd part's inverse modulo ``2**out_bits`` in shifts and adders).
    The transforms are constant matrices: shifts and adders only, so the
    only multipliers are the elementwise products.

    Parameters
    ----------
    m, r : int
        Output tile and filter sizes, m + r - 1 <= 8.
    act_bits : int
        Width of the signed input activations.
    weight_bits : int
        Spatial domain: width of the spatial filter taps, from which the
        width of ``U`` follows (``u_bits``). Winograd domain: width of ``U``.
    max_channels : int
        Most channels summed into one output tile; sizes the accumulator.
    domain : "spatial" or "winograd"
        Spatial: ``U`` is the transform of a spatial filter and the output is
        exactly the valid correlation. Winograd: ``U`` is free (pruned or
        trained in the Winograd domain) and the output is ``S^2`` times the
        real-valued result, undivided.
    relu : bool
        ReLU on ``B'^T d B'`` (Liu et al.); Winograd domain only.
    keep : n x n nested sequence of 0/1, optional
        Winograd positions with a multiplier (default all). Pruned positions
        have neither a weight on ``i`` nor a multiplier; Winograd domain only.
    points : sequence of numbers, optional
        The ``n - 1`` finite interpolation points (default 0, 1, -1, 2, ...).
    dsp_multipliers : int, optional
        Multipliers synthesis may put in DSP blocks (default all); the rest
        are built from LUTs.

    Ports
    -----
    i : In(stream) of ``{d: n x n signed(act_bits), u: products x
        signed(u_bits), first, last}``; ``u`` lists the kept positions in
        row-major order.
    o : Out(stream) of ``m x m signed(out_bits)``, one beat per ``last``.

    Latency ``latency`` cycles, the stages built (6, plus 1 for the division
    in the spatial domain), from a ``last`` beat accepted to its tile on ``o``. Throughput
    one beat (one channel of one tile, ``products`` multiplies) per cycle;
    back-pressure on ``o`` stalls the pipeline without loss.
    """

    def __init__(self, *, m=2, r=3, act_bits=8, weight_bits=8, max_channels=64,
                 domain="spatial", relu=False, keep=None, points=None, dsp_multipliers=None):
        check_int("activation width", act_bits, 2, 32, "--act-bits")
        check_int("weight width", weight_bits, 2, 32, "--weight-bits")
        check_int("maximum channel count", max_channels, 1, 1 << 16, "--max-channels")
        if domain not in ("spatial", "winograd"):
            raise ValueError(f"domain must be 'spatial' or 'winograd', not {domain!r} "
                             f"(option --domain)")
        t = cook_toom(m, r, points)
        n = t.n
        if keep is None:
            keep = [[1] * n for _ in range(n)]
        keep = [[int(bool(v)) for v in row] for row in keep]
        if len(keep) != n or any(len(row) != n for row in keep):
            raise ValueError(f"the kept-position mask must be {n}x{n} for F({m}x{m}, {r}x{r})")
        if domain == "spatial" and (relu or sum(map(sum, keep)) != n * n):
            raise ValueError("a ReLU or pruned positions in the Winograd domain change the "
                             "function: they need --domain winograd")
        if not any(map(any, keep)):
            raise ValueError("the kept-position mask keeps nothing: keep at least one product")
        widths = tile_widths(t, act_bits, weight_bits, max_channels, domain=domain, relu=relu)
        if widths["out"] > MAX_OUT_BITS:
            raise ValueError(f"outputs would need {widths['out']} bits, over the limit of "
                             f"{MAX_OUT_BITS}: lower --max-channels or the widths")
        positions = [(i, j) for i in range(n) for j in range(n) if keep[i][j]]
        dsp_multipliers = check_dsp(dsp_multipliers, len(positions))
        self.transforms = t
        self.widths = widths
        self.positions = positions
        super().__init__(
            dict(m=m, r=r, act_bits=act_bits, weight_bits=weight_bits,
                 max_channels=max_channels, domain=domain, relu=bool(relu),
                 keep=keep, points=[str(p) for p in t.points],
                 dsp_multipliers=dsp_multipliers),
            {"d": data.ArrayLayout(data.ArrayLayout(signed(act_bits), n), n),
             "u": data.ArrayLayout(signed(widths["u"]), len(positions))},
            data.ArrayLayout(data.ArrayLayout(signed(widths["out"]), m), m))

    @property
    def multipliers(self):
        """Elementwise multipliers: kept Winograd positions (``n^2`` when dense)."""
        return len(self.positions)

    def build(self, platform, path):
        t, w, p = self.transforms, self.widths, self._params
        n, mm = t.n, t.m
        kept = self.positions
        m = Module()
        u_shape = data.ArrayLayout(signed(w["u"]), len(kept))
        tag_shape = data.StructLayout({"u": u_shape, "first": 1, "last": 1})

        def reg(shape, name):
            return Signal(shape, name=name)

        # Input transform, rows: T = B'^T d (each column of d transformed).
        beat = self.i.payload
        d = [[beat.d[a][b] for b in range(n)] for a in range(n)]
        rows = [[reg(signed(w["row"]), f"bt_d_{i}_{b}") for b in range(n)] for i in range(n)]
        moves = []
        for b in range(n):
            col = _apply(t.bt, [d[a][b] for a in range(n)])
            moves += [(rows[i][b], col[i]) for i in range(n)]
        tag1 = reg(tag_shape, "tag_rows")
        moves += [(tag1.u, beat.u), (tag1.first, beat.first), (tag1.last, beat.last)]
        valid, ready = register_stage(m, self.i.valid, self.i.ready, moves, name="bt_rows",
                                      path=path)

        # Input transform, columns: V = T B' (kept positions only), then the
        # Winograd-domain ReLU, a sign test: no multiplier is spent on it.
        v = {pos: reg(signed(w["v"]), f"v_{pos[0]}_{pos[1]}") for pos in kept}
        moves = []
        for i in range(n):
            full = _apply(t.bt, rows[i])
            for j in range(n):
                if (i, j) in v:
                    value = full[j]
                    moves.append((v[(i, j)], Mux(value > 0, value, 0) if p["relu"] else value))
        tag2 = reg(tag_shape, "tag_cols")
        moves.append((tag2, tag1))
        valid, ready = register_stage(m, valid, ready, moves, name="bt_cols", path=path)

        # Elementwise products: the only multipliers of the tile.
        prods = [reg(signed(w["product"]), f"prod_{i}_{j}") for i, j in kept]
        moves = [(prods[k], multiply(tag2.u[k], v[pos], in_luts=k >= p["dsp_multipliers"]))
                 for k, pos in enumerate(kept)]
        first, last = reg(1, "prod_first"), reg(1, "prod_last")
        moves += [(first, tag2.first), (last, tag2.last)]
        valid, ready = register_stage(m, valid, ready, moves, name="multiply", path=path)

        # Channel accumulation: the register holds the running sum and, after
        # a `last` beat, the finished sum, so (as in the MAC array) it must
        # not load on bubbles. In the spatial domain it may wrap modulo
        # 2**acc_bits: only the low bits reach the exact division.
        acc = [reg(signed(w["acc"]), f"acc_{i}_{j}") for i, j in kept]
        done, done_ready = accumulate_stage(
            m, valid, ready, last, [(a, Mux(first, 0, a) + q) for a, q in zip(acc, prods)],
            name="acc", path=path)

        # Output transform, rows: R = A'^T M (pruned positions of M are 0).
        full = [[None] * n for _ in range(n)]
        for k, (i, j) in enumerate(kept):
            full[i][j] = acc[k]
        out_rows = [[reg(signed(w["out_row"]), f"at_m_{i}_{b}") for b in range(n)]
                    for i in range(mm)]
        moves = []
        for b in range(n):
            terms = _apply(t.at, [full[a][b] for a in range(n)])
            moves += [(out_rows[i][b], terms[i]) for i in range(mm)]
        valid, ready = register_stage(m, done, done_ready, moves, name="at_rows", path=path)

        # Output transform, columns: Y' = R A'.
        tile = [[reg(signed(w["tile"]), f"tile_{i}_{j}") for j in range(mm)] for i in range(mm)]
        moves = []
        for i in range(mm):
            row = _apply(t.at, out_rows[i])
            moves += [(tile[i][j], row[j]) for j in range(mm)]
        valid, ready = register_stage(m, valid, ready, moves, name="at_cols", path=path)

        if p["domain"] == "spatial":
            # Exact division by S^2: drop the power of two, then multiply by
            # the odd part's inverse modulo 2**out_bits (shifts and adders).
            shift, factors = odd_inverse(t.divisor, w["out"])
            moves = []
            for i in range(mm):
                for j in range(mm):
                    q = tile[i][j][shift:].as_signed()
                    for f in factors:
                        q = times_constant(q, f)[:w["out"]].as_signed()
                    moves.append((self.o.payload[i][j], q))
            valid, ready = register_stage(m, valid, ready, moves, name="divide", path=path)
        else:
            m.d.comb += [self.o.payload[i][j].eq(tile[i][j])
                         for i in range(mm) for j in range(mm)]
        m.d.comb += [self.o.valid.eq(valid), ready.eq(self.o.ready)]
        return m
