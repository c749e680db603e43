"""One EIE processing element: activation queue, pointer read, sparse-matrix
read, arithmetic unit with accumulator bypass, and write-back."""

from amaranth.hdl import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["ProcessingElement", "broadcast_layout", "load_layout", "layer_config_layout"]


def _bits(n):
    """Address width for ``n`` locations (at least 1)."""
    return max(1, (n - 1).bit_length())


def broadcast_layout(config):
    """A broadcast non-zero: where its column's pointers are (the layer's
    pointer base plus the column, added once in the central unit rather than
    in every PE) and the activation."""
    return data.StructLayout({"ptr": _bits(config.ptr_depth + 2),
                              "act": signed(config.act_bits)})


def load_layout(config):
    """A write into one of the engine's memories (``sw.eie_image.MEMORIES`` ids)."""
    width = max(config.entries_per_word * (config.index_bits + config.z_bits),
                config.bias_bits, config.codebook_bits, _bits(config.nnz_depth + 1), 64)
    return data.StructLayout({"mem": 3, "pe": 6, "addr": 20, "data": width})


def layer_config_layout(config):
    """What a PE needs to know of the current layer (held for the whole layer)."""
    return data.StructLayout({"index": _bits(config.max_layers + 1),
                              "ptr_base": _bits(config.ptr_depth + 1),
                              "bias_base": _bits(config.bias_depth + 1),
                              "shift": _bits(config.accumulator_bits + 1),
                              "relu": 1})


class ProcessingElement(wiring.Component):
    """A PE of the EIE engine (Han et al., ISCA 2016, figure 4).

    Parameters
    ----------
    config : sw.eie_image.EieConfig
    index : int
        This PE's number: its memories are written by load beats for it.
    image : sw.eie_image.EieImage, optional
        Memory contents to bake in.

    Ports
    -----
    push : In(stream) of ``(ptr, act)``
        Broadcast non-zero activations into the activation queue; ``ptr`` is
        the index of the column's first pointer.
    layer : In(layer_config_layout)
        The current layer; stable while the layer runs.
    load : In(stream) of ``load_layout`` (always ready; writes this PE's memories)
    wb_addr, wb_valid : In
        Write-back of local row ``wb_addr``: the result is on ``wb_result``
        four cycles later with ``wb_done``, and the accumulator is cleared.
    idle : Out(1)
        No queued activation and no entry in flight.

    Timing
    ------
    A queued column's pointers are read in one cycle (two banks, or ``p[j]``
    and ``p[j + 1]`` could not both be read), while the previous column's
    entries issue; entries then issue one a cycle (an empty column takes one
    cycle), and each reaches its accumulator four cycles later
    (sparse-matrix read and its register, codebook read, multiply-accumulate). Throughput: one
    multiply-accumulate per cycle.
    """

    def __init__(self, config, index, image=None):
        self._c = config
        self._index = index
        self._image = image
        super().__init__({
            "push": In(stream.Signature(broadcast_layout(config))),
            "layer": In(layer_config_layout(config)),
            "load": In(stream.Signature(load_layout(config), always_ready=True)),
            "wb_addr": In(_bits(config.rows_per_pe)),
            "wb_valid": In(1),
            "wb_result": Out(signed(config.act_bits)),
            "wb_done": Out(1),
            "idle": Out(1),
        })

    def _memory(self, m, name, shape, depth, init_name):
        init = []
        if self._image is not None:
            init = getattr(self._image, init_name)[self._index]
        mem = Memory(shape=shape, depth=depth, init=[int(x) for x in init])
        m.submodules[name] = mem
        # Loads write through one port; the datapath reads through another.
        wr = mem.write_port()
        from sw.eie_image import MEMORIES
        m.d.comb += [
            wr.addr.eq(self.load.payload.addr),
            wr.data.eq(self.load.payload.data),
            wr.en.eq(self.load.valid & (self.load.payload.mem == MEMORIES[init_name])
                     & (self.load.payload.pe == self._index)),
        ]
        return mem

    def elaborate(self, platform):
        c = self._c
        m = Module()
        entry_bits = c.index_bits + c.z_bits
        epw = c.entries_per_word
        acc_bits = c.accumulator_bits
        nnz_addr = _bits(c.nnz_depth + 1)
        ptr_half = -(-(c.ptr_depth + 1) // 2)

        # ---- memories
        ptr_even = self._memory(m, "ptr_even", unsigned(nnz_addr), ptr_half, "ptr_even")
        ptr_odd = self._memory(m, "ptr_odd", unsigned(nnz_addr), ptr_half, "ptr_odd")
        spmat = self._memory(m, "spmat", unsigned(epw * entry_bits), -(-c.nnz_depth // epw),
                             "spmat")
        bias = self._memory(m, "bias", signed(c.bias_bits), c.bias_depth, "bias")
        codebook = self._memory(m, "codebook", signed(c.codebook_bits),
                                c.max_layers << c.index_bits, "codebook")
        acc_mem = Memory(shape=signed(acc_bits), depth=c.rows_per_pe, init=[])
        m.submodules.acc = acc_mem

        # ---- activation queue: first-word-fall-through, so a broadcast can be
        # popped the next cycle, and room is exactly `level < depth` at every
        # depth (the buffered FIFO's inner stage breaks that below depth 3).
        m.submodules.queue = queue = SyncFIFO(
            width=len(self.push.payload.as_value()), depth=c.queue_depth)
        m.d.comb += [queue.w_data.eq(self.push.payload), queue.w_en.eq(self.push.valid),
                     self.push.ready.eq(queue.w_rdy)]
        head = data.View(broadcast_layout(c), queue.r_data)

        # ---- entry issue (E): walks the entries of one column, one a cycle
        e_busy = Signal()
        e_cur = Signal(nnz_addr)
        e_end = Signal(nnz_addr)
        e_act = Signal(signed(c.act_bits))
        e_first = Signal()
        e_free = ~e_busy | (e_cur == e_end) | (e_cur + 1 == e_end)

        # ---- pointer read (P): p[q] and p[q + 1] from the two banks in one cycle
        p_valid = Signal()
        p_odd = Signal()
        p_act = Signal(signed(c.act_bits))
        take = p_valid & e_free
        pop = queue.r_rdy & (~p_valid | take)
        q = head.ptr
        rd_even = ptr_even.read_port()
        rd_odd = ptr_odd.read_port()
        m.d.comb += [
            queue.r_en.eq(pop),
            rd_even.addr.eq((q + 1) >> 1), rd_odd.addr.eq(q >> 1),
            rd_even.en.eq(pop), rd_odd.en.eq(pop),
        ]
        with m.If(pop):
            m.d.sync += [p_valid.eq(1), p_odd.eq(q[0]), p_act.eq(head.act)]
        with m.Elif(take):
            m.d.sync += p_valid.eq(0)
        start = Mux(p_odd, rd_odd.data, rd_even.data)
        end = Mux(p_odd, rd_even.data, rd_odd.data)

        issue = e_busy & (e_cur != e_end)
        with m.If(issue):
            m.d.sync += [e_cur.eq(e_cur + 1), e_first.eq(0)]
        with m.If(e_free):
            m.d.sync += e_busy.eq(take)
            with m.If(take):
                m.d.sync += [e_cur.eq(start), e_end.eq(end), e_act.eq(p_act), e_first.eq(1)]

        # ---- sparse-matrix read (R1), then its word registered (R2) so the
        # block RAM's slow output feeds nothing but a register; R2 selects the
        # entry's slot and finds its row.
        rd_spmat = spmat.read_port()
        m.d.comb += rd_spmat.addr.eq(e_cur >> (epw.bit_length() - 1))
        r1_valid = Signal()
        r1_slot = Signal(range(max(epw, 2)))
        r1_act = Signal(signed(c.act_bits))
        r1_first = Signal()
        m.d.sync += [r1_valid.eq(issue), r1_slot.eq(e_cur), r1_act.eq(e_act),
                     r1_first.eq(e_first)]
        r_valid = Signal()
        r_slot = Signal.like(r1_slot)
        r_act = Signal(signed(c.act_bits))
        r_first = Signal()
        r_word = Signal.like(rd_spmat.data)
        m.d.sync += [r_valid.eq(r1_valid), r_slot.eq(r1_slot), r_act.eq(r1_act),
                     r_first.eq(r1_first), r_word.eq(rd_spmat.data)]
        entry = Signal(entry_bits)
        m.d.comb += entry.eq(r_word.word_select(r_slot, entry_bits))
        v, z = entry[:c.index_bits], entry[c.index_bits:]
        # The row an entry lands on: z zeros after the previous entry of the column.
        row = Signal(_bits(c.rows_per_pe + (1 << c.z_bits)) + 1)
        prev_row = Signal.like(row)
        m.d.comb += row.eq(Mux(r_first, z, prev_row + z + 1))
        with m.If(r_valid):
            m.d.sync += prev_row.eq(row)
        rd_cb = codebook.read_port()
        m.d.comb += rd_cb.addr.eq(self.layer.index << c.index_bits | v)

        # ---- multiply (M): codebook value x activation; accumulator read
        m_valid = Signal()
        m_row = Signal.like(row)
        m_act = Signal(signed(c.act_bits))
        m.d.sync += [m_valid.eq(r_valid), m_row.eq(row), m_act.eq(r_act)]
        product = Signal(signed(c.codebook_bits + c.act_bits))
        m.d.comb += product.eq(rd_cb.data * m_act)
        rd_acc = acc_mem.read_port()
        wr_acc = acc_mem.write_port()

        # ---- accumulate (A) with a bypass: the accumulator written last cycle
        # is not yet in what the memory read returns.
        a_valid = Signal()
        a_row = Signal.like(row)
        a_product = Signal.like(product)
        m.d.sync += [a_valid.eq(m_valid), a_row.eq(m_row), a_product.eq(product)]
        # Whether to forward is known a stage early: the entry now in M lands
        # on the row the entry now in A is writing. Registered, the compare
        # stays off the accumulate path.
        forward = Signal()
        m.d.sync += forward.eq(a_valid & (a_row == m_row))
        last_value = Signal(signed(acc_bits))
        old = Mux(forward, last_value, rd_acc.data)
        total = Signal(signed(acc_bits))
        m.d.comb += total.eq(old + a_product)
        m.d.sync += last_value.eq(total)

        # ---- write-back: acc + bias, requantize, ReLU; the accumulator is cleared
        w1_valid = Signal()
        w1_addr = Signal.like(self.wb_addr)
        m.d.sync += [w1_valid.eq(self.wb_valid), w1_addr.eq(self.wb_addr)]
        rd_bias = bias.read_port()
        m.d.comb += rd_bias.addr.eq(self.layer.bias_base + self.wb_addr)
        with m.If(self.wb_valid):
            m.d.comb += rd_acc.addr.eq(self.wb_addr)
        with m.Else():
            m.d.comb += rd_acc.addr.eq(m_row)
        with m.If(w1_valid):
            m.d.comb += [wr_acc.addr.eq(w1_addr), wr_acc.data.eq(0), wr_acc.en.eq(1)]
        with m.Else():
            m.d.comb += [wr_acc.addr.eq(a_row), wr_acc.data.eq(total), wr_acc.en.eq(a_valid)]

        # Three register stages: sum, coarse shift, round and saturate; each
        # one long carry chain at most, for Fmax.
        total_wb = Signal(signed(acc_bits + 1))
        w2_valid = Signal()
        m.d.sync += [total_wb.eq(rd_acc.data + rd_bias.data), w2_valid.eq(w1_valid)]
        # Round half up with one barrel shifter: floor((x + 2**(s-1)) / 2**s)
        # equals ((x >> (s - 1)) + 1) >> 1 for s >= 1 (docs/numerics.md).
        shift = self.layer.shift
        coarse = Signal(signed(acc_bits + 1))
        exact = Signal(signed(acc_bits + 1))
        w3_valid = Signal()
        m.d.sync += [coarse.eq(total_wb >> Mux(shift == 0, 0, shift - 1).as_unsigned()),
                     exact.eq(total_wb), w3_valid.eq(w2_valid)]
        rounded = Signal(signed(acc_bits + 2))
        m.d.comb += rounded.eq(Mux(shift == 0, exact, (coarse + 1) >> 1))
        hi = (1 << (c.act_bits - 1)) - 1
        lo = Mux(self.layer.relu, 0, -(1 << (c.act_bits - 1)))
        m.d.sync += [
            self.wb_result.eq(Mux(rounded > hi, hi, Mux(rounded < lo, lo, rounded))),
            self.wb_done.eq(w3_valid),
        ]

        m.d.comb += self.idle.eq((queue.level == 0) & ~p_valid & ~e_busy & ~r1_valid
                                 & ~r_valid & ~m_valid & ~a_valid)
        return m
