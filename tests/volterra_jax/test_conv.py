import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from volterra_jax import VolterraKernels, patches, perturbation, series, volterra_conv


def _brute(x, h, order, stride):
    """y[n, p, q, o] = sum over slot tuples of H * prod x, by explicit loops."""
    x, h = np.asarray(x), np.asarray(h)
    kh, kw, c = h.shape[:3]
    n_, hh, ww, _ = x.shape
    ph, pw = (hh - kh) // stride + 1, (ww - kw) // stride + 1
    slots = list(itertools.product(range(kh), range(kw), range(c)))
    y = np.zeros((n_, ph, pw, h.shape[-1]))
    for b, p, q in itertools.product(range(n_), range(ph), range(pw)):
        for tup in itertools.product(slots, repeat=order):
            prod = 1.0
            for u, v, ch in tup:
                prod = prod * x[b, stride * p + u, stride * q + v, ch]
            y[b, p, q] += h[tuple(i for s in tup for i in s)] * prod
    return y


@pytest.mark.parametrize("stride", [1, 2])
def test_order1_is_lax_conv(stride):
    with jax.enable_x64(True):
        kx, kh = jax.random.split(jax.random.key(0))
        x = jax.random.normal(kx, (2, 7, 6, 3), jnp.float64)
        h = jax.random.normal(kh, (3, 2, 3, 4), jnp.float64)
        got = jax.jit(lambda x, h: volterra_conv(x, h, order=1, stride=stride))(x, h)
        ref = lax.conv_general_dilated(
            x, h, (stride, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
        )
        np.testing.assert_allclose(got, ref, atol=1e-12)


@pytest.mark.parametrize("order, stride", [(2, 1), (2, 2), (3, 1), (3, 2)])
def test_higher_orders_match_brute_force(order, stride):
    with jax.enable_x64(True):
        kx, kh = jax.random.split(jax.random.key(order + stride))
        x = jax.random.normal(kx, (2, 5, 4, 2), jnp.float64)
        h = jax.random.normal(kh, (2, 2, 2) * order + (2,), jnp.float64)  # not symmetric
        got = jax.jit(lambda x, h: volterra_conv(x, h, order=order, stride=stride))(x, h)
        np.testing.assert_allclose(got, _brute(x, h, order, stride), rtol=1e-10, atol=1e-12)


def test_patches_are_slices():
    x = jnp.arange(2 * 5 * 6 * 2, dtype=jnp.float32).reshape(2, 5, 6, 2)
    p = jax.jit(lambda x: patches(x, (3, 2, 2), stride=2))(x)
    assert p.shape == (2, 2, 3, 3, 2, 2)
    np.testing.assert_array_equal(p[1, 1, 2], x[1, 2:5, 4:6, :])


def _random_kernels(key, rf, out, order):
    keys = jax.random.split(key, order + 1)
    return VolterraKernels(
        jax.random.normal(keys[0], (out,), jnp.float64),
        *[jax.random.normal(keys[n], rf * n + (out,), jnp.float64) for n in range(1, order + 1)],
    )


def test_series_sums_the_orders():
    with jax.enable_x64(True):
        k = _random_kernels(jax.random.key(3), (2, 2, 2), 2, 3)
        x = jax.random.normal(jax.random.key(4), (1, 5, 5, 2), jnp.float64)
        expected = np.asarray(k.h0) + sum(_brute(x, k[n], n, 2) for n in (1, 2, 3))
        got = jax.jit(lambda x, k: series(x, k, stride=2))(x, k)
        np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_perturbation_splits_the_change_by_order():
    with jax.enable_x64(True):
        k = _random_kernels(jax.random.key(5), (2, 2, 1), 2, 3)
        x = jax.random.normal(jax.random.key(6), (2, 4, 4, 1), jnp.float64)
        d = 0.1 * jax.random.normal(jax.random.key(7), x.shape, jnp.float64)
        parts = jax.jit(perturbation)(k, x, d)
        assert parts.shape == (4, 2, 3, 3, 2)
        np.testing.assert_array_equal(parts[0], 0.0)
        np.testing.assert_allclose(parts[1], _brute(d, k.h1, 1, 1), atol=1e-12)  # linear
        np.testing.assert_allclose(parts.sum(0), series(x + d, k) - series(x, k), atol=1e-12)
        # order 2: H(x+d, x+d) - H(x, x) by brute force
        np.testing.assert_allclose(
            parts[2], _brute(x + d, k.h2, 2, 1) - _brute(x, k.h2, 2, 1), atol=1e-12
        )


@pytest.mark.bad_input
def test_bad_inputs_raise():
    h = np.zeros((2, 2, 1, 3))
    x = np.zeros((1, 4, 4, 1))
    with pytest.raises(ValueError, match="order must be an int >= 0"):
        volterra_conv(x, h, order=-1)
    with pytest.raises(ValueError, match="order 0"):
        volterra_conv(x, h, order=0)
    with pytest.raises(ValueError, match="order-1 kernel but order=2"):
        volterra_conv(x, h, order=2)
    with pytest.raises(ValueError, match="channels"):
        volterra_conv(np.zeros((1, 4, 4, 2)), h, order=1)
    with pytest.raises(ValueError, match="smaller than the receptive field"):
        volterra_conv(np.zeros((1, 1, 4, 1)), h, order=1)
    with pytest.raises(ValueError, match="NHWC"):
        volterra_conv(np.zeros((4, 4, 1)), h, order=1)
    with pytest.raises(ValueError, match="repeat one"):
        volterra_conv(x, np.zeros((2, 2, 1, 3, 2, 1, 3)), order=2)
    with pytest.raises(ValueError, match="order >= 1"):
        series(x, VolterraKernels(np.zeros(3)))
    with pytest.raises(TypeError, match="VolterraKernels"):
        series(x, (np.zeros(3), h))
    with pytest.raises(ValueError, match="delta must have the shape"):
        perturbation(VolterraKernels(np.zeros(3), h), x, np.zeros((1, 3, 3, 1)))
