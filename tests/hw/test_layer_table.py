"""The layer table's StructLayout: each field where the image builders pack it."""

import pytest

from hw.dense_config import DenseConfig, dense_layer_fields
from hw.eie.config import EieConfig, layer_fields
from hw.layer_table import layer_layout
from sw.spec.packing import pack_fields


@pytest.mark.parametrize("fields,values", [
    (layer_fields(EieConfig(max_cols=1000, pes=4)),
     {"cols": 1000, "rows": 999, "words": 250, "ptr_base": 2047, "bias_base": 17, "shift": 127,
      "relu": 1, "last": 0}),
    (layer_fields(EieConfig(pes=1, max_cols=7, ptr_depth=9, bias_depth=3)),
     {"cols": 7, "rows": 1, "words": 5, "ptr_base": 9, "bias_base": 3, "shift": 0, "relu": 0,
      "last": 1}),
    (dense_layer_fields(DenseConfig()),
     {"chunks": 3, "groups": 100, "out_words": 13, "shift": 14, "relu": 1, "last": 1}),
])
def test_fields_read_what_pack_fields_wrote(fields, values):
    layout = layer_layout(fields)
    assert layout.size == sum(w for _, w in fields.values())
    assert {name: (f.offset, f.width) for name, f in layout} == fields
    word = layout.from_bits(pack_fields(fields, values))
    assert {name: getattr(word, name) for name in fields} == values


def test_gaps_are_refused():
    with pytest.raises(ValueError, match="layer field b starts at bit 5, not 4: fields must be "
                                         "packed from bit 0 without gaps"):
        layer_layout({"a": (0, 4), "b": (5, 3)})
