"""The hacking network against white-box kernels on the authors' sigmoid structures."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from decoding_jax.layers import Conv
from tests.volterra_jax._nets import forward, poly
from volterra_jax import Smooth, from_layers, hack, receptive_field, series, unit_norm_sampler


def _unit(key, shape):
    v = jax.random.normal(key, shape, jnp.float64)
    return v / jnp.linalg.norm(v)


def _sigmoid_net(key, shape, layers):
    keys = jax.random.split(key, layers)
    convs = [Conv(_unit(k, shape)[:, :, None, None]) for k in keys]
    net = [convs[0]]
    for c in convs[1:]:
        net += [Smooth(jax.nn.sigmoid), c]
    return net


def _rel(a, b):
    return float(jnp.linalg.norm(a - b) / jnp.linalg.norm(b))


# (kernel shape, conv layers, sampler image shape, hacked order, bound on the h1 error); the
# three-layer net has a quadratic term (sigmoid'' at the hidden operating point), fitted too
SETUPS = {
    "1d_two_layer": ((1, 9), 2, (1, 64, 1), 1, 1e-2),
    "2d_two_layer": ((3, 3), 2, (12, 12, 1), 1, 1e-2),
    "2d_three_layer": ((3, 3), 3, (12, 12, 1), 2, 5e-2),
}


@pytest.mark.parametrize("name", sorted(SETUPS))
def test_hacked_order1_kernel_matches_white_box(name):
    shape, depth, image, order, bound = SETUPS[name]
    with jax.enable_x64(True):
        layers = _sigmoid_net(jax.random.key(3), shape, depth)
        rf = receptive_field(layers)
        white = from_layers(layers, order=1)
        k, losses = hack(
            jax.random.key(1),
            lambda x: forward(layers, x),
            rf.shape,
            1,
            order=order,
            steps=300,
            learning_rate=optax.cosine_decay_schedule(3e-2, 300),
            sampler=unit_norm_sampler(image, 16),
        )
        assert losses.shape == (300,) and float(losses[-1]) < 1e-2 * float(losses[0])
        assert _rel(k.h1, white.h1) <= bound
        np.testing.assert_allclose(k.h0, white.h0, atol=bound)


@pytest.mark.slow
def test_order2_lowers_the_output_error_of_a_quadratic_net():
    with jax.enable_x64(True):
        k1, k2 = jax.random.split(jax.random.key(4))
        layers = [
            Conv(_unit(k1, (3, 3))[:, :, None, None]),
            poly(0.1, 1.0, 1.0),
            Conv(_unit(k2, (2, 2))[:, :, None, None]),
        ]
        rf = receptive_field(layers)
        sampler = unit_norm_sampler(rf.shape, 16)

        def box(x):
            return forward(layers, x)

        test_x = jax.random.normal(jax.random.key(9), (256,) + rf.shape, jnp.float64)
        test_x = test_x / jnp.linalg.norm(test_x.reshape(256, -1), axis=1).reshape(-1, 1, 1, 1)
        errors = {}
        for order in (1, 2):
            k, _ = hack(
                jax.random.key(5),
                box,
                rf.shape,
                1,
                order=order,
                rank=4,
                steps=300,
                learning_rate=optax.cosine_decay_schedule(3e-2, 300),
                sampler=sampler,
            )
            errors[order] = float(jnp.mean((series(test_x, k) - box(test_x)) ** 2))
        white = from_layers(layers, order=2)
        assert errors[2] < 0.1 * errors[1], errors
        assert _rel(k.h2, white.h2) < 0.1


def test_hack_runs_under_jit_and_fits_a_linear_box():
    w = jnp.arange(4.0).reshape(2, 2, 1, 1) / 4

    def box(x):
        return (
            jax.lax.conv_general_dilated(
                x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            + 1.0
        )

    fit = jax.jit(
        lambda key: (
            hack(key, box, (2, 2, 1), 1, order=2, rank=2, steps=200, learning_rate=0.05).kernels
        )
    )
    k = fit(jax.random.key(0))
    np.testing.assert_allclose(k.h1, w, atol=2e-2)
    np.testing.assert_allclose(k.h0, [1.0], atol=2e-2)
    assert k.h2.shape == (2, 2, 1, 2, 2, 1, 1)


@pytest.mark.bad_input
def test_hack_bad_inputs():
    def box(x):
        return x[:, :1, :1, :]

    key = jax.random.key(0)
    with pytest.raises(ValueError, match="sampler returned non-finite"):
        hack(key, box, (2, 2, 1), 1, steps=2, sampler=lambda k: jnp.full((4, 2, 2, 1), jnp.nan))
    with pytest.raises(ValueError, match="black_box returned non-finite"):
        hack(key, lambda x: box(x) * jnp.inf, (2, 2, 1), 1, steps=2)
    with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
        hack(key, box, (2, 2, 1), 1, steps=2, learning_rate=float("nan"))
    with pytest.raises(ValueError, match=r"black_box output must have shape \(16, 1, 1, 2\)"):
        hack(key, box, (2, 2, 1), 2, steps=2)
    with pytest.raises(ValueError, match="order must be an int >= 0"):
        hack(key, box, (2, 2, 1), 1, order=-1)
    with pytest.raises(ValueError, match="rank must be a positive int"):
        hack(key, box, (2, 2, 1), 1, rank=0)
    with pytest.raises(ValueError, match="sampler must return an NHWC batch"):
        hack(key, box, (2, 2, 1), 1, sampler=lambda k: jnp.zeros((4, 1, 1, 1)))
    with pytest.raises(TypeError, match="typed PRNG key"):
        hack(np.zeros(2, np.uint32), box, (2, 2, 1), 1)


def test_order3_cp_term_recovers_a_cubic():
    """A rank-1 cubic, y = u/2 + u^3 with u = w . x: h3 ~ w (x) w (x) w. Order 3 converges more
    slowly than order 2 (its features correlate with the linear ones), hence the loose bound."""
    with jax.enable_x64(True):
        w = _unit(jax.random.key(0), (2, 2)).reshape(2, 2, 1, 1)

        def box(x):
            u = jax.lax.conv_general_dilated(
                x, w, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
            )
            return 0.5 * u + u**3

        k, _ = hack(
            jax.random.key(1),
            box,
            (2, 2, 1),
            1,
            order=3,
            rank=1,
            steps=300,
            learning_rate=optax.cosine_decay_schedule(3e-2, 300),
        )
        assert k.h3.shape == (2, 2, 1) * 3 + (1,)
        assert _rel(k.h3, jnp.einsum("abco,defo,ghio->abcdefghio", w, w, w)) < 0.25
