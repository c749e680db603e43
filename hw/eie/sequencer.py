"""The EIE engine's layer sequencer: the layer table, and the phases of every
layer (start, scan, drain, write-back) from the input to the outputs."""

from types import SimpleNamespace

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..engine import end_layer, offer_outputs
from ..layer_table import layer_layout
from ..memory import (address_bits, load_layout, merge_answers, readback_layout,
                      read_back)
from .config import MEMORIES, layer_fields
from .fetcher import write_layout
from .layouts import layer_config_layout

__all__ = ["LayerSequencer"]


class LayerSequencer(wiring.Component):
    """Runs the network: takes the input, then each layer in turn, then the outputs.

    A layer's entry is read from the layer table (START); the word fetcher
    notes the words to read (FIRST) and picks the first (PICK); the fetcher
    and the broadcaster scan the input (SCAN) until every word is sent; when
    every PE is idle (DRAIN) the PEs write back their rows, one word of the
    other buffer a cycle (WRITEBACK); then the buffers swap and the next
    layer starts, without the host. After the last, its outputs are read out
    (FLUSH, OUTPUT).

    Parameters
    ----------
    config : hw.eie.config.EieConfig
    layers : list of int, optional
        Packed layer-table words to bake in (``sw.flows.eie_image``), at most
        ``config.max_layers``.

    Ports
    -----
    load : In(stream) of ``load_layout``
        Ready while idle; beats for ``layers`` write the table, or read it
        back. The input is not ready in the cycle after entry 0 is written
        (the input count is recounted then).
    readback : Out(readback_layout)
        The table's answer to a read beat, the cycle after it.
    input, output : In(stream), Out(stream) of ``pes`` activations
        The engine's (``hw.engine.Engine``).
    layer, busy : Out
        The engine's.
    layer_config : Out(layer_config_layout)
        The current layer, from registers set in START.
    write : Out(stream) of ``hw.eie.fetcher.write_layout``, always ready
        Input beats (bank 0) and write-back words (bank ``~src``), masked
        past the input and with their non-zero lanes, all from registers.
    src, layer_words, gather, begin, scan, read_addr : Out
        To the word fetcher (``hw.eie.fetcher.WordFetcher``).
    word, fetch_busy : In
        From the word fetcher.
    clear : Out(1)
        To the broadcaster: a layer starts.
    word_done : In(1)
        From the broadcaster (its ``done``).
    wb_addr, wb_valid : Out
        To every PE: write back local row ``wb_addr``.
    wb_keep : Out(pes)
        Bit ``k`` to PE ``k``: the row is one of the layer's.
    pes_idle : In(1)
        Every PE is idle.
    wb_done, wb_result, wb_nonzero : In
        PE 0's ``wb_done``, and every PE's result and non-zero flag (PE
        ``k`` at lane ``k``).

    Latency: a layer takes four cycles before its scan (START, FIRST, PICK
    and the first read), and one after it (DRAIN, when the PEs are idle),
    before its write-back, which takes the PEs' seven cycles plus one a
    word of results. The input takes a beat a cycle; the outputs go out a
    beat every two cycles (a read, then the offer until taken).
    """

    def __init__(self, config, layers=None):
        self._c = config
        self._layers = [] if layers is None else list(layers)
        if len(self._layers) > config.max_layers:
            raise ValueError(f"the layer table holds {config.max_layers} entries, not "
                             f"{len(self._layers)} (option --max-layers)")
        n = config.pes
        words = config.act_words
        lanes = data.ArrayLayout(signed(config.act_bits), n)
        super().__init__({
            "load": In(stream.Signature(load_layout(config))),
            "readback": Out(readback_layout(config)),
            "input": In(stream.Signature(lanes)),
            "output": Out(stream.Signature(lanes)),
            "layer": Out(address_bits(config.max_layers + 1)),
            "busy": Out(1),
            "layer_config": Out(layer_config_layout(config)),
            "write": Out(stream.Signature(write_layout(config), always_ready=True)),
            "src": Out(1),
            "layer_words": Out(range(words + 1)),
            "gather": Out(1),
            "begin": Out(1),
            "scan": Out(1),
            "read_addr": Out(address_bits(words + 1)),
            "word": In(n * config.act_bits),
            "fetch_busy": In(1),
            "clear": Out(1),
            "word_done": In(1),
            "wb_addr": Out(address_bits(config.rows_per_pe + 1)),
            "wb_valid": Out(1),
            "wb_keep": Out(n),
            "pes_idle": In(1),
            "wb_done": In(1),
            "wb_result": In(n * config.act_bits),
            "wb_nonzero": In(n),
        })

    def elaborate(self, platform):
        c = self._c
        n = c.pes
        m = Module()
        words = c.act_words

        # ---- layer table, read through a view of its fields
        entry_layout = layer_layout(layer_fields(c))
        table = Memory(shape=unsigned(entry_layout.size), depth=c.max_layers,
                       init=self._layers)
        m.submodules.table = table
        table_wr = table.write_port()
        beat = SimpleNamespace(valid=self.load.valid & self.load.ready, payload=self.load.payload)
        selected = (self.load.payload.mem == MEMORIES["layers"]) & (self.load.payload.pe == 0)
        table_rd, answer = read_back(m, table.read_port(domain="comb"), beat, selected,
                                     c.max_layers)
        merge_answers(m, self.readback, [answer])
        m.d.comb += [
            table_wr.addr.eq(self.load.payload.addr), table_wr.data.eq(self.load.payload.data),
            table_wr.en.eq(beat.valid & selected & ~self.load.payload.read),
        ]
        written = data.View(entry_layout, table_wr.data)
        entry = data.View(entry_layout, table_rd.data)

        layer = Signal.like(self.layer)
        m.d.comb += [table_rd.addr.eq(layer), self.layer.eq(layer)]
        # The first layer's input count, kept in a register as entry 0 is
        # written, so the input path reads no memory.
        width = len(entry.cols)
        baked = int(self._layers[0]) if self._layers else 0
        in_cols = Signal(width, init=(baked >> entry_layout["cols"].offset) & ((1 << width) - 1))
        write_first = table_wr.en & (table_wr.addr == 0)
        with m.If(write_first):
            m.d.sync += in_cols.eq(written.cols)
        rows = Signal.like(entry.rows)
        last = Signal()
        config = self.layer_config

        src = self.src
        layer_words = self.layer_words
        wr = self.write.payload
        wr_en = self.write.valid
        # Scanning (the SCAN state) is a register of its own, so the fetch
        # and load decisions do not decode the state.
        scanning = self.scan

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
        m.d.comb += [self.wb_addr.eq(wb_row), self.wb_valid.eq(wb_issue),
                     self.wb_keep.eq(Cat(wb_left > k for k in range(n)))]
        done_row = Signal.like(wb_row)
        done_left = Signal.like(rows)

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
        # Reads outside the scan serve only the outputs, and the fetcher
        # reads `upcoming` while scanning: the output count is the address
        # in every other phase (a read nothing uses costs nothing), so no
        # phase decoding sits before the read address.
        m.d.comb += self.read_addr.eq(out_count)

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
                m.d.comb += [wr.addr.eq(in_count), wr.bank.eq(0), wr_en.eq(beat),
                             wr.data.eq(Cat(Mux(inside[k], self.input.payload[k], 0)
                                            for k in range(n))),
                             wr.lanes.eq(Cat(inside[k] & (self.input.payload[k] != 0)
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
                m.d.comb += self.clear.eq(1)
                m.d.sync += [
                    rows.eq(entry.rows), last.eq(entry.last),
                    config.index.eq(layer), config.ptr_base.eq(entry.ptr_base),
                    config.bias_base.eq(entry.bias_base),
                    config.relu.eq(entry.relu),
                    config.round.eq(entry.shift != 0),
                    config.coarse_shift.eq(Mux(entry.shift == 0, 0, entry.shift - 1)),
                    layer_words.eq(entry.words),
                ]
                m.next = "FIRST"
            with m.State("FIRST"):
                m.d.comb += self.gather.eq(1)
                m.next = "PICK"
            with m.State("PICK"):
                m.d.comb += self.begin.eq(1)
                m.d.sync += scanning.eq(1)
                m.next = "SCAN"
            with m.State("SCAN"):
                with m.If(self.word_done & ~self.fetch_busy):
                    m.d.sync += scanning.eq(0)
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                with m.If(self.pes_idle):
                    m.d.sync += [wb_row.eq(0), wb_left.eq(rows), done_row.eq(0),
                                 done_left.eq(rows), wb_issue.eq(1)]
                    m.next = "WRITEBACK"
            with m.State("WRITEBACK"):
                with m.If(wb_issue):
                    m.d.sync += [wb_row.eq(wb_row + 1), wb_left.eq(wb_left - n)]
                    with m.If(wb_left <= n):
                        m.d.sync += wb_issue.eq(0)
                m.d.comb += [wr.addr.eq(done_row), wr.data.eq(self.wb_result), wr.bank.eq(~src),
                             wr_en.eq(self.wb_done), wr.lanes.eq(self.wb_nonzero)]
                with m.If(self.wb_done):
                    m.d.sync += [done_row.eq(done_row + 1), done_left.eq(done_left - n)]
                    with m.If(done_left <= n):
                        end_layer(m, src=src, layer=layer, last=last, out_count=out_count,
                                  out_pending=out_pending, outputs="FLUSH")
            with m.State("FLUSH"):
                # The last write-back word lands now; read nothing before it.
                m.next = "OUTPUT"
            with m.State("OUTPUT"):
                # The fetcher reads at out_count (read_addr) in this phase.
                offer_outputs(m, self.output, self.word, out_count=out_count,
                              out_pending=out_pending, finished=(out_count + 1) * n >= rows,
                              done=[layer.eq(0), idle.eq(1)])

        # A new input count (loaded mid-vector, too) counts from the words
        # already taken: the vector ends at the next beat if they already
        # cover it, as with a count compared afresh.
        recounted = Signal.like(in_left)
        m.d.comb += recounted.eq(in_cols - in_count * n)
        with m.If(recount):
            m.d.sync += [in_left.eq(recounted),
                         in_mask.eq(Cat(recounted > k for k in range(n + 1)))]
        return m
