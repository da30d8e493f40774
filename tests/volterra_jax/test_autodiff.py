import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from volterra_jax import proxy_kernels, taylor_coefficients


def test_taylor_coefficients_closed_forms():
    with jax.enable_x64(True):
        sig = jax.jit(lambda: taylor_coefficients(jax.nn.sigmoid, 5))()
        np.testing.assert_allclose(sig, [0.5, 0.25, 0, -1 / 48, 0, 1 / 480], atol=1e-15)
        tanh = taylor_coefficients(jnp.tanh, 5)
        np.testing.assert_allclose(tanh, [0, 1, 0, -1 / 3, 0, 2 / 15], atol=1e-15)
        # softplus has no jet rule; log 2, 1/2, 1/8, 0, -1/192
        soft = taylor_coefficients(jax.nn.softplus, 4)
        np.testing.assert_allclose(soft, [math.log(2), 0.5, 0.125, 0, -1 / 192], atol=1e-15)
        at = jnp.array([[0.3, -1.0]])
        ex = taylor_coefficients(jnp.exp, 4, at)
        assert ex.shape == (5, 1, 2)
        expected = (
            np.exp(np.asarray(at))[None]
            / np.array([math.factorial(k) for k in range(5)])[:, None, None]
        )
        np.testing.assert_allclose(ex, expected, rtol=1e-13)


@pytest.mark.bad_input
def test_taylor_coefficients_bad_order():
    with pytest.raises(ValueError, match="order must be an int >= 0"):
        taylor_coefficients(jnp.tanh, -1)
    with pytest.raises(TypeError, match="callable"):
        taylor_coefficients(3.0, 2)


def _net(w, x):
    """u + u^2 + 0.5, u = w * x: h0 = 0.5, h1 = w, h2 = w (x) w."""
    u = lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return 0.5 + u + u * u


def test_proxy_kernels_closed_form():
    with jax.enable_x64(True):
        w = jax.random.normal(jax.random.key(0), (2, 3, 2, 1), jnp.float64)
        k = jax.jit(lambda w: proxy_kernels(_net, w, (2, 3, 2), order=3))(w)
        np.testing.assert_allclose(k.h0, [0.5], atol=1e-15)
        np.testing.assert_allclose(k.h1, w, atol=1e-14)
        outer = jnp.einsum("abco,defo->abcdefo", w, w)
        np.testing.assert_allclose(k.h2, outer, atol=1e-14)
        np.testing.assert_allclose(k.h3, 0.0, atol=1e-14)


def test_proxy_kernels_at_an_input():
    with jax.enable_x64(True):
        w = jax.random.normal(jax.random.key(1), (2, 2, 1, 1), jnp.float64)
        x0 = jax.random.normal(jax.random.key(2), (2, 2, 1), jnp.float64)
        k = proxy_kernels(_net, w, (2, 2, 1), order=2, at=x0)
        u0 = float(jnp.sum(w[..., 0] * x0))
        np.testing.assert_allclose(k.h0, [0.5 + u0 + u0**2], rtol=1e-13)
        np.testing.assert_allclose(k.h1, (1 + 2 * u0) * w, rtol=1e-13)


def test_proxy_kernels_bad_inputs():
    w = jnp.ones((2, 2, 1, 1))
    with pytest.raises(ValueError, match=r"must give a 1x1xO output.*\(1, 2, 2, 1\)"):
        proxy_kernels(_net, w, (3, 3, 1))
    with pytest.raises(ValueError, match="order must be an int >= 0"):
        proxy_kernels(_net, w, (2, 2, 1), order=-1)
    with pytest.raises(ValueError, match="rf_shape must be three positive ints"):
        proxy_kernels(_net, w, (2, 2))
    with pytest.raises(ValueError, match="at must have shape"):
        proxy_kernels(_net, w, (2, 2, 1), at=jnp.zeros((3, 3, 1)))
