"""A dense network engine: the MAC array running whole fixed-point networks."""

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data

from .memory import address_bits, merge_answers, placed_memory, read_back
from .engine import Engine, end_layer, offer_outputs
from .mac import MacArray
from .requantize import requantize_at_run_time
from .dense_config import DENSE_MEMORIES, dense_layer_fields
from .layer_table import layer_layout

__all__ = ["DenseEngine"]


class DenseEngine(Engine):
    """Dense layers on a ``MacArray``, chained through two activation buffers.

    The second option behind the host link (``hw.system``), with the EIE
    engine's ports, so the same link, driver and bench serve both. It runs
    the network of a compressed model with its weights decoded (dense),
    bit-exact with the same golden model (``sw.golden.eie``): the array
    accumulates raw, and each layer's shift, round half up, saturation and
    ReLU follow (``docs/numerics.md``).

    Parameters
    ----------
    config : hw.dense_config.DenseConfig
        Sizes and widths (validated here).
    image : sw.flows.dense_image.DenseImage, optional
        Weights, biases and layer table to bake in; without one the memories
        start empty and are filled through ``load``.

    Ports
    -----
    As ``hw.engine.Engine``: ``load`` beats write ``hw.dense_config.DENSE_MEMORIES``
    (``pe`` 0); ``input`` and ``output`` carry ``width`` activations a beat.

    Timing
    ------
    A layer of ``rows x cols`` takes ``ceil(rows / lanes) x ceil(cols /
    width)`` beats, one a cycle (``lanes x width`` multiply-accumulates
    each), then the array's latency plus two cycles; throughput is the
    array's, every multiplier busy except on padding lanes.
    """

    def elaborate(self, platform):
        c = self._c
        m = Module()
        m.submodules.mac = mac = MacArray(
            lanes=c.lanes, width=c.width, act_bits=c.act_bits, weight_bits=c.weight_bits,
            bias_bits=c.bias_bits, max_inputs=c.max_cols, requant=False)
        beat = mac.i.payload

        load = SimpleNamespace(valid=self.load.valid & self.load.ready, payload=self.load.payload)
        answers = []

        def memory(name, shape, depth, domain="sync"):
            """Memory ``name``, loaded (or read back) only while idle: its read port."""
            init = [] if self._image is None else getattr(self._image, name)
            mem = placed_memory(m, name, shape, depth, init)
            wr = mem.write_port()
            selected = (self.load.payload.mem == DENSE_MEMORIES[name]) & (self.load.payload.pe == 0)
            m.d.comb += [wr.addr.eq(self.load.payload.addr), wr.data.eq(self.load.payload.data),
                         wr.en.eq(load.valid & selected & ~self.load.payload.read)]
            rd, answer = read_back(m, mem.read_port(domain=domain), load, selected, depth)
            answers.append(answer)
            return rd
        w_rd = memory("weights", unsigned(len(beat.weight.as_value())), c.weight_words)
        b_rd = memory("bias", unsigned(len(beat.bias.as_value())), c.bias_words)
        entry_layout = layer_layout(dense_layer_fields(c))
        table_rd = memory("layers", unsigned(entry_layout.size), c.max_layers, domain="comb")
        merge_answers(m, self.readback, answers, domain="sync")
        entry = data.View(entry_layout, table_rd.data)

        # ---- activations: banks `src` (read) and `~src` (written) in one
        # memory, the bank the top address bit, as in the EIE engine.
        aw = address_bits(c.act_words)
        word_bits = c.width * c.act_bits
        acts = placed_memory(m, "acts", unsigned(word_bits), 2 << aw)
        a_rd, a_wr = acts.read_port(), acts.write_port()
        src = Signal()

        layer = Signal.like(self.layer)
        m.d.comb += [table_rd.addr.eq(layer), self.layer.eq(layer)]
        chunks = Signal.like(entry.chunks)
        groups = Signal.like(entry.groups)
        out_words = Signal.like(entry.out_words)
        coarse_shift = Signal(7)  # the layer's shift s as max(s - 1, 0), and s > 0
        rounding = Signal()
        relu = Signal()
        last = Signal()

        # ---- issue: one beat a cycle, its words read (A) then offered (B);
        # a beat held in B (the array not ready) holds the read ports too.
        k = Signal.like(chunks)  # chunk of the beat being issued
        g = Signal.like(groups)  # its group
        w_ptr = Signal(address_bits(c.weight_words + 1))
        b_ptr = Signal(address_bits(c.bias_words + 1))
        issuing = Signal()  # beats of this layer still to issue
        b_valid = Signal()
        b_first = Signal()
        b_last = Signal()
        advance = ~b_valid | mac.i.ready
        issue = issuing & advance
        last_chunk = k + 1 == chunks
        m.d.comb += [a_rd.addr.eq(Cat(k[:aw], src)), w_rd.addr.eq(w_ptr), b_rd.addr.eq(b_ptr),
                     a_rd.en.eq(advance), w_rd.en.eq(advance), b_rd.en.eq(advance),
                     mac.i.valid.eq(b_valid), beat.act.eq(a_rd.data), beat.weight.eq(w_rd.data),
                     beat.bias.eq(b_rd.data), beat.first.eq(b_first), beat.last.eq(b_last)]
        with m.If(advance):
            m.d.sync += [b_valid.eq(issue), b_first.eq(k == 0), b_last.eq(last_chunk)]
        with m.If(issue):
            m.d.sync += [w_ptr.eq(w_ptr + 1), k.eq(k + 1)]
            with m.If(last_chunk):
                m.d.sync += [k.eq(0), g.eq(g + 1), b_ptr.eq(b_ptr + 1)]
                with m.If(g + 1 == groups):
                    m.d.sync += issuing.eq(0)

        # ---- requantize each group's results (one register stage), then
        # gather them into words of `width` and write them to bank ~src.
        # The layer's shift arrives at run time: the EIE write-back's
        # requantizer, in the one register stage of q here.
        q_valid = Signal()
        q = Signal(data.ArrayLayout(signed(c.act_bits), c.lanes))
        m.d.comb += mac.o.ready.eq(1)
        m.d.sync += q_valid.eq(mac.o.valid)
        for lane in range(c.lanes):
            value, _, _ = requantize_at_run_time(
                m, mac.o.payload[lane], coarse_shift=coarse_shift, rounding=rounding, relu=relu,
                out_bits=c.act_bits)
            m.d.sync += q[lane].eq(value)
        per_word = c.width // c.lanes
        slot = Signal(range(per_word))
        gathered = Signal(data.ArrayLayout(signed(c.act_bits), c.width))
        placed = Signal.like(gathered)
        m.d.comb += placed.eq(gathered)
        for s in range(per_word):
            with m.If(slot == s):
                m.d.comb += [placed[s * c.lanes + lane].eq(q[lane]) for lane in range(c.lanes)]
        results_left = Signal.like(groups)
        o_addr = Signal(aw)
        write_out = q_valid & ((slot == per_word - 1) | (results_left == 1))

        in_count = Signal(aw + 1)
        out_count = Signal(aw + 1)
        out_pending = Signal()
        m.d.comb += self.busy.eq(1)
        with m.FSM():
            with m.State("IDLE"):
                # Layer 0's entry is on the table's read port: its chunk count
                # is the number of input words.
                m.d.comb += [self.busy.eq(0), self.load.ready.eq(1), self.input.ready.eq(1),
                             a_wr.addr.eq(Cat(in_count[:aw], 0)),
                             a_wr.data.eq(self.input.payload), a_wr.en.eq(self.input.valid)]
                m.d.sync += src.eq(0)
                with m.If(self.input.valid):
                    m.d.sync += in_count.eq(in_count + 1)
                    with m.If(in_count + 1 >= entry.chunks):
                        m.d.sync += [in_count.eq(0), w_ptr.eq(0), b_ptr.eq(0)]
                        m.next = "START"
            with m.State("START"):
                m.d.sync += [chunks.eq(entry.chunks), groups.eq(entry.groups),
                             out_words.eq(entry.out_words), rounding.eq(entry.shift != 0),
                             coarse_shift.eq(Mux(entry.shift == 0, 0, entry.shift - 1)),
                             relu.eq(entry.relu), last.eq(entry.last),
                             results_left.eq(entry.groups), k.eq(0), g.eq(0),
                             slot.eq(0), gathered.eq(0), o_addr.eq(0), issuing.eq(1)]
                m.next = "RUN"
            with m.State("RUN"):
                m.d.comb += [a_wr.addr.eq(Cat(o_addr, ~src)), a_wr.data.eq(placed),
                             a_wr.en.eq(write_out)]
                with m.If(q_valid):
                    m.d.sync += [results_left.eq(results_left - 1), slot.eq(slot + 1),
                                 gathered.eq(placed)]
                    with m.If(write_out):
                        m.d.sync += [slot.eq(0), gathered.eq(0), o_addr.eq(o_addr + 1)]
                    with m.If(results_left == 1):
                        end_layer(m, src=src, layer=layer, last=last, out_count=out_count,
                                  out_pending=out_pending, outputs="OUTPUT")
            with m.State("OUTPUT"):
                # The last word was written as the layer ended.
                m.d.comb += [a_rd.addr.eq(Cat(out_count[:aw], src)), a_rd.en.eq(1)]
                offer_outputs(m, self.output, a_rd.data, out_count=out_count,
                              out_pending=out_pending, finished=out_count + 1 == out_words,
                              done=layer.eq(0))
        return m
