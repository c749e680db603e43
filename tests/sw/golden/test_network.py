"""The golden model of whole networks: hand-worked layers, and agreement with the
other integer implementations of the same networks."""

import numpy as np
import pytest

from sw.formats.model import CompressedModel, ConvLayer, FlattenLayer, PoolLayer
from sw.golden import network


def one_conv(**conv):
    """A 1-filter 2x2 all-ones convolution of a 1x3x3 image (index bits 1, codebook [0, 1])."""
    layer = ConvLayer(np.ones((1, 1, 2, 2), dtype=np.int64), np.array([0, 1]), np.array([1]),
                      weight_frac=1, in_frac=0, out_frac=0, relu=False, **conv)
    return CompressedModel(name="t", pes=1, index_bits=4, z_bits=4, act_bits=8,
                           codebook_bits=8, bias_bits=16, input_frac=0, input_shift=0,
                           layers=[layer], input_shape=(1, 3, 3))


IMAGE = np.arange(1, 10).reshape(1, 1, 3, 3)


def test_padded_strided_convolution_worked_by_hand():
    # Padded by one all round, 2x2 windows every 2: sums 1, 5, 11, 28; + bias 1,
    # then a shift of 1 with round half up: floor((s + 2) / 2).
    y = network.infer(one_conv(stride=(2, 2), pads=(1, 1, 1, 1)), IMAGE)
    assert y.tolist() == [[[[1, 3], [6, 15]]]]


def test_asymmetric_padding_worked_by_hand():
    # SAME_UPPER for a 2x2 filter at stride 1: one row and column at the end only.
    # Sums: 12 16 9 / 24 28 15 / 15 17 9; + 1, >> 1 rounded.
    y = network.infer(one_conv(pads=(0, 0, 1, 1)), IMAGE)
    assert y.tolist() == [[[[7, 9, 5], [13, 15, 8], [8, 9, 5]]]]


def test_float_inputs_are_quantized_round_half_up_and_saturated():
    model = one_conv()
    model.input_kind, model.input_frac = "float", 1
    a, saturated = network.input_activations(model, np.array([[[[0.25, -0.25, 0.75],
                                                                 [100.0, -100.0, 1.0],
                                                                 [0, 0.5, -0.75]]]]))
    assert a.tolist() == [[[[1, 0, 2], [127, -128, 2], [0, 1, -1]]]] and saturated == 2


def test_raw_inputs_accept_integral_floats_and_refuse_others():
    model = one_conv()
    assert network.infer(model, IMAGE.astype(np.float64)).tolist() == \
        network.infer(model, IMAGE).tolist()
    # 8-bit activations: raw 300 and -200 saturate, 127 does not.
    image = np.array([[[[300, -200, 127], [0, 1, 2], [3, 4, 5]]]])
    a, saturated = network.input_activations(model, image)
    assert a[0, 0, 0].tolist() == [127, -128, 127] and saturated == 2
    with pytest.raises(ValueError, match="takes raw integer inputs .* non-integral"):
        network.infer(model, IMAGE + 0.5)
    with pytest.raises(ValueError, match=r"inputs must have shape \(B, 1, 3, 3\) or \(B, 9\)"):
        network.infer(model, np.zeros((2, 8)))


def _shared(w):
    """Integer weights as (indices, codebook): each distinct value its own entry."""
    values = [int(v) for v in np.unique(w) if v != 0]
    book = np.array([0] + values)
    book = np.pad(book, (0, (1 << max(1, (len(book) - 1).bit_length())) - len(book)))
    lookup = {v: i for i, v in enumerate(book[:len(values) + 1])}
    return np.vectorize(lookup.get)(w), book


def test_agrees_with_the_cnn_trainers_integer_inference():
    # sw.train.cnn.infer_fixed runs its LeNet-5-like networks its own way (valid
    # convolutions, requantize, ReLU, 2x2 max pooling): what reaches its second
    # convolution must be what our first convolution and pooling give.
    from sw.train import cnn
    rng = np.random.default_rng(3)
    net = cnn.init((1, 12, 12), {"convs": [(3, 3), (4, 3)], "hidden": [], "classes": 4},
                   seed=1)
    for layer in net["convs"]:
        layer["b"] = rng.normal(0, 0.1, layer["b"].shape)
    q = cnn.quantize(net, rng.random((6, 1, 12, 12)), input_frac=7)
    spec = q["layers"][0]
    idx, book = _shared(spec["W"])
    conv = ConvLayer(idx, book, spec["b"], weight_frac=spec["weight_frac"],
                     in_frac=spec["in_frac"], out_frac=spec["out_frac"], relu=True)
    model = CompressedModel(name="cnn", pes=1, index_bits=4, z_bits=4, act_bits=8,
                            codebook_bits=8, bias_bits=32, input_frac=7, input_shift=0,
                            layers=[conv, PoolLayer("max", (2, 2), (2, 2)), FlattenLayer()],
                            input_shape=(1, 12, 12))
    raw = rng.integers(0, 128, (6, 1, 12, 12))
    _, seen = cnn.infer_fixed(q, raw, trace=True)
    y = network.infer(model, raw)
    assert np.array_equal(y, seen[1][0].reshape(6, -1))
