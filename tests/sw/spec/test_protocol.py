"""The host link's CRC: the standard library's against the bit-by-bit definition."""

import random

import pytest

from sw.spec.protocol import crc16, crc16_bitwise


@pytest.mark.parametrize("crc", [crc16, crc16_bitwise])
def test_crc_check_value(crc):
    # The catalogued check value of CRC-16/CCITT-FALSE.
    assert crc(b"123456789") == 0x29B1


@pytest.mark.parametrize("seed", range(4))
def test_crc16_equals_the_bitwise_definition(seed):
    rng = random.Random(seed)
    for length in [0, 1, 2, 3, 17, 512, 1031]:
        data = bytes(rng.randrange(256) for _ in range(length))
        start = rng.randrange(1 << 16)
        assert crc16(data) == crc16_bitwise(data)
        assert crc16(data, start) == crc16_bitwise(data, start)
        # Continued over pieces, as over a frame's header, then its payload.
        assert crc16(data[length // 2:], crc16(data[:length // 2])) == crc16_bitwise(data)
        assert crc16(list(data)) == crc16_bitwise(data)  # ints, as the bitwise one takes
