"""``sw.train.nn``'s general convolution and pooling: padding, strides, any
pooling window, average pooling; forward against a direct loop, gradients
against finite differences, and the default layers on their old code path."""

import numpy as np
import pytest

from sw.train import nn


def _net(rng):
    """stride-2 padded conv, 3x3/stride-3 max pool, padded average pools."""
    return [
        {"kind": "conv", "W": rng.normal(0, 0.5, (3, 2, 3, 3)), "b": rng.normal(0, 0.1, 3),
         "stride": (2, 2), "pads": (1, 0, 2, 1)},
        {"kind": "relu"},
        {"kind": "pool", "mode": "max", "kernel": (3, 3), "stride": (3, 3)},
        {"kind": "conv", "W": rng.normal(0, 0.5, (2, 3, 1, 1)), "b": rng.normal(0, 0.1, 2)},
        {"kind": "pool", "mode": "avg", "kernel": (2, 2), "stride": (1, 1), "pads": (1, 1, 0, 1)},
        {"kind": "pool", "mode": "avg", "kernel": (2, 3), "stride": (1, 2), "pads": (0, 1, 1, 1),
         "count_pads": True},
        {"kind": "flatten"},
        {"kind": "dense", "W": rng.normal(0, 0.5, (3, 2 * 2 * 2)), "b": rng.normal(0, 0.1, 3)},
    ]


def _loss(layers, x, y):
    z = nn.forward(layers, x)[0]
    z = z - z.max(axis=1, keepdims=True)
    return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(y)), y]))


def test_shapes_follow_the_onnx_output_size():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 2, 13, 12))
    sizes = []
    for layer in _net(rng):
        x = nn.forward([layer], x)[0]
        sizes.append(x.shape[1:])
    # conv: floor((13+3-3)/2)+1 = 7, floor((12+1-3)/2)+1 = 6; pool 3/3: 2, 2;
    # avg 2x2/1 pads (1,1,0,1): 2, 3; avg 2x3/(1,2) pads (0,1,1,1): 2, 2
    assert sizes == [(3, 7, 6), (3, 7, 6), (3, 2, 2), (2, 2, 2), (2, 2, 3), (2, 2, 2), (8,), (3,)]


def test_strided_padded_conv_is_padding_then_subsampled_correlation():
    rng = np.random.default_rng(1)
    layer = {"kind": "conv", "W": rng.normal(size=(2, 3, 3, 3)), "b": rng.normal(size=2),
             "stride": (2, 3), "pads": (1, 2, 0, 1)}
    x = rng.normal(size=(2, 3, 8, 9))
    z = nn.forward([layer], x)[0]
    assert z.shape == (2, 2, (8 + 1 - 3) // 2 + 1, (9 + 3 - 3) // 3 + 1)
    xp = np.pad(x, ((0, 0), (0, 0), (1, 0), (2, 1)))
    for n in range(2):
        for k in range(2):
            for i in range(z.shape[2]):
                for j in range(z.shape[3]):
                    patch = xp[n, :, 2 * i:2 * i + 3, 3 * j:3 * j + 3]
                    want = (patch * layer["W"][k]).sum() + layer["b"][k]
                    assert z[n, k, i, j] == pytest.approx(want, rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("count_pads", [False, True])
def test_pools_against_a_direct_loop(count_pads):
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 2, 7, 6))
    pads, kernel, stride = (1, 1, 1, 0), (3, 2), (2, 1)
    for mode in ("max", "avg"):
        layer = {"kind": "pool", "mode": mode, "kernel": kernel, "stride": stride,
                 "pads": pads, "count_pads": count_pads}
        z = nn.forward([layer], x)[0]
        ho, wo = (7 + 2 - 3) // 2 + 1, (6 + 1 - 2) // 1 + 1
        assert z.shape == (2, 2, ho, wo)
        for i in range(ho):
            for j in range(wo):
                rows = [r for r in range(i * 2 - 1, i * 2 - 1 + 3) if 0 <= r < 7]
                cols = [c for c in range(j - 1, j - 1 + 2) if 0 <= c < 6]
                real = x[:, :, rows][:, :, :, cols]
                if mode == "max":
                    want = real.max(axis=(2, 3))
                else:
                    want = real.sum(axis=(2, 3)) / (6 if count_pads else len(rows) * len(cols))
                np.testing.assert_allclose(z[:, :, i, j], want, rtol=1e-12)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    layers = _net(rng)
    x, y = rng.normal(size=(3, 2, 13, 12)), np.array([0, 2, 1])
    grads = nn.gradients(layers, x, y)
    assert sorted(grads) == [0, 3, 7]
    eps = 1e-6
    for i, grad in grads.items():
        for key, g in grad.items():
            p = layers[i][key]
            for idx in list(np.ndindex(p.shape))[::max(1, p.size // 12)]:
                old = p[idx]
                p[idx] = old + eps
                up = _loss(layers, x, y)
                p[idx] = old - eps
                down = _loss(layers, x, y)
                p[idx] = old
                assert g[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-7)


def test_input_gradient_of_general_layers_matches_finite_differences():
    # The first weighted layer's input gradient is never computed: put a 1x1
    # conv first so the strided conv and the pools pass theirs on.
    rng = np.random.default_rng(4)
    layers = [{"kind": "conv", "W": rng.normal(size=(2, 2, 1, 1)), "b": np.zeros(2)}] + _net(rng)
    x, y = rng.normal(size=(2, 2, 13, 12)), np.array([1, 0])
    g = nn.gradients(layers, x, y)[0]["W"]
    eps = 1e-6
    for idx in np.ndindex(g.shape):
        old = layers[0]["W"][idx]
        layers[0]["W"][idx] = old + eps
        up = _loss(layers, x, y)
        layers[0]["W"][idx] = old - eps
        down = _loss(layers, x, y)
        layers[0]["W"][idx] = old
        assert g[idx] == pytest.approx((up - down) / (2 * eps), rel=1e-4, abs=1e-7)


def test_explicit_defaults_take_the_default_path_bit_for_bit():
    rng = np.random.default_rng(5)
    plain = [{"kind": "conv", "W": rng.normal(size=(2, 1, 3, 3)), "b": rng.normal(size=2)},
             {"kind": "relu"}, {"kind": "pool"}, {"kind": "flatten"},
             {"kind": "dense", "W": rng.normal(size=(3, 16)), "b": np.zeros(3)}]
    spelled = [dict(l) for l in plain]
    spelled[0].update(stride=(1, 1), pads=(0, 0, 0, 0))
    spelled[2].update(mode="max", kernel=(2, 2), stride=(2, 2), pads=(0, 0, 0, 0))
    x, y = rng.normal(size=(2, 1, 11, 7)), np.array([0, 2])
    assert np.array_equal(nn.forward(plain, x)[0], nn.forward(spelled, x)[0])
    a, b = nn.gradients(plain, x, y), nn.gradients(spelled, x, y)
    assert all(np.array_equal(a[i][k], b[i][k]) for i in a for k in a[i])


def test_general_code_on_the_default_geometry_agrees_with_the_default_path():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 3, 7, 6))
    conv = {"kind": "conv", "W": rng.normal(size=(2, 3, 3, 3)), "b": rng.normal(size=2)}
    np.testing.assert_allclose(nn._conv_strided(x, conv)[0], nn.forward([conv], x)[0],
                               rtol=1e-13)
    pooled = nn._pool_general(x, ("max", (2, 2), (2, 2), (0, 0, 0, 0), False))[0]
    assert np.array_equal(pooled, nn.forward([{"kind": "pool"}], x)[0])


def test_unknown_pool_mode_is_refused():
    with pytest.raises(ValueError, match=r"^pool mode must be 'max' or 'avg', not 'min'$"):
        nn.forward([{"kind": "pool", "mode": "min"}], np.zeros((1, 1, 2, 2)))
