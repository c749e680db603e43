"""The EIE engine: PEs, leading-non-zero detection and broadcast, activation
buffers that swap every layer, and the layer sequencer."""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.memory import Memory

from ..engine import Engine
from .lnzd import LeadingNonzero, at_most_one
from ..memory import address_bits, placed_memory, single_port
from .layouts import layer_config_layout
from .pe import ProcessingElement
from .config import MEMORIES, layer_fields

__all__ = ["EieEngine"]


class EieEngine(Engine):
    """Sparse matrix-vector engine running whole compressed networks (EIE).

    Parameters
    ----------
    config : hw.eie.config.EieConfig
        Sizes and widths (validated here).
    image : sw.flows.eie_image.EieImage, optional
        A model's memory images to bake in; without one the memories start
        empty and are filled through ``load``. Not with ``config.spram``,
        which puts the sparse matrix and the activations in iCE40 SPRAM
        (single-ported, uninitialized; same cycles).

    Ports
    -----
    As ``hw.engine.Engine``: ``load`` beats write ``hw.eie.config.MEMORIES``;
    ``input`` and ``output`` carry ``pes`` activations a beat (activation
    ``j`` is lane ``j mod pes`` of beat ``j // pes``). ``input`` is not ready
    in the cycle after entry 0 of the layer table is written (the input
    count is recounted then).

    Dataflow
    --------
    Activations live in two buffers of words of ``pes`` lanes (element ``j``
    at word ``j // pes``, lane ``j mod pes``); a layer reads one and writes the
    other, and they swap. Each buffer notes which of its words hold a
    non-zero as they are written; the leading-non-zero detector (two trees:
    over those flags, then over a word's lanes) reads only such words and
    broadcasts one non-zero ``(j, a_j)`` a cycle to every PE's queue, in a
    cycle where all queues have room. When the last broadcast is done and all
    PEs are idle, every PE writes back its local row ``r`` in the same cycle
    (requantize, ReLU), one word of the destination buffer a cycle. Then the
    next layer starts, without the host.
    """

    def __init__(self, config, image=None):
        if config.spram and image is not None:
            raise ValueError("an SPRAM engine starts empty (SPRAM has no initial contents): "
                             "load the model at run time instead of baking it in")
        super().__init__(config, image)

    def elaborate(self, platform):
        c = self._c
        n = c.pes
        m = Module()
        words = c.act_words
        word_bits = n * c.act_bits

        pes = [ProcessingElement(c, k, self._image) for k in range(n)]
        for k, pe in enumerate(pes):
            m.submodules[f"pe{k}"] = pe
            m.d.comb += [pe.load.valid.eq(self.load.valid & self.load.ready),
                         pe.load.payload.eq(self.load.payload)]

        # ---- layer table
        fields = layer_fields(c)
        table_bits = sum(w for _, w in fields.values())
        table = Memory(shape=unsigned(table_bits), depth=c.max_layers,
                       init=self._image.layers if self._image else [])
        m.submodules.table = table
        table_wr = table.write_port()
        table_rd = table.read_port(domain="comb")
        m.d.comb += [
            table_wr.addr.eq(self.load.payload.addr), table_wr.data.eq(self.load.payload.data),
            table_wr.en.eq(self.load.valid & self.load.ready
                           & (self.load.payload.mem == MEMORIES["layers"])),
        ]

        def field(word, name):
            offset, width = fields[name]
            return word[offset:offset + width]

        layer = Signal(address_bits(c.max_layers + 1))
        m.d.comb += [table_rd.addr.eq(layer), self.layer.eq(layer)]
        # The first layer's input count, kept in a register as entry 0 is
        # written, so the input path reads no memory.
        offset, width = fields["cols"]
        baked = self._image.layers[0] if self._image and len(self._image.layers) else 0
        in_cols = Signal(width, init=(int(baked) >> offset) & ((1 << width) - 1))
        write_first = table_wr.en & (table_wr.addr == 0)
        with m.If(write_first):
            m.d.sync += in_cols.eq(field(table_wr.data, "cols"))
        cols = Signal(fields["cols"][1])
        rows = Signal(fields["rows"][1])
        last = Signal()
        config = Signal(layer_config_layout(c))
        for pe in pes:
            m.d.comb += pe.layer.eq(config)

        # ---- activation buffers: bank `src` is read, the other written. Both
        # live in one memory (the bank is the top address bit): a layer reads
        # only while scanning and writes only while writing back, so one read
        # and one write port serve both, in half the block RAMs. (They never
        # coincide, so in SPRAM one shared port serves both.)
        aw = address_bits(words)
        # In block RAM each word is stored with its lanes' non-zero flags (n
        # more bits, in the RAMs' spare width), so the broadcaster needs no
        # comparison; SPRAM has no spare width (16-bit words), so there the
        # flags are found from the word as it is read.
        flags_stored = not c.spram
        acts = placed_memory(m, "acts", unsigned(word_bits + n * flags_stored), 2 << aw,
                             spram=c.spram)
        src = Signal()
        rd_addr = Signal(address_bits(words + 1))
        wr_addr = Signal(address_bits(words + 1))
        wr_data = Signal(word_bits)
        wr_en = Signal()
        wr_bank = Signal()
        # Writes are registered on their way in (the input and write-back paths
        # end at these flip-flops); a write lands the cycle after it is made,
        # which is before anything reads it back.
        wq_addr = Signal.like(wr_addr)
        wq_data = Signal.like(wr_data)
        wq_en = Signal()
        wq_bank = Signal()
        # Which lanes are non-zero is registered with the word (the tree
        # scan's per-word flags below are then a short OR, not one over all
        # its bits). Each path gives them from registers: the input lanes'
        # values, the PEs' registered flags.
        wr_lanes = Signal(n)
        wq_lanes = Signal(n)
        m.d.sync += wq_lanes.eq(wr_lanes)
        m.d.sync += [wq_addr.eq(wr_addr), wq_data.eq(wr_data), wq_en.eq(wr_en),
                     wq_bank.eq(wr_bank)]
        write_addr = Cat(wq_addr[:aw], wq_bank)
        write_data = Cat(wq_data, wq_lanes) if flags_stored else wq_data
        if c.spram:
            rd = single_port(m, acts, write_addr, write_data, wq_en)
        else:
            rd, wr = acts.read_port(), acts.write_port()
            m.d.comb += [wr.addr.eq(write_addr), wr.data.eq(write_data), wr.en.eq(wq_en)]
        m.d.comb += rd.addr.eq(Cat(rd_addr[:aw], src))
        word = rd.data[:word_bits]
        if flags_stored:
            word_lanes = rd.data[word_bits:]
        else:
            word_lanes = Cat(word.word_select(k, c.act_bits) != 0 for k in range(n))

        # ---- leading non-zero detection and broadcast, in two decoupled parts
        # so that no decision fans out to both the block RAMs and the queues:
        # a fetcher reads the words holding a non-zero into a small FIFO, and
        # the broadcaster takes one word at a time from it and sends its
        # non-zeros, one a cycle, through a register to every PE's queue.
        #
        # Fetcher. It works one word ahead: `upcoming` is the next word to
        # read, chosen a cycle earlier, so the read address comes straight
        # from a register; `more` says there is one. `begin` (in PICK) and
        # `advance` (at each read) choose it.
        layer_words = Signal(range(words + 1))  # words of this layer's input, set in START
        upcoming = Signal(address_bits(words + 1))
        more = Signal()
        if c.sequential_scan:
            # Every word of the layer's input in turn. Words of zeros are
            # dropped on their way into the FIFO, so they cost the scan a
            # cycle each and the broadcaster nothing; no per-word state.
            gather = []
            begin = [upcoming.eq(0), more.eq(1)]

            def advance():
                return [upcoming.eq(upcoming + 1), more.eq(upcoming + 1 < layer_words)]
            keep = word_lanes.any()
        else:
            # Which words of each buffer hold a non-zero, noted as they are
            # written (EIE detects non-zeros at write-back): the scan skips the
            # others.
            nonzero_words = [Signal(words, name=f"nonzero_words{k}") for k in range(2)]
            for k in range(2):
                with m.If(wq_en & (wq_bank == k)):
                    m.d.sync += nonzero_words[k].bit_select(wq_addr, 1).eq(wq_lanes.any())
            # A tree over `todo` (the words after `upcoming` still to read:
            # non-zero and inside this layer's input, gathered in FIRST) picks
            # the next.
            m.submodules.words = find_word = LeadingNonzero(words)
            todo = Signal(words)
            m.d.comb += find_word.i.eq(todo)
            # A comparison per word with a constant, no shifter: the words
            # inside this layer's input.
            in_layer = Cat(layer_words > k for k in range(words))
            gather = [todo.eq(Mux(src, nonzero_words[1], nonzero_words[0]) & in_layer)]

            def advance():
                """Take the tree's pick as the next word to read (and clear
                the lowest set bit of `todo`, which is that word, with one
                carry chain rather than a decoder behind the tree)."""
                return [upcoming.eq(find_word.index), more.eq(find_word.any),
                        todo.eq(todo & (todo - 1))]
            begin = advance()
            keep = 1

        ptr_bits = address_bits(c.ptr_depth + 2)
        fetched = data.StructLayout({"vals": word_bits, "lanes": n, "ptr": ptr_bits})
        m.submodules.fetched = fifo = SyncFIFO(width=fetched.size, depth=3)
        fetch = Signal()
        in_flight = Signal()  # a word read last cycle, written into the FIFO now
        flight_ptr = Signal(ptr_bits)
        # Room is counted from registers only: a word popped this cycle frees
        # its slot a cycle late. Three slots keep one word a cycle flowing.
        fetch_room = fifo.level + in_flight < fifo.depth
        m.d.sync += in_flight.eq(fetch)
        with m.If(fetch):
            # The first pointer of the word's first column: layer base + element.
            m.d.sync += [flight_ptr.eq(config.ptr_base + upcoming * n), *advance()]
        m.d.comb += [fifo.w_en.eq(in_flight & keep),
                     fifo.w_data.eq(Cat(word, word_lanes, flight_ptr))]
        head = data.View(fetched, fifo.r_data)

        # Broadcaster: `vals` is the word being sent, `mask` its non-zero
        # lanes still to send, `lowest` the first of them, `g_ptr` its first
        # column's pointer index. Whether `mask` is empty or holds at most
        # one lane, and which lane is its lowest, are kept in registers with
        # it, found from the mask it will hold (the fetched word's lanes, or
        # the lanes left after this cycle's broadcast), so the decisions below
        # (fanning out to the PEs and to the word's flip-flops) and the
        # broadcast payload start from flip-flops.
        mask = Signal(n)
        mask_none = Signal(init=1)
        mask_single = Signal(init=1)
        lowest = Signal(range(max(n, 2)))
        vals = Signal(word_bits)
        g_ptr = Signal(ptr_bits)
        rest = Signal(n)  # the mask after this cycle's broadcast: `lowest` cleared
        m.d.comb += rest.eq(Cat(mask[k] & (lowest != k) for k in range(n)))
        m.submodules.head_lowest = head_lowest = LeadingNonzero(n)
        m.submodules.rest_lowest = rest_lowest = LeadingNonzero(n)
        m.d.comb += [head_lowest.i.eq(head.lanes), rest_lowest.i.eq(rest)]

        # A broadcast goes out when every PE is ready for it (a register in
        # each PE: its queue has room, counting the broadcast it holds).
        emit = Signal()
        m.d.comb += emit.eq(~mask_none & Cat(pe.push.ready for pe in pes).all())
        # The word is done after this cycle if it holds nothing more, or its
        # one remaining non-zero goes out now.
        word_done = Signal()
        m.d.comb += word_done.eq(mask_none | (emit & mask_single))
        load_word = Signal()
        for pe in pes:
            m.d.comb += [pe.push.valid.eq(emit), pe.push.payload.ptr.eq(g_ptr + lowest),
                         pe.push.payload.act.eq(vals.word_select(lowest, c.act_bits))]
        # The lanes' flags come with the word (any non-zero lane is a column
        # to broadcast: lanes past a layer's last input are zero).
        m.d.comb += fifo.r_en.eq(load_word)
        with m.If(load_word):
            m.d.sync += [vals.eq(head.vals), mask.eq(head.lanes), g_ptr.eq(head.ptr),
                         lowest.eq(head_lowest.index), mask_none.eq(head.lanes == 0),
                         mask_single.eq(at_most_one(head.lanes))]
        with m.Elif(emit):
            m.d.sync += [mask.eq(rest), lowest.eq(rest_lowest.index), mask_none.eq(mask_single),
                         mask_single.eq(at_most_one(rest))]

        # Scanning (the SCAN state) is a register of its own, so the fetch
        # and load decisions do not decode the state.
        scanning = Signal()
        m.d.comb += [fetch.eq(scanning & more & fetch_room),
                     load_word.eq(scanning & word_done & fifo.r_rdy)]

        # ---- write-back
        # Rows are counted down (rows - row x pes left, from the row being
        # issued, and from the row being written): lane k of a word is a row of
        # the layer when more than k are left, a comparison of a register with
        # a constant made as the row is issued. The PEs carry it with the row
        # and give 0 for the others, so the written word needs no masking.
        wb_row = Signal(address_bits(c.rows_per_pe + 1))
        wb_left = Signal.like(rows)
        # Issuing rows is a register, cleared ahead by the row count, so no
        # comparison sits on the way to the PEs.
        wb_issue = Signal()
        for k, pe in enumerate(pes):
            m.d.comb += [pe.wb_addr.eq(wb_row), pe.wb_valid.eq(wb_issue),
                         pe.wb_keep.eq(wb_left > k)]
        done_row = Signal.like(wb_row)
        done_left = Signal.like(rows)
        results = Cat(pe.wb_result for pe in pes)

        in_count = Signal(address_bits(words + 1))
        # First-layer inputs from the next beat on, in_cols - in_count x pes
        # (negative if a smaller count is loaded mid-vector).
        in_left = Signal(signed(max(width, address_bits(c.max_cols + n + 1)) + 2),
                         init=in_cols.init)
        # The lanes of the next beat inside the input (in_left > k), and
        # whether another beat follows it (in_left > n): a register updated
        # with in_left, so only an AND masks a lane and no comparison decides
        # the last beat.
        in_mask = Signal(n + 1, init=sum(1 << k for k in range(n + 1) if in_cols.init > k))
        # Entry 0 written (a new input count): in_left is recounted from
        # registers the next cycle, and no input is taken in that cycle.
        recount = Signal()
        m.d.sync += recount.eq(write_first)
        out_count = Signal(address_bits(words + 1))
        out_pending = Signal()

        # The ports' handshakes come from registers (``idle`` is high exactly
        # in IDLE, set and cleared with the state), not from decoding the state.
        idle = Signal(init=1)
        m.d.comb += [self.busy.eq(~idle), self.load.ready.eq(idle),
                     self.input.ready.eq(idle & ~recount)]
        with m.FSM():
            with m.State("IDLE"):
                # Lanes past the last input are forced to zero: the scan takes
                # every non-zero lane for a column.
                inside = in_mask[:n]
                beat = self.input.valid & ~recount
                m.d.comb += [wr_addr.eq(in_count), wr_bank.eq(0), wr_en.eq(beat),
                             wr_data.eq(Cat(Mux(inside[k], self.input.payload[k], 0)
                                            for k in range(n))),
                             wr_lanes.eq(Cat(inside[k] & (self.input.payload[k] != 0)
                                             for k in range(n)))]
                m.d.sync += src.eq(0)
                with m.If(beat):
                    m.d.sync += [in_count.eq(in_count + 1), in_left.eq(in_left - n),
                                 in_mask.eq(Cat(in_left > n + k for k in range(n + 1)))]
                    with m.If(~in_mask[n]):
                        m.d.sync += [in_count.eq(0), in_left.eq(in_cols), idle.eq(0),
                                     in_mask.eq(Cat(in_cols > k for k in range(n + 1)))]
                        m.next = "START"
            with m.State("START"):
                entry = table_rd.data
                m.d.sync += [
                    cols.eq(field(entry, "cols")), rows.eq(field(entry, "rows")),
                    last.eq(field(entry, "last")),
                    config.index.eq(layer), config.ptr_base.eq(field(entry, "ptr_base")),
                    config.bias_base.eq(field(entry, "bias_base")),
                    config.relu.eq(field(entry, "relu")),
                    config.round.eq(field(entry, "shift") != 0),
                    config.coarse_shift.eq(Mux(field(entry, "shift") == 0, 0,
                                               field(entry, "shift") - 1)),
                    mask.eq(0), mask_none.eq(1), mask_single.eq(1),
                    layer_words.eq(field(entry, "words")),
                ]
                m.next = "FIRST"
            with m.State("FIRST"):
                m.d.sync += gather
                m.next = "PICK"
            with m.State("PICK"):
                m.d.sync += [*begin, scanning.eq(1)]
                m.next = "SCAN"
            with m.State("SCAN"):
                m.d.comb += rd_addr.eq(upcoming)
                with m.If(word_done & ~more & ~in_flight & ~fifo.r_rdy):
                    m.d.sync += scanning.eq(0)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(Cat(pe.idle for pe in pes).all()):
                    m.d.sync += [wb_row.eq(0), wb_left.eq(rows), done_row.eq(0),
                                 done_left.eq(rows), wb_issue.eq(1)]
                    m.next = "WRITEBACK"
            with m.State("WRITEBACK"):
                with m.If(wb_issue):
                    m.d.sync += [wb_row.eq(wb_row + 1), wb_left.eq(wb_left - n)]
                    with m.If(wb_left <= n):
                        m.d.sync += wb_issue.eq(0)
                m.d.comb += [wr_addr.eq(done_row), wr_data.eq(results), wr_bank.eq(~src),
                             wr_en.eq(pes[0].wb_done),
                             wr_lanes.eq(Cat(pe.wb_nonzero for pe in pes))]
                with m.If(pes[0].wb_done):
                    m.d.sync += [done_row.eq(done_row + 1), done_left.eq(done_left - n)]
                    with m.If(done_left <= n):
                        m.d.sync += [src.eq(~src), layer.eq(layer + 1)]
                        with m.If(last):
                            m.d.sync += [out_count.eq(0), out_pending.eq(0)]
                            m.next = "FLUSH"
                        with m.Else():
                            m.next = "START"
            with m.State("FLUSH"):
                # The last write-back word lands now; read nothing before it.
                m.next = "OUTPUT"
            with m.State("OUTPUT"):
                # The read port shows a word the cycle after its address: one
                # cycle to fetch, then offer it until taken.
                m.d.comb += [rd_addr.eq(out_count), self.output.payload.eq(word),
                             self.output.valid.eq(out_pending)]
                with m.If(~out_pending):
                    m.d.sync += out_pending.eq(1)
                with m.Elif(self.output.ready):
                    m.d.sync += [out_pending.eq(0), out_count.eq(out_count + 1)]
                    with m.If((out_count + 1) * n >= rows):
                        m.d.sync += [layer.eq(0), idle.eq(1)]
                        m.next = "IDLE"

        # A new input count (loaded mid-vector, too) counts from the words
        # already taken: the vector ends at the next beat if they already
        # cover it, as with a count compared afresh.
        recounted = Signal.like(in_left)
        m.d.comb += recounted.eq(in_cols - in_count * n)
        with m.If(recount):
            m.d.sync += [in_left.eq(recounted),
                         in_mask.eq(Cat(recounted > k for k in range(n + 1)))]
        return m
