"""forward against the brute-force loops of tests/cnn_layers/oracles.py."""

import jax
import jax.numpy as jnp
import numpy as np

from cnn_layers import BatchNorm, Conv, Dense, Flatten, ReLU, forward
from tests.cnn_layers import oracles


def test_biases_and_batchnorm_broadcast_explicitly():
    # tests/conftest.py sets jax_numpy_rank_promotion='raise', as a careful user may
    rng = np.random.default_rng(0)
    bn = BatchNorm(rng.normal(size=3), rng.normal(size=3), rng.normal(size=3), rng.uniform(1, 2, 3))
    net = [
        Conv(rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3)),
        bn,
        ReLU(),
        Flatten(),
        Dense(rng.normal(size=(48, 2)), rng.normal(size=2)),
        BatchNorm(None, rng.normal(size=2), rng.normal(size=2), rng.uniform(1, 2, 2)),
    ]
    x = rng.normal(size=(2, 6, 6, 2))
    with jax.enable_x64(True):
        for bias in (True, False):
            out = forward(jax.tree.map(jnp.asarray, net), jnp.asarray(x), bias=bias)
            np.testing.assert_allclose(out, oracles.forward(net, x, bias), rtol=1e-10, atol=1e-10)
