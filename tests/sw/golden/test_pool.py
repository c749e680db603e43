"""The tail and pooling golden models against cases worked out by hand."""

import numpy as np
import pytest

from sw.golden.pool import pool2d, pool_output_shape, tail

#: 1 to 16, row-major: every window's sum is easy to check by eye.
IMAGE = np.arange(1, 17, dtype=np.int64).reshape(1, 1, 4, 4)
#: Negatives, to see round half up and padding that must not win a max.
SMALL = np.array([[[[-1, -2], [4, 3]]]], dtype=np.int64)


def test_tail_rounds_half_up_and_saturates():
    acc = np.array([[[[10, -10]], [[1000, -1000]]]])
    bias = np.array([2, -4])
    # ch 0: 12/4 = 3, -8/4 = -2; ch 1: 996/4 = 249 -> 31, -1004/4 = -251 -> -32.
    assert tail(acc, bias, shift=2, act_bits=6, relu=False).tolist() == \
        [[[[3, -2]], [[31, -32]]]]
    assert tail(acc, bias, shift=2, act_bits=6, relu=True).tolist() == [[[[3, 0]], [[31, 0]]]]
    # 0.5 -> 1, -0.5 -> 0, -1.5 -> -1.
    assert tail(np.array([[[[2, -2, -6]]]]), np.array([0]), shift=2, act_bits=8,
                relu=False).tolist() == [[[[1, 0, -1]]]]


def test_max_2x2_stride_2():
    assert pool2d(IMAGE, mode="max", kernel=(2, 2), stride=(2, 2), pads=(0, 0, 0, 0),
                  count_pads=False).tolist() == [[[[6, 8], [14, 16]]]]


def test_3x3_stride_3_padded_bottom_right():
    # Windows: rows 0-2 | 3 (+2 padding), columns 0-2 | 3 (+2 padding).
    kwargs = dict(kernel=(3, 3), stride=(3, 3), pads=(0, 0, 2, 2))
    assert pool2d(IMAGE, mode="max", count_pads=False, **kwargs).tolist() == \
        [[[[11, 12], [15, 16]]]]
    # 54/9 = 6, 24/3 = 8, 42/3 = 14, 16/1 = 16
    assert pool2d(IMAGE, mode="avg", count_pads=False, **kwargs).tolist() == \
        [[[[6, 8], [14, 16]]]]
    # 54/9 = 6, 24/9 = 2.67 -> 3, 42/9 = 4.67 -> 5, 16/9 = 1.78 -> 2
    assert pool2d(IMAGE, mode="avg", count_pads=True, **kwargs).tolist() == \
        [[[[6, 3], [5, 2]]]]


def test_padded_top_left_average_and_max():
    kwargs = dict(kernel=(2, 2), stride=(1, 1), pads=(1, 1, 0, 0))
    # Real positions: {-1}, {-1, -2}, {-1, 4}, {-1, -2, 4, 3}.
    # -1/1 = -1, -3/2 = -1.5 -> -1, 3/2 = 1.5 -> 2, 4/4 = 1
    assert pool2d(SMALL, mode="avg", count_pads=False, **kwargs).tolist() == [[[[-1, -1],
                                                                               [2, 1]]]]
    # -1/4 = -0.25 -> 0, -3/4 = -0.75 -> -1, 3/4 = 0.75 -> 1, 4/4 = 1
    assert pool2d(SMALL, mode="avg", count_pads=True, **kwargs).tolist() == [[[[0, -1],
                                                                              [1, 1]]]]
    # Padding never wins: the corner's max is -1, not 0.
    assert pool2d(SMALL, mode="max", count_pads=False, **kwargs).tolist() == [[[[-1, -1],
                                                                               [4, 4]]]]


def test_one_by_one_is_the_identity():
    assert pool2d(SMALL, mode="avg", kernel=(1, 1), stride=(1, 1), pads=(0, 0, 0, 0),
                  count_pads=False).tolist() == SMALL.tolist()


def test_output_shape():
    assert pool_output_shape(4, 5, kernel=(3, 2), stride=(2, 3), pads=(1, 0, 1, 1)) == (2, 2)


@pytest.mark.parametrize("kwargs,message", [
    (dict(mode="min"), "pooling mode must be 'max' or 'avg', not 'min'"),
    (dict(kernel=(0, 2)), r"pooling kernel must be two integers >= 1, not \(0, 2\)"),
    (dict(stride=(1,)), r"pooling stride must be two integers >= 1, not \(1,\)"),
    (dict(pads=(-1, 0, 0, 0)), r"pooling pads must be four integers >= 0 \(top, left, "
                               r"bottom, right\), not \(-1, 0, 0, 0\)"),
    (dict(kernel=(3, 3)), "the 3x3 pooling window is larger than the padded 2x2 image: "
                          "it has no output"),
    (dict(pads=(0, 0, 1, 0)), "pooling window at output row 2 covers only padding: "
                              "lower the pads"),
])
def test_pool2d_rejects(kwargs, message):
    args = dict(mode="max", kernel=(1, 1), stride=(1, 1), pads=(0, 0, 0, 0), count_pads=False)
    with pytest.raises(ValueError, match=f"^{message}$"):
        pool2d(SMALL, **{**args, **kwargs})


def test_tail_rejects_a_bias_of_the_wrong_length():
    with pytest.raises(ValueError, match="bias has 2 values but the accumulators have 1 "
                                         "channels"):
        tail(SMALL, np.array([1, 2]), shift=0, act_bits=8, relu=False)
