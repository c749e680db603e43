"""EIE's arithmetic unit: codebook lookup, multiply, accumulate with a bypass."""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import stream
from amaranth.lib.wiring import In, Out

from ..memory import address_bits, placed_memory
from .layouts import replica
from .spmat import entry_layout
from .unit import PeUnit

__all__ = ["ArithmeticUnit"]


class ArithmeticUnit(PeUnit):
    """Decodes an entry's codebook index and accumulates ``w x a`` on its row.

    Stage ``a1`` registers the entry as it arrives (its index is selected from a
    memory word, often far from the codebook), reads the codebook (one page
    of ``2**index_bits`` values a layer) from that register, and finds the
    entry's local row: ``z`` zeros past the row of its column's previous
    entry (``z`` itself for a column's first); stage ``a2``
    reads the row's accumulator and multiplies; stage ``a3`` adds and writes back. An
    entry on the row written the cycle before would read a stale value, so the
    value just written is forwarded (the paper's bypass); whether to forward
    is decided a stage early and registered, keeping the compare off the
    adder's path.

    Parameters
    ----------
    config, index, image
        As ``PeUnit``; ``image`` bakes in the codebook.

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
        An entry is in ``a1``, ``a2`` or ``a3``.
    settling : Out(1)
        An entry is in ``a1`` or ``a2``: the unit is still busy next cycle
        (an entry in ``a3`` alone is written this cycle).

    Latency: an entry is added to its accumulator in the ``latency``-th
    (third) cycle after it is valid, the last one ``busy`` shows it;
    throughput one multiply-accumulate a cycle.
    """

    stage_prefix = "a"

    def __init__(self, config, index, image=None):
        super().__init__(config, index, image, {
            "entry": In(stream.Signature(entry_layout(config), always_ready=True)),
            "page": In(address_bits(config.max_layers + 1)),
            "drain_row": In(address_bits(config.rows_per_pe)),
            "drain": In(1),
            "acc": Out(signed(config.accumulator_bits)),
            "busy": Out(1),
            "settling": Out(1),
        })

    def build(self, platform, path):
        c = self._c
        m = Module()
        acc_bits = c.accumulator_bits
        rd_cb, answer = self.memory(m, "codebook", signed(c.codebook_bits),
                                    c.max_layers << c.index_bits)
        self.answer_reads(m, answer)
        # A read of the row being written is the bypass's case (`forward`),
        # which does not use the word read.
        acc_mem = placed_memory(m, "acc", signed(acc_bits), c.rows_per_pe)
        rd_acc = acc_mem.read_port()
        wr_acc = acc_mem.write_port()
        # ---- a1: the entry registered; the codebook is read
        a1 = path.stage()
        e = path.signal(a1, "entry", self.entry.payload.shape())
        a1_valid = path.signal(a1, "valid")
        m.d.sync += [a1_valid.eq(self.entry.valid), e.eq(self.entry.payload)]
        m.d.comb += rd_cb.addr.eq(self.page << c.index_bits | e.index)
        # Rows of padding entries run up to 2**z_bits past the last.
        row = Signal(address_bits(c.rows_per_pe + (1 << c.z_bits)) + 1)
        prev_row = Signal.like(row)
        m.d.comb += row.eq(Mux(e.first, e.z, prev_row + e.z + 1))
        with m.If(a1_valid):
            m.d.sync += prev_row.eq(row)

        # ---- a2: codebook value x activation; the accumulator is read
        a2 = path.stage()
        a2_valid = path.signal(a2, "valid")
        a2_row = path.signal(a2, "row", len(row))
        a2_act = path.signal(a2, "act", signed(c.act_bits))
        m.d.sync += [a2_valid.eq(a1_valid), a2_row.eq(row), a2_act.eq(e.act)]
        product = Signal(signed(c.codebook_bits + c.act_bits))
        m.d.comb += product.eq(rd_cb.data * a2_act)

        # ---- a3: add, with the bypass
        # A drained row is cleared the cycle after its read by writing a sum
        # of zeros: the cycle after `drain`, the product and the forwarded
        # value are zero and the forwarded value is chosen, so no multiplexer
        # for the clear sits after the adders (zeroing a register on `drain`
        # becomes its flip-flops' synchronous reset in synthesis).
        drain = replica(self.drain, c)
        drain_row = replica(self.drain_row, c, reset_less=True)
        m.d.sync += [drain.eq(self.drain), drain_row.eq(self.drain_row)]
        a3 = path.stage()
        a3_valid = path.signal(a3, "valid")
        a3_row = path.signal(a3, "row", len(row))
        a3_product = path.signal(a3, "product", product.shape())
        m.d.sync += [a3_valid.eq(a2_valid), a3_row.eq(a2_row),
                     a3_product.eq(Mux(drain, 0, product))]
        # The entry now in a2 lands on the row the entry now in a3 is writing.
        forward = Signal()
        m.d.sync += forward.eq(drain | (a3_valid & (a3_row == a2_row)))
        last_value = Signal(signed(acc_bits))
        total = Signal(signed(acc_bits))
        # Both sums are made and the bypass chooses after them, so the choice
        # (one flip-flop fanning out to every bit) is not ahead of the carry
        # chain.
        from_memory = Signal.like(total)
        from_last = Signal.like(total)
        m.d.comb += [from_memory.eq(rd_acc.data + a3_product),
                     from_last.eq(last_value + a3_product),
                     total.eq(Mux(forward, from_last, from_memory))]
        m.d.sync += last_value.eq(Mux(drain, 0, total))

        # ---- drain for write-back: read, then clear the cycle after. The
        # accumulators' read and write addresses are registers of their own,
        # chosen a cycle ahead, so nothing but a flip-flop drives the LUT
        # RAMs' many address inputs.
        rd_row = Signal.like(a2_row)
        m.d.sync += rd_row.eq(Mux(self.drain, self.drain_row, row))
        cleared = Signal()
        wr_row = Signal.like(a2_row)
        m.d.sync += [cleared.eq(drain), wr_row.eq(Mux(drain, drain_row, a2_row))]
        m.d.comb += [rd_acc.addr.eq(rd_row),
                     self.acc.eq(rd_acc.data), self.busy.eq(a1_valid | a2_valid | a3_valid),
                     self.settling.eq(a1_valid | a2_valid)]
        m.d.comb += [wr_acc.addr.eq(wr_row), wr_acc.data.eq(total),
                     wr_acc.en.eq(cleared | a3_valid)]
        return m
