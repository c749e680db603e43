"""EIE's storage format (Han et al., ISCA 2016), encode and decode.

Rows are interleaved over the PEs: row ``i`` lives on PE ``i mod pes`` as its
local row ``i // pes``. Each PE keeps its slice in compressed sparse column
form: per non-zero, ``v`` (the codebook index) and ``z`` (how many zeros
precede it in the column, since the previous entry). ``z`` has ``z_bits``
bits, so a run longer than ``2**z_bits - 1`` zeros is broken by a padding
entry ``v = 0`` (codebook entry 0 is zero) with ``z = 2**z_bits - 1``.
Column pointers ``ptr[j]`` and ``ptr[j + 1]`` bound column ``j``'s entries
(one extra pointer at the end).

The paper's column ``[0, 0, 1, 2, 0 x 18, 3]`` (values as codebook indices)
is stored as ``v = [1, 2, 0, 3]``, ``z = [2, 0, 15, 2]``.
"""

import numpy as np

__all__ = ["encode_column", "encode_layer", "decode_layer", "EieLayer"]


def encode_column(column, z_bits):
    """``(v, z)`` lists for one column of codebook indices (0 = zero)."""
    longest = (1 << z_bits) - 1
    v, z, run = [], [], 0
    for index in column:
        index = int(index)
        if index == 0:
            run += 1
            if run > longest:
                # This zero becomes a padding entry after `longest` zeros.
                v.append(0)
                z.append(longest)
                run = 0
            continue
        v.append(index)
        z.append(run)
        run = 0
    # Padding only serves to reach a later non-zero; trailing ones would cost
    # storage and cycles for nothing.
    while v and v[-1] == 0:
        v.pop()
        z.pop()
    return v, z


class EieLayer:
    """One layer in EIE form: per PE, arrays ``v``, ``z`` and ``ptr``.

    Attributes
    ----------
    rows, cols, pes, z_bits : int
    v, z : list of int arrays, one per PE
    ptr : int array (pes, cols + 1)
    """

    def __init__(self, rows, cols, pes, z_bits, v, z, ptr):
        self.rows, self.cols, self.pes, self.z_bits = rows, cols, pes, z_bits
        self.v, self.z, self.ptr = v, z, ptr

    def entries(self):
        """Entries (non-zeros plus padding) of each PE in each column: (pes, cols)."""
        return np.diff(self.ptr, axis=1)

    def rows_of(self, pe):
        """How many rows PE ``pe`` holds."""
        return len(range(pe, self.rows, self.pes))


def encode_layer(indices, pes, z_bits):
    """EIE form of a matrix of codebook indices (rows x cols, 0 = zero)."""
    indices = np.asarray(indices)
    rows, cols = indices.shape
    v_all, z_all = [], []
    ptr = np.zeros((pes, cols + 1), dtype=np.int64)
    for pe in range(pes):
        local = indices[pe::pes]
        v_pe, z_pe = [], []
        for j in range(cols):
            v, z = encode_column(local[:, j], z_bits)
            v_pe += v
            z_pe += z
            ptr[pe, j + 1] = len(v_pe)
        v_all.append(np.array(v_pe, dtype=np.int64))
        z_all.append(np.array(z_pe, dtype=np.int64))
    return EieLayer(rows, cols, pes, z_bits, v_all, z_all, ptr)


def decode_layer(layer):
    """The matrix of codebook indices an ``EieLayer`` stores (inverse of encode)."""
    indices = np.zeros((layer.rows, layer.cols), dtype=np.int64)
    for pe in range(layer.pes):
        local_rows = layer.rows_of(pe)
        for j in range(layer.cols):
            row = -1
            for e in range(layer.ptr[pe, j], layer.ptr[pe, j + 1]):
                row += int(layer.z[pe][e]) + 1
                if row >= local_rows:
                    raise ValueError(f"PE {pe} column {j} runs past its {local_rows} rows")
                if layer.v[pe][e]:
                    indices[pe + row * layer.pes, j] = layer.v[pe][e]
    return indices
