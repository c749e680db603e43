"""What the four stream arrays share: parameter checks, the ``i``/``o`` streams,
``params``, ``out_width`` and a latency counted from the built pipeline."""

from amaranth.hdl import Shape
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .pipeline import Pipelined

__all__ = ["StreamArray", "MAX_ACC_BITS", "check_int", "check_acc_bits"]

#: The golden models compute in int64; wider accumulators and outputs are refused.
MAX_ACC_BITS = 62


def check_int(name, value, low, high, option):
    """``ValueError`` unless ``value`` is an integer (not a bool) in [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, not {value!r} "
                         f"(option {option})")


def check_acc_bits(acc_bits, needed, too_narrow):
    """The accumulator width: ``needed`` by default, a wider one if asked, never narrower.

    ``too_narrow`` says why a narrower one is refused (``"can overflow with
    --max-inputs 64"``); the message adds how many bits it needs and the way out.
    """
    if acc_bits is None:
        acc_bits = needed
    else:
        check_int("accumulator width", acc_bits, 2, MAX_ACC_BITS, "--acc-bits")
        if acc_bits < needed:
            raise ValueError(f"accumulator width {acc_bits} {too_narrow}: it needs at least "
                             f"{needed} bits (raise --acc-bits or lower --max-inputs)")
    if acc_bits > MAX_ACC_BITS:
        raise ValueError(f"accumulator would need {acc_bits} bits, over the limit of "
                         f"{MAX_ACC_BITS}: lower --max-inputs or the widths")
    return acc_bits


class StreamArray(Pipelined, wiring.Component):
    """Base of the stream arrays (``MacArray``, ``XnorArray``, ``TernaryArray``,
    ``WinogradTile``): a dot product (or a channel sum) streamed as beats on
    ``i`` from ``first`` to ``last``, one result beat on ``o`` per ``last``.

    Parameters
    ----------
    params : dict
        The validated parameters, defaults filled in (``params``).
    fields : dict
        The input beat's fields before ``first`` and ``last``, which every
        array has and appends last.
    output : shape-castable
        Layout of an output beat (arrays of one signed or unsigned value).

    ``latency`` is the stage count the subclass's ``elaborate`` builds on its
    ``hw.pipeline.Path``: cycles from a ``last`` beat accepted on ``i`` to
    its result valid on ``o``, when ``o`` is not holding an earlier result.
    """

    def __init__(self, params, fields, output):
        self._params = params
        super().__init__({
            "i": In(stream.Signature(data.StructLayout({**fields, "first": 1, "last": 1}))),
            "o": Out(stream.Signature(output)),
        })

    @property
    def params(self):
        """The validated parameters, defaults filled in (a new dict)."""
        return dict(self._params)

    @property
    def out_width(self):
        """Width of each result value on ``o``."""
        shape = self.o.payload.shape()
        while isinstance(shape, data.ArrayLayout):
            shape = shape.elem_shape
        return Shape.cast(shape).width
