"""EIE's arithmetic unit: codebook lookup, multiply, accumulate with a bypass."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..memory import address_bits, load_layout, placed_memory
from .layouts import loadable_memory, replica
from .spmat import entry_layout

__all__ = ["ArithmeticUnit"]


class ArithmeticUnit(wiring.Component):
    """Decodes an entry's codebook index and accumulates ``w x a`` on its row.

    Stage D registers the entry as it arrives (its index is selected from a
    memory word, often far from the codebook), reads the codebook (one page
    of ``2**index_bits`` values a layer) from that register, and finds the
    entry's local row: ``z`` zeros past the row of its column's previous
    entry (``z`` itself for a column's first); stage M
    reads the row's accumulator and multiplies; stage A adds and writes back. An
    entry on the row written the cycle before would read a stale value, so the
    value just written is forwarded (the paper's bypass); whether to forward
    is decided a stage early and registered, keeping the compare off the
    adder's path.

    Parameters
    ----------
    config : hw.eie.config.EieConfig
    index : int
        The PE's number (its load beats).
    image : sw.flows.eie_image.EieImage, optional

    Ports
    -----
    entry : In(stream) of ``entry_layout``, always ready
        Registered in the cycle it is valid; its codebook read is the next.
    page : In
        The layer's codebook page.
    drain_row, drain : In
        Read accumulator ``drain_row`` (for write-back) and clear it: the
        request is registered, the accumulator read the next cycle, and the
        value is on ``acc`` the cycle after. Not while entries are in flight.
    acc : Out(signed(accumulator_bits))
    load : In(stream) of ``load_layout`` (writes ``codebook``)
    busy : Out(1)
        An entry is in D, M or A.

    Latency: an entry reaches its accumulator three cycles after it is valid;
    throughput one multiply-accumulate a cycle.
    """

    def __init__(self, config, index, image=None):
        self._c, self._index, self._image = config, index, image
        super().__init__({
            "entry": In(stream.Signature(entry_layout(config), always_ready=True)),
            "page": In(address_bits(config.max_layers + 1)),
            "drain_row": In(address_bits(config.rows_per_pe)),
            "drain": In(1),
            "acc": Out(signed(config.accumulator_bits)),
            "load": In(stream.Signature(load_layout(config), always_ready=True)),
            "busy": Out(1),
        })

    def elaborate(self, platform):
        c = self._c
        m = Module()
        acc_bits = c.accumulator_bits
        rd_cb = loadable_memory(m, "codebook", signed(c.codebook_bits),
                                c.max_layers << c.index_bits, self.load, self._index, self._image)
        # A read of the row being written is the bypass's case (`forward`),
        # which does not use the word read.
        acc_mem = placed_memory(m, "acc", signed(acc_bits), c.rows_per_pe)
        rd_acc = acc_mem.read_port()
        wr_acc = acc_mem.write_port()
        # ---- D: the entry registered; the codebook is read
        e = Signal.like(self.entry.payload)
        d_valid = Signal()
        m.d.sync += [d_valid.eq(self.entry.valid), e.eq(self.entry.payload)]
        m.d.comb += rd_cb.addr.eq(self.page << c.index_bits | e.index)
        # Rows of padding entries run up to 2**z_bits past the last.
        row = Signal(address_bits(c.rows_per_pe + (1 << c.z_bits)) + 1)
        prev_row = Signal.like(row)
        m.d.comb += row.eq(Mux(e.first, e.z, prev_row + e.z + 1))
        with m.If(d_valid):
            m.d.sync += prev_row.eq(row)

        # ---- M: codebook value x activation; the accumulator is read
        m_valid = Signal()
        m_row = Signal.like(row)
        m_act = Signal(signed(c.act_bits))
        m.d.sync += [m_valid.eq(d_valid), m_row.eq(row), m_act.eq(e.act)]
        product = Signal(signed(c.codebook_bits + c.act_bits))
        m.d.comb += product.eq(rd_cb.data * m_act)

        # ---- A: add, with the bypass
        # A drained row is cleared the cycle after its read by writing a sum
        # of zeros: the cycle after `drain`, the product and the forwarded
        # value are zero and the forwarded value is chosen, so no multiplexer
        # for the clear sits after the adders (zeroing a register on `drain`
        # becomes its flip-flops' synchronous reset in synthesis).
        drain = replica(self.drain, c)
        drain_row = replica(self.drain_row, c, reset_less=True)
        m.d.sync += [drain.eq(self.drain), drain_row.eq(self.drain_row)]
        a_valid = Signal()
        a_row = Signal.like(m_row)
        a_product = Signal.like(product)
        m.d.sync += [a_valid.eq(m_valid), a_row.eq(m_row),
                     a_product.eq(Mux(drain, 0, product))]
        # The entry now in M lands on the row the entry now in A is writing.
        forward = Signal()
        m.d.sync += forward.eq(drain | (a_valid & (a_row == m_row)))
        last_value = Signal(signed(acc_bits))
        total = Signal(signed(acc_bits))
        # Both sums are made and the bypass chooses after them, so the choice
        # (one flip-flop fanning out to every bit) is not ahead of the carry
        # chain.
        from_memory = Signal.like(total)
        from_last = Signal.like(total)
        m.d.comb += [from_memory.eq(rd_acc.data + a_product), from_last.eq(last_value + a_product),
                     total.eq(Mux(forward, from_last, from_memory))]
        m.d.sync += last_value.eq(Mux(drain, 0, total))

        # ---- drain for write-back: read, then clear the cycle after. The
        # accumulators' read and write addresses are registers of their own,
        # chosen a cycle ahead, so nothing but a flip-flop drives the LUT
        # RAMs' many address inputs.
        rd_row = Signal.like(m_row)
        m.d.sync += rd_row.eq(Mux(self.drain, self.drain_row, row))
        cleared = Signal()
        wr_row = Signal.like(m_row)
        m.d.sync += [cleared.eq(drain), wr_row.eq(Mux(drain, drain_row, m_row))]
        m.d.comb += [rd_acc.addr.eq(rd_row),
                     self.acc.eq(rd_acc.data), self.busy.eq(d_valid | m_valid | a_valid)]
        m.d.comb += [wr_acc.addr.eq(wr_row), wr_acc.data.eq(total),
                     wr_acc.en.eq(cleared | a_valid)]
        return m
