"""The layer table's word as a ``data.StructLayout``, from the same bit fields
the image builders pack with (``sw.spec.packing.pack_fields``), so the
generator reads a field by name and the two sides cannot disagree on where
it is."""

from amaranth.lib import data

__all__ = ["layer_layout"]


def layer_layout(fields):
    """The ``StructLayout`` of a layer-table word laid out as ``fields``.

    Parameters
    ----------
    fields : dict
        ``{name: (offset, width)}``, as ``hw.eie.config.layer_fields`` and
        ``hw.dense_config.dense_layer_fields`` give them: packed from bit 0
        in order, with no gaps (``sw.spec.packing.bit_fields``).

    Returns
    -------
    amaranth.lib.data.StructLayout
        Members in the same order, so each sits at the same offset; a view of
        a table word (``data.View(layout, word)``) reads a field as
        ``view.name``.

    Raises
    ------
    ValueError
        When a field does not start where the one before it ends (a struct
        layout cannot hold gaps or overlaps).
    """
    offset = 0
    for name, (start, width) in fields.items():
        if start != offset:
            raise ValueError(f"layer field {name} starts at bit {start}, not {offset}: "
                             f"fields must be packed from bit 0 without gaps")
        offset += width
    return data.StructLayout({name: width for name, (_, width) in fields.items()})
