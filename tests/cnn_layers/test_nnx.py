"""from_nnx: forward(from_nnx(model), x) == model(x) in float64, and named refusals."""

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from cnn_layers import forward, from_nnx


def _x(seed, shape):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float64)


def test_grouped_conv():
    with jax.enable_x64(True):
        m = nnx.Conv(4, 6, (3, 3), feature_group_count=2, param_dtype=jnp.float64, rngs=nnx.Rngs(0))
        x = _x(0, (2, 7, 7, 4))
        np.testing.assert_allclose(forward(from_nnx(m), x), m(x), rtol=1e-10, atol=1e-10)
