import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.volterra_jax._nets import conv, forward, poly
from volterra_jax import VolterraKernels, from_layers, proxy_attack, receptive_field, series


def _kernels(key, order=1):
    keys = jax.random.split(key, 3)
    terms = [jnp.zeros(3, jnp.float64), jax.random.normal(keys[1], (3, 3, 2, 3), jnp.float64)]
    if order == 2:
        terms.append(0.3 * jax.random.normal(keys[2], (3, 3, 2) * 2 + (3,), jnp.float64))
    return VolterraKernels(*terms)


def test_order1_linf_and_l2_steps_are_closed_forms():
    with jax.enable_x64(True):
        k = _kernels(jax.random.key(0))
        x = jax.random.normal(jax.random.key(1), (2, 3, 3, 2), jnp.float64)
        label = jnp.array([0, 2])
        xa = jax.jit(lambda k, x: proxy_attack(k, x, label, eps=0.1))(k, x)
        expected = x - 0.1 * jnp.sign(jnp.moveaxis(k.h1[..., label], 3, 0))
        np.testing.assert_allclose(xa, expected, atol=1e-14)
        xt = proxy_attack(k, x, label, eps=0.1, target=jnp.array([1, 1]))
        grad = jnp.moveaxis(k.h1[..., jnp.array([1, 1])] - k.h1[..., label], 3, 0)
        np.testing.assert_allclose(xt, x + 0.1 * jnp.sign(grad), atol=1e-14)
        x2 = proxy_attack(k, x, label, eps=0.5, norm="l2")
        g = -jnp.moveaxis(k.h1[..., label], 3, 0)
        norms = jnp.linalg.norm(g.reshape(2, -1), axis=1).reshape(2, 1, 1, 1)
        np.testing.assert_allclose(x2, x + 0.5 * g / norms, atol=1e-14)


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_iterated_attack_stays_in_the_ball_and_lowers_the_proxy_score(norm):
    with jax.enable_x64(True):
        k = _kernels(jax.random.key(2), order=2)
        x = jax.random.normal(jax.random.key(3), (4, 5, 5, 2), jnp.float64)
        label = jnp.array([0, 1, 2, 0])
        xa = proxy_attack(k, x, label, eps=0.05, norm=norm, steps=5)
        d = (xa - x).reshape(4, -1)
        size = jnp.abs(d).max(axis=1) if norm == "linf" else jnp.linalg.norm(d, axis=1)
        assert bool(jnp.all(size <= 0.05 + 1e-12))

        def score(z):
            s = series(z, k).mean(axis=(1, 2))
            return jnp.take_along_axis(s, label[:, None], axis=1)[:, 0]

        assert bool(jnp.all(score(xa) < score(x)))
        clipped = proxy_attack(k, x, label, eps=0.05, norm=norm, clip=(-0.5, 0.5))
        assert float(jnp.abs(clipped).max()) <= 0.5


def test_attack_from_white_box_kernels_lowers_the_true_score():
    with jax.enable_x64(True):
        k1, k2, k3 = jax.random.split(jax.random.key(4), 3)
        layers = [conv(k1, 3, 3, 1, 2), poly(0.0, 1.0, 0.3, -0.1), conv(k2, 2, 2, 2, 3)]
        rf = receptive_field(layers)
        kernels = from_layers(layers, order=2)
        x = 0.3 * jax.random.normal(k3, (8,) + rf.shape, jnp.float64)
        label = jnp.arange(8) % 3
        xa = proxy_attack(kernels, x, label, eps=0.02)
        before = forward(layers, x)[:, 0, 0, :]
        after = forward(layers, xa)[:, 0, 0, :]
        take = lambda s: jnp.take_along_axis(s, label[:, None], axis=1)[:, 0]  # noqa: E731
        assert bool(jnp.all(take(after) < take(before)))


@pytest.mark.bad_input
def test_bad_inputs():
    k = VolterraKernels(jnp.zeros(3), jnp.ones((3, 3, 2, 3)))
    x = jnp.zeros((1, 3, 3, 2))
    with pytest.raises(ValueError, match="norm must be one of"):
        proxy_attack(k, x, jnp.array([0]), eps=0.1, norm="l1")
    with pytest.raises(ValueError, match="steps must be a positive int"):
        proxy_attack(k, x, jnp.array([0]), eps=0.1, steps=0)
    with pytest.raises(ValueError, match="NHWC"):
        proxy_attack(k, jnp.zeros((3, 3, 2)), jnp.array([0]), eps=0.1)
