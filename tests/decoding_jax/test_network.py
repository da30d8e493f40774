import jax
import jax.numpy as jnp
import numpy as np
import pytest

from decoding_jax import Conv, Pool, ReLU, forward, total_stride
from tests.decoding_jax import oracles


def _net(rng):
    return [
        Conv(rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3)),
        ReLU(),
        Pool(2, "max"),
        Conv(rng.normal(size=(2, 2, 3, 4)), rng.normal(size=4), stride=2),
        Pool(2, "avg"),
        Conv(rng.normal(size=(1, 1, 4, 2)), None),
    ]


def test_forward_matches_brute_force_loops():
    rng = np.random.default_rng(0)
    net, images = _net(rng), rng.normal(size=(2, 18, 18, 2))
    with jax.enable_x64(True):
        jnet = jax.tree.map(jnp.asarray, net)
        run = jax.jit(forward, static_argnames=("upto", "bias"))
        for upto in range(len(net)):
            for bias in (True, False):
                out = np.asarray(run(jnet, jnp.asarray(images), upto=upto, bias=bias))
                expected = np.stack([oracles.forward(net, im, upto, bias) for im in images])
                np.testing.assert_allclose(out, expected, rtol=1e-12, atol=1e-12)


def test_forward_relu_false_skips_relus():
    rng = np.random.default_rng(1)
    net = [Conv(jnp.asarray(rng.normal(size=(3, 3, 1, 2)))), ReLU()]
    x = jnp.asarray(rng.normal(size=(1, 5, 5, 1)), jnp.float32)
    np.testing.assert_array_equal(forward(net, x, relu=False), forward(net[:1], x))
    assert float(jnp.min(forward(net, x))) >= 0.0


def test_total_stride():
    net = _net(np.random.default_rng(0))
    assert [total_stride(net, i) for i in range(6)] == [1, 1, 2, 4, 8, 8]


@pytest.mark.bad_input
def test_forward_errors():
    rng = np.random.default_rng(2)
    net = _net(rng)
    x = jnp.ones((1, 18, 18, 2))
    with pytest.raises(ValueError, match="mismatched channel counts"):
        forward(net, jnp.ones((1, 18, 18, 3)))
    bad = [Conv(jnp.ones((3, 3, 2, 3))), Conv(jnp.ones((3, 3, 4, 1)))]
    with pytest.raises(ValueError, match="mismatched channel counts"):
        forward(bad, x)
    with pytest.raises(ValueError, match=r"upto must be a 0-based index in \[0, 5\]"):
        forward(net, x, upto=6)
    with pytest.raises(TypeError, match=r"layers\[1\] must be one of the layer types"):
        forward([net[0], "pool"], x)
    with pytest.raises(ValueError, match=r"images must have shape \(N, H, W, C\)"):
        forward(net, jnp.ones((18, 18, 2)))
    with pytest.raises(ValueError, match="larger than"):
        forward(net, jnp.ones((1, 2, 2, 2)))
    with pytest.raises(ValueError, match="0-based index"):
        total_stride(net, -1)
