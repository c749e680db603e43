"""The EIE engine's word fetcher: the two activation buffers, which of their
words hold a non-zero, and the read of those words, one a cycle, into a
small FIFO for the broadcaster (``hw.eie.broadcaster``)."""

from amaranth.hdl import Cat, Fragment, Module, Mux, Signal, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.fifo import SyncFIFO
from amaranth.lib.wiring import In, Out

from ..memory import address_bits, placed_memory, single_port
from ..pipeline import Pipelined
from .layouts import layer_config_layout
from .lnzd import LeadingNonzero

__all__ = ["WordFetcher", "fetch_timing", "fetched_layout", "write_layout"]


def write_layout(config):
    """A word written into an activation buffer: its address in bank ``bank``,
    its ``pes`` activations and which of them are non-zero (given by the
    writer from registers, so no comparison of the word is needed here)."""
    return data.StructLayout({"addr": address_bits(config.act_words + 1), "bank": 1,
                              "data": config.pes * config.act_bits, "lanes": config.pes})


def fetched_layout(config):
    """A fetched word: its activations (``vals``), its non-zero lanes, and the
    index of its first column's first pointer (the layer's pointer base plus
    the word's first element)."""
    return data.StructLayout({"vals": config.pes * config.act_bits, "lanes": config.pes,
                              "ptr": address_bits(config.ptr_depth + 2)})


class WordFetcher(Pipelined, wiring.Component):
    """Reads the activation words of a layer's input that hold a non-zero.

    Both activation buffers (words of ``pes`` lanes, element ``j`` at word
    ``j // pes``, lane ``j mod pes``) live in one memory, the bank the top
    address bit: a layer reads bank ``src`` only while scanning and writes the
    other only while writing back, so one read and one write port serve both
    (in SPRAM, ``config.spram``, one shared port). Each buffer notes which of
    its words hold a non-zero as they are written (EIE detects non-zeros at
    write-back), and a leading-non-zero tree over those flags picks the next
    word to read; with ``config.sequential_scan`` every word of the input is
    read in turn and words of zeros are dropped on their way into the FIFO.

    Parameters
    ----------
    config : hw.eie.config.EieConfig

    Ports
    -----
    write : In(stream) of ``write_layout``, always ready
        A word to store; registered on its way in, it lands the cycle after
        it is given (before anything reads it back).
    src : In(1)
        The bank scanned and read (the other is written).
    layer_words : In
        Words of the layer's input (the scan reads no word past them).
    ptr_base : In
        The layer's pointer base (``layer_config_layout``).
    gather : In(1)
        Note which words of bank ``src`` the scan reads (one cycle, after
        ``src`` and ``layer_words`` are set and before ``begin``).
    begin : In(1)
        Choose the first word to read (one cycle, before ``scan``).
    scan : In(1)
        Read the chosen words while the FIFO has room.
    read_addr : In
        Word of bank ``src`` read while not scanning (the outputs).
    word : Out
        The word read, the cycle after its address.
    words : Out(stream) of ``fetched_layout``
        The fetched words, in order (a three-deep FIFO's head).
    busy : Out(1)
        Words still to read, in flight, or waiting in the FIFO.

    Latency: a word is at the FIFO's head ``latency`` (two) cycles after it
    is read (the read, then the FIFO's write), and the FIFO holds ``slots``
    (three) words, both counted from the design as built: the figures the
    cycle model follows (``sw.golden.cycles``). Throughput one word a cycle,
    the next word's address always a register (chosen a cycle ahead).
    """

    def __init__(self, config):
        self._c = config
        words = config.act_words
        super().__init__({
            "write": In(stream.Signature(write_layout(config), always_ready=True)),
            "src": In(1),
            "layer_words": In(range(words + 1)),
            "ptr_base": In(layer_config_layout(config).members["ptr_base"]),
            "gather": In(1),
            "begin": In(1),
            "scan": In(1),
            "read_addr": In(address_bits(words + 1)),
            "word": Out(config.pes * config.act_bits),
            "words": Out(stream.Signature(fetched_layout(config))),
            "busy": Out(1),
        })

    @property
    def slots(self):
        """Words the FIFO holds, as built."""
        self.count()
        return self._slots

    def build(self, platform, path):
        # `path`: a word's read to the FIFO's head.
        c = self._c
        n = c.pes
        m = Module()
        words = c.act_words
        word_bits = n * c.act_bits
        aw = address_bits(words)
        # In block RAM each word is stored with its lanes' non-zero flags (n
        # more bits, in the RAMs' spare width), so the broadcaster needs no
        # comparison; SPRAM has no spare width (16-bit words), so there the
        # flags are found from the word as it is read.
        flags_stored = not c.spram
        acts = placed_memory(m, "acts", unsigned(word_bits + n * flags_stored), 2 << aw,
                             spram=c.spram)
        # Writes are registered on their way in (the input and write-back paths
        # end at these flip-flops). Which lanes are non-zero is registered
        # with the word (the tree scan's per-word flags below are then a
        # short OR, not one over all its bits).
        wq = Signal(write_layout(c))
        wq_en = Signal()
        m.d.sync += [wq.eq(self.write.payload), wq_en.eq(self.write.valid)]
        write_addr = Cat(wq.addr[:aw], wq.bank)
        write_data = Cat(wq.data, wq.lanes) if flags_stored else wq.data
        if c.spram:
            rd = single_port(m, acts, write_addr, write_data, wq_en)
        else:
            rd, wr = acts.read_port(), acts.write_port()
            m.d.comb += [wr.addr.eq(write_addr), wr.data.eq(write_data), wr.en.eq(wq_en)]
        word = rd.data[:word_bits]
        if flags_stored:
            word_lanes = rd.data[word_bits:]
        else:
            word_lanes = Cat(word.word_select(k, c.act_bits) != 0 for k in range(n))

        # It works one word ahead: `upcoming` is the next word to read, chosen
        # a cycle earlier, so the read address comes straight from a
        # register; `more` says there is one. `begin` and `advance` (at each
        # read) choose it.
        upcoming = Signal(address_bits(words + 1))
        more = Signal()
        m.d.comb += [rd.addr.eq(Cat(Mux(self.scan, upcoming, self.read_addr)[:aw], self.src)),
                     self.word.eq(word)]
        if c.sequential_scan:
            # Every word of the layer's input in turn; no per-word state.
            gather = []
            begin = [upcoming.eq(0), more.eq(1)]

            def advance():
                return [upcoming.eq(upcoming + 1), more.eq(upcoming + 1 < self.layer_words)]
            keep = word_lanes.any()
        else:
            nonzero_words = [Signal(words, name=f"nonzero_words{k}") for k in range(2)]
            for k in range(2):
                with m.If(wq_en & (wq.bank == k)):
                    m.d.sync += nonzero_words[k].bit_select(wq.addr, 1).eq(wq.lanes.any())
            # A tree over `todo` (the words after `upcoming` still to read:
            # non-zero and inside this layer's input, gathered in `gather`)
            # picks the next.
            m.submodules.words = find_word = LeadingNonzero(words)
            todo = Signal(words)
            m.d.comb += find_word.i.eq(todo)
            # A comparison per word with a constant, no shifter: the words
            # inside this layer's input.
            in_layer = Cat(self.layer_words > k for k in range(words))
            gather = [todo.eq(Mux(self.src, nonzero_words[1], nonzero_words[0]) & in_layer)]

            def advance():
                """Take the tree's pick as the next word to read (and clear
                the lowest set bit of `todo`, which is that word, with one
                carry chain rather than a decoder behind the tree)."""
                return [upcoming.eq(find_word.index), more.eq(find_word.any),
                        todo.eq(todo & (todo - 1))]
            begin = advance()
            keep = 1

        ptr_bits = address_bits(c.ptr_depth + 2)
        fetched = fetched_layout(c)
        m.submodules.fetched = fifo = SyncFIFO(width=fetched.size, depth=3)
        self._slots = fifo.depth
        fetch = Signal()
        in_flight = Signal()  # a word read last cycle, written into the FIFO now
        flight_ptr = Signal(ptr_bits)
        # Room is counted from registers only: a word popped this cycle frees
        # its slot a cycle late. Three slots keep one word a cycle flowing.
        fetch_room = fifo.level + in_flight < fifo.depth
        m.d.comb += fetch.eq(self.scan & more & fetch_room)
        # A word read is on the read port, and in flight, the next cycle...
        path.stage()
        m.d.sync += in_flight.eq(fetch)
        # ... and, written into the FIFO then, at its head (first word falling
        # through) the cycle after.
        path.stage()
        with m.If(fetch):
            # The first pointer of the word's first column: layer base + element.
            m.d.sync += [flight_ptr.eq(self.ptr_base + upcoming * n), *advance()]
        # `gather`, `begin` and `scan` come in different cycles (the
        # sequencer's phases), so these never meet a fetch.
        with m.If(self.gather):
            m.d.sync += gather
        with m.If(self.begin):
            m.d.sync += begin
        m.d.comb += [fifo.w_en.eq(in_flight & keep),
                     fifo.w_data.eq(Cat(word, word_lanes, flight_ptr)),
                     self.words.valid.eq(fifo.r_rdy), self.words.payload.eq(fifo.r_data),
                     fifo.r_en.eq(self.words.ready),
                     self.busy.eq(more | in_flight | fifo.r_rdy)]
        return m


def fetch_timing(config):
    """The word fetcher's cycle figures, as built for ``config``, for the cycle
    model (``sw.golden.cycles``), which follows the engine register for register.

    Returns
    -------
    dict
        ``latency``: cycles from a word's read to its being at the FIFO's
        head (``WordFetcher.latency``); ``slots``: words the FIFO holds
        (``WordFetcher.slots``).
    """
    fetcher = WordFetcher(config)
    Fragment.get(fetcher, None)  # built (and so used) only to be counted
    return {"latency": fetcher.latency, "slots": fetcher.slots}
