"""What the host link's parts share: the CRC step, and the byte sizes of
what the frames carry (``sw.spec.protocol``, docs/formats.md)."""

from amaranth.hdl import Cat, Const, Mux

from ..memory import load_layout

__all__ = ["crc_byte", "link_sizes"]


def crc_byte(crc, byte):
    """CRC-16/CCITT-FALSE after one more byte, unrolled (``sw.spec.protocol.crc16``)."""
    for i in range(8):
        top = crc[15] ^ byte[7 - i]
        crc = Cat(Const(0, 1), crc[:15]) ^ Mux(top, 0x1021, 0)
    return crc


def link_sizes(config):
    """Bytes of one load beat, one activation and one input or output beat."""
    load_data = load_layout(config).members["data"]
    act = -(-config.act_bits // 8)
    return {"load": 5 + -(-load_data // 8), "act": act, "beat": config.beat_lanes * act}
