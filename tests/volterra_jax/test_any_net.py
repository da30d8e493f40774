"""from_layers on the whole layer vocabulary, against autodiff of independent lax oracles.

* interior units of padded nets (SAME / explicit padding, strides 1 and 2, batch norm folded
  and not, overlapping average pools, residual blocks): autodiff of one interior output pixel
  of the true network on a larger image, cropped to the receptive field;
* GlobalAvgPool / Dense heads of SAME nets: autodiff of the zero-extended network (the border
  rule) over the padded frame; of VALID nets: autodiff of the true network over the image;
* `proxy_kernels` with the zero-extended network as ``apply_fn``; `series` with ``padding``;
* every bad input.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_layers import (
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Pool,
    ReLU,
    Residual,
    Smooth,
    fold_batchnorms,
    geometry,
)
from tests.volterra_jax._nets import poly
from tests.volterra_jax._oracle import extended_forward, extended_map, true_forward
from volterra_jax import from_layers, perturbation, proxy_kernels, receptive_field, series

TANH, SIGMOID = Smooth(jnp.tanh), Smooth(jax.nn.sigmoid)


def _close(got, ref, tol=1e-10):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape, (got.shape, ref.shape)
    scale = max(np.abs(ref).max(), 1.0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol * scale)
    return float(np.abs(got - ref).max() / scale)


class _Keys:
    def __init__(self, seed):
        self.key = jax.random.key(seed)

    def __call__(self):
        self.key, key = jax.random.split(self.key)
        return key


def _normal(keys, shape, scale=0.5):
    return scale * jax.random.normal(keys(), shape, jnp.float64)


def conv(keys, k, cin, cout, *, stride=1, padding="SAME", bias=True):
    kh, kw = (k, k) if isinstance(k, int) else k
    w = _normal(keys, (kh, kw, cin, cout), 0.6 / math.sqrt(kh * kw * cin) + 0.2)
    b = _normal(keys, (cout,), 0.3) if bias else None
    return Conv(w, b, stride, padding)


def bn(keys, c):
    return BatchNorm(
        scale=1 + _normal(keys, (c,), 0.2),
        offset=_normal(keys, (c,), 0.2),
        mean=_normal(keys, (c,), 0.2),
        var=0.5 + jax.random.uniform(keys(), (c,), jnp.float64),
        eps=1e-3,
    )


def dense(keys, d, o):
    return Dense(_normal(keys, (d, o), 1 / math.sqrt(d)), _normal(keys, (o,), 0.2))


def _folded(layers):
    return fold_batchnorms(layers)


# ---------------------------------------------------------------- the nets


def _same_strided_bn(keys):
    return [
        conv(keys, 3, 2, 3),
        bn(keys, 3),
        TANH,
        conv(keys, 3, 3, 4, stride=2),
        bn(keys, 4),
        poly(0.1, 1.0, 0.5, -0.2),
        conv(keys, 2, 4, 2, padding=((1, 0), (0, 1))),
    ]


def _avg_pools(keys):
    return [
        conv(keys, 3, 1, 3, padding=((1, 1), (1, 1))),
        SIGMOID,
        Pool(3, "avg", stride=2, padding=((1, 1), (1, 1))),
        conv(keys, 2, 3, 2, padding="VALID"),
        TANH,
        Pool(3, "avg", stride=2, padding="SAME"),
    ]


def _residual_identity(keys):
    block = [conv(keys, 3, 3, 3), bn(keys, 3), TANH, conv(keys, 3, 3, 3), bn(keys, 3)]
    return [
        conv(keys, 3, 2, 3),
        TANH,
        Residual(block),
        poly(0.0, 1.0, 0.3),
        conv(keys, 1, 3, 2, padding="VALID"),
    ]


def _residual_projection(keys):
    block = [conv(keys, 3, 3, 4, stride=2), bn(keys, 4), TANH, conv(keys, 3, 4, 4), bn(keys, 4)]
    shortcut = [conv(keys, 1, 3, 4, stride=2, padding="VALID", bias=False), bn(keys, 4)]
    return [
        conv(keys, 3, 1, 3),
        SIGMOID,
        Residual(block, shortcut),
        TANH,
        conv(keys, 2, 4, 2, padding="VALID"),
    ]


# name: (builder, input channels, image size for the interior test)
INTERIOR = {
    "same_strided_bn": (_same_strided_bn, 2, 16),
    "same_strided_bn_folded": (lambda k: _folded(_same_strided_bn(k)), 2, 16),
    "avg_pools_overlapping_padded": (_avg_pools, 1, 20),
    "residual_identity": (_residual_identity, 2, 14),
    "residual_projection_even": (_residual_projection, 1, 16),
    "residual_projection_odd": (_residual_projection, 1, 15),
}


def _gap_head(keys):
    return [
        conv(keys, 3, 1, 3),
        TANH,
        Pool(2, "avg"),
        conv(keys, 3, 3, 4),
        bn(keys, 4),
        SIGMOID,
        GlobalAvgPool(),
        dense(keys, 4, 3),
        TANH,
        dense(keys, 3, 2),
    ]


def _vgg_twin(keys):
    return [
        conv(keys, 3, 1, 2),
        bn(keys, 2),
        TANH,
        conv(keys, 3, 2, 2),
        bn(keys, 2),
        TANH,
        Pool(2, "avg"),
        conv(keys, 3, 2, 3),
        bn(keys, 3),
        TANH,
        GlobalAvgPool(),
        dense(keys, 3, 2),
    ]


def _dense_head(keys):
    return [
        conv(keys, 3, 1, 3, stride=2),
        bn(keys, 3),
        TANH,
        Flatten(),
        dense(keys, 4 * 4 * 3, 3),
        poly(0.1, 1.0, 0.4),
        dense(keys, 3, 2),
    ]


def _resnet_gap(keys):
    return (
        [conv(keys, 3, 1, 3), TANH]
        + _residual_projection(keys)[2:4]
        + [
            GlobalAvgPool(),
            dense(keys, 4, 2),
        ]
    )


# name: (builder, input_shape)
HEADS = {
    "gap_head": (_gap_head, (8, 8, 1)),
    "vgg_twin": (_vgg_twin, (8, 8, 1)),
    "vgg_twin_folded": (lambda k: _folded(_vgg_twin(k)), (8, 8, 1)),
    "dense_head": (_dense_head, (8, 8, 1)),
    "resnet_gap_odd": (_resnet_gap, (7, 7, 1)),
}


def _valid_gap(keys):
    return [
        conv(keys, 3, 1, 3, padding="VALID"),
        TANH,
        Pool(2, "avg"),
        conv(keys, 2, 3, 3, padding="VALID"),
        SIGMOID,
        GlobalAvgPool(),
        dense(keys, 3, 2),
    ]


def _valid_dense(keys):
    return [
        conv(keys, 3, 1, 3, stride=2, padding="VALID"),
        TANH,
        Flatten(),
        dense(keys, 4 * 4 * 3, 2),
        SIGMOID,
    ]


# name: (builder, input_shape); 10 rows with a stride-2 3x3 conv: the last row is never read
VALID_HEADS = {"valid_gap": (_valid_gap, (10, 10, 1)), "valid_dense": (_valid_dense, (10, 10, 1))}


# ---------------------------------------------------------------- autodiff oracles


def _taylor(f, z, order):
    """``[f(z), D f(z), D^2 f(z) / 2, ...]`` with the output axis last."""
    terms, deriv = [f(z)], jax.jacrev(f)
    for n in range(1, order + 1):
        if n > 1:
            deriv = jax.jacfwd(deriv)
        terms.append(jnp.moveaxis(deriv(z), 0, -1) / math.factorial(n))
    return terms


def _check_both_methods(layers, ref, order, input_shape=None):
    errors = []
    for method in ("chain", "compose") if order <= 2 else ("auto",):
        k = from_layers(layers, order=order, method=method, input_shape=input_shape)
        assert k.order == order
        errors += [_close(k[n], ref[n]) for n in range(order + 1)]
    return max(errors)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(INTERIOR))
def test_interior_kernels_equal_autodiff_of_the_true_network(name):
    build, cin, size = INTERIOR[name]
    with jax.enable_x64(True):
        layers = build(_Keys(1))
        input_shape = (size, size, cin)
        g = geometry(layers, input_shape=input_shape)
        (rh, rw), s, (oh, ow) = g.size, g.stride, g.offset
        assert receptive_field(layers, input_shape=input_shape) == (rh, rw, cin, s)
        # the first output unit whose receptive field lies inside the image
        qh, qw = -(-oh // s), -(-ow // s)
        top, left = s * qh - oh, s * qw - ow
        assert top + rh <= size and left + rw <= size, (g, size)

        def unit(z):
            x = jnp.zeros((1,) + input_shape, jnp.float64)
            x = x.at[0, top : top + rh, left : left + rw].set(z)
            return true_forward(layers, x)[0, qh, qw]

        ref = jax.jit(lambda z: _taylor(unit, z, 2))(jnp.zeros((rh, rw, cin), jnp.float64))
        needs_shape = any(isinstance(layer, Residual) for layer in layers)
        _check_both_methods(layers, ref, 2, input_shape if needs_shape else None)


@pytest.mark.slow
def test_order3_of_a_residual_projection_by_compose():
    with jax.enable_x64(True):
        keys = _Keys(2)
        block = [conv(keys, 3, 1, 2, stride=2), TANH, conv(keys, 2, 2, 2, padding=((1, 0),) * 2)]
        layers = [Residual(block, [conv(keys, 1, 1, 2, stride=2, padding="VALID")]), SIGMOID]
        input_shape = (6, 6, 1)
        g = geometry(layers, input_shape=input_shape)

        def unit(z):  # the zero-extended network's output unit 0 on its receptive field
            y, origin, _ = extended_forward(
                layers, z[None], origin=(-g.offset[0], -g.offset[1]), input_hw=(6, 6)
            )
            return y[0, -origin[0], -origin[1]]

        ref = jax.jit(lambda z: _taylor(unit, z, 3))(jnp.zeros(g.size + (1,), jnp.float64))
        _check_both_methods(layers, ref, 3, input_shape)


def _frame_oracle(layers, input_shape):
    """The zero-extended network's outputs as a function of the padded frame."""
    g = geometry(layers, input_shape=input_shape)
    (top, bottom), (left, right) = g.padding
    assert top + input_shape[0] + bottom == g.size[0]
    assert left + input_shape[1] + right == g.size[1]

    def outputs(frame):
        y = extended_map(layers, frame[None], origin=(-top, -left), input_hw=input_shape[:2])
        return y[0]

    return g, outputs


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HEADS))
def test_head_kernels_follow_the_border_rule(name):
    build, input_shape = HEADS[name]
    with jax.enable_x64(True):
        layers = build(_Keys(3))
        g, outputs = _frame_oracle(layers, input_shape)
        assert g.padding != ((0, 0), (0, 0))  # a padded net: the border rule is involved
        ref = jax.jit(lambda z: _taylor(outputs, z, 2))(jnp.zeros(g.size + input_shape[2:]))
        _check_both_methods(layers, ref, 2, input_shape)
        with pytest.raises(ValueError, match="pass input_shape"):
            from_layers(layers, order=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(VALID_HEADS))
def test_head_kernels_of_a_valid_net_equal_the_true_network(name):
    build, input_shape = VALID_HEADS[name]
    with jax.enable_x64(True):
        layers = build(_Keys(4))
        g = geometry(layers, input_shape=input_shape)
        rh, rw = g.size
        assert g.padding == ((0, rh - input_shape[0]), (0, rw - input_shape[1]))

        def outputs(x):
            return true_forward(layers, x[None])[0]

        ref = jax.jit(lambda z: _taylor(outputs, z, 2))(jnp.zeros(input_shape, jnp.float64))
        # rows and columns no unit reads have zero kernels; the frame stops before them
        crop = [ref[0], ref[1][:rh, :rw], ref[2][:rh, :rw, :, :rh, :rw]]
        assert not np.any(np.asarray(ref[1][rh:])) and not np.any(np.asarray(ref[1][:, rw:]))
        _check_both_methods(layers, crop, 2, input_shape)


PROXY = {
    "same_strided_bn": (_same_strided_bn, (16, 16, 2)),
    "residual_identity": (_residual_identity, (14, 14, 2)),
    "residual_projection": (_residual_projection, (16, 16, 1)),
    "avg_pools": (_avg_pools, (20, 20, 1)),
    "gap_head": (_gap_head, (8, 8, 1)),
    "dense_head": (_dense_head, (8, 8, 1)),
    "resnet_gap": (_resnet_gap, (7, 7, 1)),
}


@pytest.mark.parametrize("name", sorted(PROXY))
def test_proxy_kernels_of_the_zero_extended_network_agree(name):
    build, input_shape = PROXY[name]
    with jax.enable_x64(True):
        layers = build(_Keys(5))
        g = geometry(layers, input_shape=input_shape)

        def apply_fn(params, z):
            y, origin, _ = extended_forward(
                params, z, origin=(-g.offset[0], -g.offset[1]), input_hw=input_shape[:2]
            )
            unit = y if origin is None else y[:, -origin[0], -origin[1]]
            return unit.reshape(unit.shape[0], 1, 1, -1)

        rf = receptive_field(layers, input_shape=input_shape)
        ref = proxy_kernels(apply_fn, layers, rf.shape, order=2)
        k = from_layers(layers, order=2, input_shape=input_shape)
        for n in range(3):
            _close(k[n], ref[n])


def _quadratic(keys, head):
    """Output degree 2 in the input: its order-2 series is exact."""
    layers = [conv(keys, 3, 2, 3), bn(keys, 3), poly(0.3, 1.0, 0.5), conv(keys, 3, 3, 2, stride=2)]
    return layers + [GlobalAvgPool(), dense(keys, 2, 2)] if head else layers


@pytest.mark.slow
@pytest.mark.parametrize("head", [False, True])
def test_series_with_padding_is_the_zero_extended_network(head):
    with jax.enable_x64(True):
        layers = _quadratic(_Keys(6), head)
        input_shape = (9, 9, 2)
        x = jax.random.normal(jax.random.key(7), (2,) + input_shape, jnp.float64)
        k = from_layers(layers, order=2, input_shape=input_shape)
        g = geometry(layers, input_shape=input_shape)
        y = jax.jit(lambda x: series(x, k, stride=g.stride, padding=g.padding))(x)
        extended = extended_map(layers, x, origin=(0, 0), input_hw=input_shape[:2])
        true = true_forward(layers, x)
        if head:
            _close(y.reshape(extended.shape), extended)
            assert float(jnp.abs(extended - true).max()) > 1e-3  # the rule is not a no-op
        else:
            _close(y, extended)
            # interior units (receptive field inside the image) are the true network's
            _close(y[:, 1:-1, 1:-1], true[:, 1:-1, 1:-1])
            assert float(jnp.abs(y - true).max()) > 1e-3  # the border units are not
        delta = 0.1 * jax.random.normal(jax.random.key(8), x.shape, jnp.float64)
        changes = perturbation(k, x, delta, stride=g.stride, padding=g.padding)
        ref = series(x + delta, k, stride=g.stride, padding=g.padding) - y
        _close(changes.sum(axis=0), ref)


def test_from_layers_under_jit_in_float32():
    keys = _Keys(9)
    with jax.enable_x64(True):
        layers = _resnet_gap(keys)
        ref = [np.asarray(t) for t in from_layers(layers, order=2, input_shape=(7, 7, 1))]
    layers32 = jax.tree.map(lambda a: a.astype(jnp.float32), layers)
    k = jax.jit(lambda ls: from_layers(ls, order=2, input_shape=(7, 7, 1)))(layers32)
    for n in range(3):
        assert k[n].dtype == jnp.float32
        err = float(np.linalg.norm(np.asarray(k[n], np.float64) - ref[n]) / np.linalg.norm(ref[n]))
        assert err < 1e-5, (n, err)


def test_integer_weights_are_promoted():
    net = [Conv(jnp.ones((3, 3, 1, 2), int)), Smooth(jax.nn.sigmoid)]
    k = from_layers(net, order=2)
    ref = from_layers([Conv(jnp.ones((3, 3, 1, 2))), Smooth(jax.nn.sigmoid)], order=2)
    assert k.h1.dtype == jnp.float32
    np.testing.assert_allclose(k.h0, [0.5, 0.5])
    np.testing.assert_allclose(k.h1, np.full((3, 3, 1, 2), 0.25))
    for n in range(3):
        np.testing.assert_array_equal(k[n], ref[n])
    with jax.enable_x64(True):
        mixed = [Conv(jnp.ones((3, 3, 1, 2), jnp.int32)), poly(0.0, 1.0, 2.0)]
        assert from_layers(mixed, order=2).h2.dtype == jnp.float64


@pytest.mark.bad_input
def test_bad_inputs_raise():
    c = Conv(jnp.ones((3, 3, 1, 2)), padding="SAME")
    c2 = Conv(jnp.ones((3, 3, 2, 2)), padding="SAME", stride=2)
    with pytest.raises(ValueError, match=r"layers\[1\] \(ReLU\).*proxy_kernels\(.*at=x\)"):
        from_layers([c, ReLU(), c2], order=2)
    with pytest.raises(ValueError, match=r"layers\[1\]\.block\[0\] \(Pool\).*max pooling.*at=x"):
        from_layers([c, Residual([Pool(3, "max", stride=1, padding="SAME")])], order=1)
    with pytest.raises(ValueError, match=r"layers\[1\] \(GlobalAvgPool\).*pass input_shape"):
        from_layers([c, GlobalAvgPool()], order=1)
    with pytest.raises(ValueError, match=r"layers\[2\] \(Dense\).*pass input_shape"):
        from_layers([c, Flatten(), Dense(jnp.ones((32, 2)))], order=1)
    res = Residual([c2], [Conv(jnp.ones((1, 1, 2, 2)), stride=2)])
    with pytest.raises(ValueError, match=r"block\[0\] \(Conv\).*stride 2.*input_shape"):
        from_layers([c, res], order=1)
    k = from_layers([c, res], order=1, input_shape=(8, 8, 1))
    assert k.rf_shape == geometry([c, res], input_shape=(8, 8, 1)).size + (1,)
    with pytest.raises(ValueError, match=r"layers\[1\] \(Residual\).*both paths must"):
        from_layers([c, Residual([c2])], order=1, input_shape=(8, 8, 1))
    with pytest.raises(TypeError, match=r"layers\[0\]\.w \(Conv\) must be real.*complex"):
        from_layers([Conv(jnp.ones((3, 3, 1, 2), jnp.complex64))], order=1)
    with pytest.raises(TypeError, match=r"layers\[1\] must be one of the layer types"):
        from_layers([c, jax.nn.relu], order=1)
    with pytest.raises(ValueError, match="must contain a convolution"):
        from_layers([Pool(2, "avg"), Smooth(jnp.tanh)], order=1)
    # with input_shape the channels are known: an avg pool alone is a fine network
    k = from_layers([Pool(2, "avg"), Smooth(jnp.tanh)], order=1, input_shape=(4, 4, 1))
    np.testing.assert_allclose(k.h1, np.full((2, 2, 1, 1), 0.25))


def test_receptive_field_of_the_vocabulary():
    with jax.enable_x64(True):
        layers = _resnet_gap(_Keys(10))
    rf = receptive_field(layers, input_shape=(7, 7, 1))
    g = geometry(layers, input_shape=(7, 7, 1))
    assert tuple(rf) == g.size + (1, g.stride) and rf.shape == g.size + (1,)
    relu_net = [ReLU() if isinstance(layer, Smooth) else layer for layer in layers]
    assert receptive_field(relu_net, input_shape=(7, 7, 1)) == rf
    with pytest.raises(ValueError, match="pass input_shape"):
        receptive_field(layers)
