"""1-D TGD operators against brute-force quadrature of their continuous definitions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from analytic_jax import tgd_first_order, tgd_second_order


def _simpson(f, a, b, n=2000):
    s = np.linspace(a, b, n + 1)
    w = np.ones(n + 1)
    w[1:-1:2], w[2:-1:2] = 4, 2
    return (b - a) / (3 * n) * np.sum(w * f(s))


def _cell(f, u):
    # integral of f over [u - 1/2, u + 1/2], split at 0 where sign(s) jumps (one-sided limits)
    a, b = u - 0.5, u + 0.5
    if a <= 0 <= b:
        eps = 1e-300
        left = lambda s: f(np.minimum(s, -eps))
        right = lambda s: f(np.maximum(s, eps))
        return _simpson(left, a, 0.0) + _simpson(right, 0.0, b)
    return _simpson(f, a, b)


@pytest.mark.parametrize("sigma", [0.4, 1.3, 5.0])
def test_first_order_matches_cell_integral(sigma):
    g = lambda s: np.sign(s) * np.exp(-(s**2) / (2 * sigma**2))
    u = np.array([-2.0, -1.3, -0.2, 0.0, 0.3, 0.5, 1.0, 2.7])
    want = np.array([_cell(g, x) for x in u])
    with jax.enable_x64(True):
        got = np.asarray(tgd_first_order(jnp.asarray(u), sigma))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.4, 1.3, 5.0])
def test_second_order_matches_definition(sigma):
    g = lambda s: np.exp(-(s**2) / (2 * sigma**2))
    h = 2.5
    mass = _simpson(g, -h, h)
    u = np.array([-2.0, -1.3, -0.2, 0.0, 0.3, 0.5, 1.0, 2.7])
    want = np.array([_cell(g, x) for x in u]) - mass * np.maximum(0, 1 - np.abs(u))
    with jax.enable_x64(True):
        got = np.asarray(tgd_second_order(jnp.asarray(u), sigma, h))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k", [3, 4, 7, 8])
def test_operators_on_axis_grid(k):
    with jax.enable_x64(True):
        t = jnp.arange(k, dtype=jnp.float64) - (k - 1) / 2
        d1 = tgd_first_order(t, 1.1)
        d2 = tgd_second_order(t, 1.1, k / 2)
        # odd / even, zero-sum, derivative-like responses to polynomials
        np.testing.assert_allclose(d1, -d1[::-1], atol=1e-14)
        np.testing.assert_allclose(d2, d2[::-1], atol=1e-14)
        assert abs(float(jnp.sum(d1))) < 1e-12 and abs(float(jnp.sum(d2))) < 1e-12
        assert float(jnp.sum(d1 * t)) > 0  # a rising ramp gives a positive difference
        assert abs(float(jnp.sum(d2 * t))) < 1e-12  # linear functions have no 2nd difference
        assert float(jnp.sum(d2 * t**2)) > 0


def test_jit_and_float32():
    u = jnp.linspace(-3, 3, 13)
    a = jax.jit(tgd_first_order)(u, 1.0)
    b = jax.jit(tgd_second_order, static_argnums=2)(u, 1.0, 3.5)
    assert a.dtype == b.dtype == jnp.float32
    with jax.enable_x64(True):
        u64 = jnp.linspace(-3, 3, 13, dtype=jnp.float64)
        np.testing.assert_allclose(a, tgd_first_order(u64, 1.0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(b, tgd_second_order(u64, 1.0, 3.5), rtol=1e-5, atol=1e-6)
