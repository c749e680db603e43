"""Packing nested values into the bit vectors of Amaranth layouts, and back.

Stream payloads cross into Verilog as one flat port (``i__payload``); the
driver packs numbers into it and the monitor unpacks results with the very
layout the generator used, so field order and offsets cannot drift apart.
"""

from amaranth.hdl import Shape
from amaranth.lib import data

__all__ = ["pack", "unpack", "bit_fields", "pack_fields"]


def pack(shape, value):
    """Flatten ``value`` (int, list, or dict of fields) into one unsigned int."""
    if isinstance(shape, data.StructLayout):
        return sum(pack(field.shape, value[name]) << field.offset for name, field in shape)
    if isinstance(shape, data.ArrayLayout):
        elem = Shape.cast(shape.elem_shape).width
        if len(value) != shape.length:
            raise ValueError(f"expected {shape.length} elements, not {len(value)}")
        return sum(pack(shape.elem_shape, v) << (i * elem) for i, v in enumerate(value))
    shape = Shape.cast(shape)
    value = int(value)
    lo = -(1 << (shape.width - 1)) if shape.signed else 0
    hi = (1 << (shape.width - shape.signed)) - 1
    if not lo <= value <= hi:
        raise ValueError(f"{value} does not fit {shape}")
    return value & ((1 << shape.width) - 1)


def unpack(shape, bits):
    """Inverse of :func:`pack`: nested lists / dicts of Python ints."""
    if isinstance(shape, data.StructLayout):
        return {name: unpack(field.shape, bits >> field.offset) for name, field in shape}
    if isinstance(shape, data.ArrayLayout):
        elem = Shape.cast(shape.elem_shape).width
        return [unpack(shape.elem_shape, bits >> (i * elem)) for i in range(shape.length)]
    shape = Shape.cast(shape)
    value = bits & ((1 << shape.width) - 1)
    if shape.signed and value >> (shape.width - 1):
        value -= 1 << shape.width
    return value


def bit_fields(widths):
    """``[(name, width), ...]`` laid out from bit 0: ``{name: (offset, width)}``."""
    fields, offset = {}, 0
    for name, width in widths:
        fields[name] = (offset, width)
        offset += width
    return fields


def pack_fields(fields, values):
    """``values`` (``{name: int}``) packed at ``fields``' offsets; ``ValueError``
    when one does not fit its width."""
    word = 0
    for name, (offset, width) in fields.items():
        value = int(values[name])
        if not 0 <= value < 1 << width:
            raise ValueError(f"layer field {name}={value} does not fit {width} bits")
        word |= value << offset
    return word
