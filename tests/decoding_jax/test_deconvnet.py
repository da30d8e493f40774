import jax
import jax.numpy as jnp
import numpy as np
import pytest

from decoding_jax import Conv, Flatten, Pool, ReLU, decode, deconvnet, forward, total_stride
from tests.decoding_jax import oracles


def _linear_net(rng):
    return [Conv(rng.normal(size=(3, 3, 2, 3))), Conv(rng.normal(size=(2, 2, 3, 4)), stride=2)]


def test_linear_net_map_projection_is_input_gradient():
    # no pooling, no ReLU, no bias: projecting unit k's map r_k is J^T r_k = grad of |r_k|^2 / 2
    rng = np.random.default_rng(0)
    image = rng.normal(size=(9, 9, 2))
    with jax.enable_x64(True):
        net = jax.tree.map(jnp.asarray, _linear_net(rng))
        out = jax.jit(deconvnet, static_argnames="layer")(net, 1, jnp.asarray(image))
        for k in range(4):
            g = jax.grad(lambda x, k=k: 0.5 * jnp.sum(forward(net, x[None])[0, ..., k] ** 2))(
                jnp.asarray(image)
            )
            np.testing.assert_allclose(out[k], g, rtol=0, atol=1e-12)


def test_linear_net_one_hot_signal_gives_decoded_filter_in_place():
    rng = np.random.default_rng(1)
    image = rng.normal(size=(9, 9, 2))
    with jax.enable_x64(True):
        net = jax.tree.map(jnp.asarray, _linear_net(rng))
        d = decode(net, 1)
        signal = jnp.zeros((1, 3, 3, 4)).at[0, 2, 1, 3].set(1.0)
        out = deconvnet(net, 1, jnp.asarray(image), signal=signal)[0]
        s = total_stride(net, 1)
        placed = jnp.zeros((9, 9, 2)).at[2 * s : 2 * s + 4, s : s + 4].set(d[3])
        np.testing.assert_allclose(out, placed, rtol=0, atol=1e-12)


def _nonlinear_net(rng):
    return [
        Conv(rng.normal(size=(3, 3, 1, 3)), rng.normal(size=3)),
        ReLU(),
        Pool(2, "max"),
        Conv(rng.normal(size=(3, 3, 3, 4)), rng.normal(size=4)),
        ReLU(),
        Pool(2, "avg"),
        Conv(rng.normal(size=(2, 2, 4, 3)), rng.normal(size=3)),
    ]


@pytest.mark.parametrize("layer", [3, 6])
def test_switches_and_relu_match_brute_force(layer):
    rng = np.random.default_rng(2)
    net, image = _nonlinear_net(rng), rng.normal(size=(14, 14, 1))
    with jax.enable_x64(True):
        out = np.asarray(deconvnet(jax.tree.map(jnp.asarray, net), layer, jnp.asarray(image)))
    response = oracles.forward(net, image, layer)
    for k in range(response.shape[-1]):
        signal = np.zeros_like(response)
        signal[..., k] = response[..., k]
        expected = oracles.deconvnet(net, layer, image, signal)
        np.testing.assert_allclose(out[k], expected, rtol=0, atol=1e-12)


def test_keep_max_projects_only_the_strongest_activation():
    rng = np.random.default_rng(3)
    net, image = _nonlinear_net(rng), rng.normal(size=(14, 14, 1))
    with jax.enable_x64(True):
        jnet = jax.tree.map(jnp.asarray, net)
        out = np.asarray(deconvnet(jnet, 3, jnp.asarray(image), keep="max"))
    response = oracles.forward(net, image, 3)
    for k in range(4):
        i, j = np.unravel_index(np.argmax(response[..., k]), response.shape[:2])
        signal = np.zeros_like(response)
        signal[i, j, k] = response[i, j, k]
        expected = oracles.deconvnet(net, 3, image, signal)
        np.testing.assert_allclose(out[k], expected, rtol=0, atol=1e-12)


@pytest.mark.bad_input
def test_deconvnet_errors():
    net = _nonlinear_net(np.random.default_rng(4))
    image = jnp.ones((14, 14, 1))
    with pytest.raises(ValueError, match="keep must be one of"):
        deconvnet(net, 3, image, keep="all")
    with pytest.raises(ValueError, match="is a Flatten"):
        deconvnet([*net, Flatten()], len(net), image)
    with pytest.raises(ValueError, match=r"layer must be a 0-based index in \[0, 6\]"):
        deconvnet(net, 9, image)
    with pytest.raises(ValueError, match=r"image must have shape \(H, W, C\)"):
        deconvnet(net, 3, image[None])
    with pytest.raises(ValueError, match=r"signal must have shape \(S, 4, 4, 4\)"):
        deconvnet(net, 3, image, signal=jnp.ones((2, 5, 5, 4)))
    with pytest.raises(ValueError, match="window is larger than its"):
        deconvnet(net, 3, jnp.ones((5, 5, 1)))
