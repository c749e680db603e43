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

__all__ = ["BAUD", "HOST_SYNC", "DEVICE_SYNC", "MAX_PAYLOAD", "Command", "Status", "crc16",
           "crc16_bitwise", "encode_frame", "FrameError"]

#: The serial rate (8N1, 10 bits a byte) of a board that names none of its
#: own (``boards.flow.BOARDS``), and the driver's default.
BAUD = 115200

HOST_SYNC = 0xA5
DEVICE_SYNC = 0x5A
#: Payload bytes a frame may carry (the device's frame buffer).
MAX_PAYLOAD = 512


class Command:
    """What a host frame asks for."""
    INFO = 0x01  # -> the device's parameters (``Info`` fields)
    LOAD = 0x02  # load beats: mem (1 byte), pe (1), addr (3), data (load_bytes)
    INPUT = 0x03  # input activations, act_bytes each, whole beats of `pes`
    OUTPUT = 0x04  # payload: beats wanted (2 bytes) -> those output beats
    STATUS = 0x05  # -> busy, layer, cycles of the last inference, error counts


class Status:
    """A device frame's ``cmd``: how the host frame went."""
    OK = 0x00
    BAD_CRC = 0x01
    BAD_LENGTH = 0x02  # over MAX_PAYLOAD, or not whole beats
    UNKNOWN_COMMAND = 0x03
    TIMEOUT = 0x04  # the line went quiet inside a frame
    BUSY = 0x05  # loading while the engine runs
    NOT_READY = 0x06  # outputs asked for before they exist

    NAMES = {0: "ok", 1: "bad CRC", 2: "bad length", 3: "unknown command", 4: "timeout",
             5: "busy", 6: "outputs not ready"}


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
