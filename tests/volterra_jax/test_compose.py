"""compose / from_layers against autodiff (`proxy_kernels`), the networks themselves, and the
authors' closed forms for their two- and three-layer sigmoid structures."""

import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from decoding_jax.layers import Conv, Pool
from tests.volterra_jax._nets import SIGMOID_TAYLOR5, apply_fn, conv, forward, poly
from volterra_jax import (
    Poly,
    Smooth,
    VolterraKernels,
    compose,
    from_layers,
    proxy_kernels,
    receptive_field,
    series,
)


def _close(got, ref, tol=1e-10):
    got, ref = np.asarray(got), np.asarray(ref)
    assert got.shape == ref.shape
    scale = max(np.abs(ref).max(), 1.0)
    np.testing.assert_allclose(got, ref, rtol=0, atol=tol * scale)


def _random_kernels(key, rf, out, order):
    keys = jax.random.split(key, order + 1)
    terms = [jax.random.normal(keys[0], (out,), jnp.float64)]
    terms += [
        0.5 * jax.random.normal(keys[n], rf * n + (out,), jnp.float64) for n in range(1, order + 1)
    ]
    return VolterraKernels(*terms)


@pytest.mark.parametrize("stride", [2])
def test_compose_full_order_is_the_composed_series(stride):
    with jax.enable_x64(True):
        k1, k2, k3 = jax.random.split(jax.random.key(stride), 3)
        inner = _random_kernels(k1, (2, 2, 1), 2, 2)
        outer = _random_kernels(k2, (2, 1, 2), 2, 2)
        both = jax.jit(lambda o, i: compose(o, i, inner_stride=stride))(outer, inner)
        assert both.order == 4 and both.rf_shape == (2 + stride, 2, 1)
        x = jax.random.normal(k3, (2, 8, 8, 1), jnp.float64)
        ref = series(series(x, inner, stride=stride), outer)
        _close(series(x, both, stride=stride), ref)


def test_compose_truncated_matches_autodiff_multichannel():
    with jax.enable_x64(True):
        k1, k2 = jax.random.split(jax.random.key(7))
        inner = _random_kernels(k1, (2, 1, 2), 2, 2)
        outer = _random_kernels(k2, (1, 2, 2), 3, 2)
        both = compose(outer, inner, inner_stride=1, order=2)

        def net(kernels, x):
            o, i = kernels
            return series(series(x, i, stride=1), o)

        ref = proxy_kernels(net, (outer, inner), both.rf_shape, order=2)
        for n in range(3):
            _close(both[n], ref[n])


def _net_two_layer(key, s1, s2):
    k1, k2 = jax.random.split(key)
    return [
        conv(k1, 3, 3, 2, 3, stride=s1),
        poly(0.2, 1.0, 0.5, -0.3),
        conv(k2, 2, 2, 3, 2, stride=s2),
    ]


def _net_pool(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return [
        conv(k1, 2, 2, 2, 3),
        poly(0.1, 1.0, 0.5, 0.2),
        Pool(2, "avg"),
        conv(k2, 2, 2, 3, 2, stride=2),
        poly(0.0, 0.7, -0.3),
        conv(k3, 1, 2, 2, 2),
    ]


def _net_stride_first(key):
    k1, k2, k3 = jax.random.split(key, 3)
    return [
        conv(k1, 2, 2, 1, 2, stride=2),
        poly(0.3, 0.8, 0.4),
        conv(k2, 2, 2, 2, 2, bias=False),
        poly(-0.1, 1.0, 0.0, 0.3),
        Pool(2, "avg"),
        conv(k3, 1, 1, 2, 3),
    ]


NETS = {
    "two_layer_s1": lambda k: _net_two_layer(k, 1, 1),
    "two_layer_s2": lambda k: _net_two_layer(k, 2, 1),
    "two_layer_s2_s2": lambda k: _net_two_layer(k, 2, 2),
    "three_layer_pool": _net_pool,
    "three_layer_stride_pool": _net_stride_first,
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_from_layers_equals_autodiff(name):
    with jax.enable_x64(True):
        layers = NETS[name](jax.random.key(11))
        rf = receptive_field(layers)
        ref = proxy_kernels(apply_fn, layers, rf.shape, order=2)
        chain = jax.jit(lambda ls: from_layers(ls, order=2))(layers)
        composed = from_layers(layers, order=2, method="compose")
        for n in range(3):
            _close(chain[n], ref[n])
            _close(composed[n], ref[n])


@pytest.mark.parametrize("name", ["two_layer_s1", "three_layer_stride_pool"])
def test_from_layers_order3_equals_autodiff(name):
    with jax.enable_x64(True):
        layers = NETS[name](jax.random.key(12))
        rf = receptive_field(layers)
        ref = proxy_kernels(apply_fn, layers, rf.shape, order=3)
        k = from_layers(layers, order=3)
        for n in range(4):
            _close(k[n], ref[n])


def test_series_reproduces_the_network_exactly():
    with jax.enable_x64(True):
        k1, k2, k3 = jax.random.split(jax.random.key(13), 3)
        # degree 2 * 2 = 4 in the input: order-4 kernels are exact
        layers = [
            conv(k1, 1, 2, 1, 2),
            poly(0.2, 1.0, 0.6),
            Pool(2, "avg"),
            conv(k2, 2, 1, 2, 1),
            poly(0.1, 0.9, -0.5),
        ]
        rf = receptive_field(layers)
        k = from_layers(layers, order=4)
        x = jax.random.normal(k3, (2, 9, 11, 1), jnp.float64)
        y = forward(layers, x)
        assert rf.shape == (4, 3, 1) and y.shape == (2, 3, 5, 1)
        _close(series(x, k, stride=rf.stride), y)
        # multi-channel input, strides, cubic activation: degree 3
        layers = [conv(k1, 2, 2, 2, 2, stride=2), poly(0.2, 1.0, 0.5, -0.3), conv(k2, 2, 2, 2, 1)]
        rf = receptive_field(layers)
        x = jax.random.normal(k3, (1, 8, 10, 2), jnp.float64)
        _close(series(x, from_layers(layers, order=3), stride=rf.stride), forward(layers, x))


@pytest.mark.parametrize("fn", [jnp.tanh, jax.nn.sigmoid])
def test_smooth_activations_equal_autodiff_of_the_true_network(fn):
    with jax.enable_x64(True):
        for layers, order in [
            (_net_pool(jax.random.key(14)), 2),
            (_net_two_layer(jax.random.key(15), 2, 1), 3),
        ]:
            layers = [Smooth(fn) if isinstance(layer, Poly) else layer for layer in layers]
            ref = proxy_kernels(apply_fn, layers, receptive_field(layers).shape, order=order)
            k = from_layers(layers, order=order)
            for n in range(order + 1):
                _close(k[n], ref[n])


# ---------------------------------------------------------------- the authors' structures


def _unit(key, shape):
    v = jax.random.normal(key, shape, jnp.float64)
    return v / jnp.linalg.norm(v)


def _full_conv(g, h):
    """2-D full convolution by loops: out[p] = sum_i g[i] h[p - i] (the authors' outer conv)."""
    g, h = np.asarray(g), np.asarray(h)
    out = np.zeros((g.shape[0] + h.shape[0] - 1, g.shape[1] + h.shape[1] - 1))
    for i, j in itertools.product(range(g.shape[0]), range(g.shape[1])):
        out[i : i + h.shape[0], j : j + h.shape[1]] += g[i, j] * h
    return out


def _outer_diag(g, h, m):
    """sum_i g[i] h[P_1 - i] ... h[P_m - i] (the authors' outerconv_diag), 2-D, by loops."""
    g, h = np.asarray(g), np.asarray(h)
    size = (g.shape[0] + h.shape[0] - 1, g.shape[1] + h.shape[1] - 1)
    out = np.zeros(size * m)
    for i, j in itertools.product(range(g.shape[0]), range(g.shape[1])):
        placed = np.zeros(size)
        placed[i : i + h.shape[0], j : j + h.shape[1]] = h
        term = g[i, j]
        for _ in range(m):
            term = np.multiply.outer(term, placed)
        out += term
    return np.moveaxis(
        out.reshape(out.shape),
        list(range(2 * m)),
        [a for k in range(m) for a in (2 * k, 2 * k + 1)],
    )


def _as_kernel(a, m):
    """(H, W) * m  ->  (H, W, 1) * m + (1,)."""
    a = np.asarray(a)
    h, w = a.shape[:2]
    return a.reshape((h, w, 1) * m + (1,))


def _poly_value(c, u):
    return sum(ck * u**k for k, ck in enumerate(c))


def _poly_slope(c, u):
    return sum(k * ck * u ** (k - 1) for k, ck in enumerate(c) if k)


STRUCTURES = {"1d": ((1, 5), (1, 3)), "2d": ((3, 3), (3, 3))}


@pytest.mark.parametrize("dims", sorted(STRUCTURES))
def test_authors_two_layer_sigmoid_formulas(dims):
    """g * sigmoid(h * x) with sigmoid -> 1/2 + u/4 - u^3/48 + u^5/480: the authors' kernels
    w0 = sum(g)/2, w_m = c_m outerconv_diag(g, [h] * m)."""
    with jax.enable_x64(True):
        hs, gs = STRUCTURES[dims]
        kh, kg = jax.random.split(jax.random.key(20))
        h, g = _unit(kh, hs), _unit(kg, gs)
        layers = [Conv(h[:, :, None, None]), poly(*SIGMOID_TAYLOR5), Conv(g[:, :, None, None])]
        order = 5 if dims == "1d" else 3
        k = from_layers(layers, order=order)
        _close(k.h0, [0.5 * float(g.sum())])
        _close(k.h1, _as_kernel(0.25 * _full_conv(g, h), 1))
        for m in range(2, order + 1):
            _close(k[m], _as_kernel(SIGMOID_TAYLOR5[m] * _outer_diag(g, h, m), m))


@pytest.mark.parametrize("dims", sorted(STRUCTURES))
def test_authors_three_layer_sigmoid_formulas(dims):
    """f * sigmoid(g * sigmoid(h * x)). With the polynomial P in both places (`Poly`) the
    authors' kernels are exact: w0 = sum(f) P(sum(g)/2), w1 = P'(sum(g)/2)/4 f (*) g (*) h.
    With the true sigmoid (`Smooth`) the slope at the hidden operating point is sigmoid'."""
    with jax.enable_x64(True):
        hs, _ = STRUCTURES[dims]
        kf, kg, kh = jax.random.split(jax.random.key(21), 3)
        # g >= 0 puts the hidden operating point sum(g)/2 far from 0, where P' and sigmoid'
        # differ visibly
        f, g, h = _unit(kf, hs), jnp.abs(_unit(kg, hs)), _unit(kh, hs)
        convs = [Conv(a[:, :, None, None]) for a in (h, g, f)]
        sf, sg = float(f.sum()), float(g.sum())
        fgh = _full_conv(f, _full_conv(g, h))
        p = SIGMOID_TAYLOR5

        authors = from_layers([convs[0], poly(*p), convs[1], poly(*p), convs[2]], order=1)
        _close(authors.h0, [sf * _poly_value(p, sg / 2)])
        _close(authors.h1, _as_kernel(_poly_slope(p, sg / 2) / 4 * fgh, 1))

        act = Smooth(jax.nn.sigmoid)
        true_net = [convs[0], act, convs[1], act, convs[2]]
        exact = from_layers(true_net, order=2)
        sig = 1 / (1 + math.exp(-sg / 2))
        _close(exact.h0, [sf * sig])
        _close(exact.h1, _as_kernel(sig * (1 - sig) / 4 * fgh, 1))
        ref = proxy_kernels(apply_fn, true_net, receptive_field(true_net).shape, order=2)
        for n in range(3):
            _close(exact[n], ref[n])
        # the two conventions differ by P'(sg/2) / sigmoid'(sg/2) != 1
        assert abs(_poly_slope(p, sg / 2) / (sig * (1 - sig)) - 1) > 1e-3


@pytest.mark.bad_input
def test_bad_inputs_raise():
    good = [Conv(jnp.ones((2, 2, 1, 2))), Poly(jnp.array([0.0, 1.0]))]
    with pytest.raises(ValueError, match="order must be an int >= 0"):
        from_layers(good, order=-1)
    with pytest.raises(ValueError, match="method='chain' handles order <= 2"):
        from_layers(good, order=3, method="chain")
    with pytest.raises(ValueError, match="method must be"):
        from_layers(good, order=1, method="fast")
    with pytest.raises(ValueError, match=r"layers\[2\] \(Conv\) expects 3 input channels"):
        from_layers(good + [Conv(jnp.ones((1, 1, 3, 1)))], order=1)
    # an activation on the input is a layer like any other (the Conv fixes the channels)
    first = from_layers([Poly(jnp.array([0.0, 1.0]))] + good, order=1)
    np.testing.assert_array_equal(first.h1, from_layers(good, order=1).h1)
    inner = VolterraKernels(jnp.zeros(2), jnp.ones((2, 2, 1, 2)))
    outer = VolterraKernels(jnp.zeros(1), jnp.ones((2, 2, 3, 1)))
    with pytest.raises(ValueError, match="outer takes 3 input channels but inner has 2"):
        compose(outer, inner)
    with pytest.raises(ValueError, match="inner must have order >= 1"):
        compose(inner, VolterraKernels(jnp.zeros(1)))
    with pytest.raises(ValueError, match="inner_stride must be a positive int"):
        compose(inner, inner, inner_stride=0)
    with pytest.raises(TypeError, match="outer must be VolterraKernels"):
        compose((jnp.zeros(1),), inner)


def test_float32_chain_matches_autodiff():
    layers = [
        Smooth(jnp.tanh) if isinstance(layer, Poly) else layer
        for layer in _net_pool(jax.random.key(16))
    ]
    layers = jax.tree.map(lambda a: a.astype(jnp.float32), layers)
    ref = proxy_kernels(apply_fn, layers, receptive_field(layers).shape, order=2)
    k = from_layers(layers, order=2)
    for n in range(3):
        assert k[n].dtype == jnp.float32
        err = float(jnp.linalg.norm(k[n] - ref[n]) / jnp.linalg.norm(ref[n]))
        assert err < 1e-5, (n, err)
