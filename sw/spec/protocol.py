"""The host link's framed protocol (docs/formats.md, "Host link"): constants,
CRC and frames, shared by the host driver and the hardware generator.

A frame is ``sync, cmd, length (2 bytes, little-endian), payload, crc (2
bytes, little-endian)``; the CRC is CRC-16/CCITT-FALSE (polynomial 0x1021,
initial value 0xFFFF) over ``cmd``, ``length`` and the payload. The host
sends with ``HOST_SYNC``; the device answers every frame it receives, or
every frame it gives up on, with one frame of its own, ``DEVICE_SYNC``, the
status as ``cmd``.
"""

import binascii

__all__ = ["BAUD", "VERSION", "HOST_SYNC", "DEVICE_SYNC", "MAX_PAYLOAD", "RX_FIFO", "Command",
           "Status", "Encoding", "crc16", "crc16_bitwise", "encode_frame", "FrameError"]

#: The serial rate (8N1, 10 bits a byte) of a board that names none of its
#: own (``boards.flow.BOARDS``), and the driver's default.
BAUD = 115200

#: The protocol's version, the first byte of INFO's reply.
VERSION = 2

HOST_SYNC = 0xA5
DEVICE_SYNC = 0x5A
#: Payload bytes a frame may carry (the device's frame buffer).
MAX_PAYLOAD = 512
#: Bytes the device's receive FIFO holds (two iCE40 block RAMs): frames the
#: host sends while the device works on one wait there, so the host need not
#: wait for replies; it holds a longest frame while the one before is answered.
RX_FIFO = 1024


class Command:
    """What a host frame asks for."""
    INFO = 0x01  # -> the device's parameters (``Info`` fields)
    # 0x02 LOAD, 0x03 INPUT and 0x04 OUTPUT were version 1's: a frame and a
    # reply an input, which streaming INFER and LOAD_BURST replace.
    STATUS = 0x05  # -> busy, layer, cycles of the last inference, error counts
    INFER = 0x06  # seq (1), encoding (1), the input -> seq (1), the output activations
    LOAD_BURST = 0x07  # seq (1), mem (1), pe (1), first addr (3), data words at addr, addr + 1..
    #                    -> seq (1)
    READ = 0x08  # seq (1), mem (1), pe (1), first addr (3), words (2) -> seq (1), the words


class Status:
    """A device frame's ``cmd``: how the host frame went."""
    OK = 0x00
    BAD_CRC = 0x01
    BAD_LENGTH = 0x02  # over MAX_PAYLOAD, or an input or load that ends inside a value
    UNKNOWN_COMMAND = 0x03
    TIMEOUT = 0x04  # the line went quiet inside a frame
    BUSY = 0x05  # loading or an input while the engine runs
    # 0x06 (outputs not ready) was version 1's OUTPUT's.
    BAD_ENCODING = 0x07  # an INFER input encoding the device does not know
    BAD_ADDRESS = 0x08  # a READ of a memory, PE or address the engine lacks

    NAMES = {0: "ok", 1: "bad CRC", 2: "bad length", 3: "unknown command", 4: "timeout",
             5: "busy", 7: "bad encoding", 8: "bad address"}


class Encoding:
    """How an INFER frame's input activations are written (docs/formats.md): runs of
    ``zeros (1 byte), count (1 byte), count values``, repeated, at most 255 of each."""
    RUNS_BYTES = 0  # values as unsigned bytes (0-255)
    RUNS = 1  # values of act_bytes each, two's complement

    ALL = (RUNS_BYTES, RUNS)


class FrameError(Exception):
    """A device frame that is not well formed."""


def crc16(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data`` (bytes, or ints), continuing from ``crc``.

    ``binascii.crc_hqx`` is this CRC (polynomial 0x1021, no reflection, no
    final XOR) from whatever value it starts at, table-driven in C: the
    driver checks every reply with it, and the bit loop in Python takes
    about 1.3 us a byte, 40% of a byte's 3.3 us on the line at 3 Mbaud.
    ``crc16_bitwise`` is its oracle.
    """
    return binascii.crc_hqx(bytes(data), crc)  # bytes(): a list of ints, as before


def crc16_bitwise(data, crc=0xFFFF):
    """CRC-16/CCITT-FALSE of ``data`` (bytes), bit by bit, naive on purpose:
    the definition ``crc16`` is tested against."""
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def encode_frame(sync, cmd, payload=b""):
    """The bytes of one frame."""
    if len(payload) > 0xFFFF:
        raise ValueError(f"a frame carries at most 65535 bytes, not {len(payload)}")
    body = bytes([cmd, len(payload) & 0xFF, len(payload) >> 8]) + bytes(payload)
    crc = crc16(body)
    return bytes([sync]) + body + bytes([crc & 0xFF, crc >> 8])
