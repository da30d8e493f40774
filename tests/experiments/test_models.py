import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

from decoding_jax.layers import Conv, Pool, ReLU
from experiments import models


def _reference_lenet(layers, x):
    """The LeNet written out with lax primitives: an oracle independent of Flax."""
    for layer in layers:
        if isinstance(layer, Conv):
            dims = ("NHWC", "HWIO", "NHWC")
            x = lax.conv_general_dilated(x, layer.w, (1, 1), "VALID", dimension_numbers=dims)
            x = x + layer.b[None, None, None, :]
        elif isinstance(layer, Pool):
            x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        elif isinstance(layer, ReLU):
            x = jax.nn.relu(x)
    return x.reshape(x.shape[0], -1)


def test_lenet_matches_a_lax_transcription():
    model = models.LeNet(rngs=nnx.Rngs(0), init_scale=0.1)
    apply_fn, params = models.split_model(model)
    layers = models.lenet_layers(params)
    assert [type(layer).__name__ for layer in layers] == [
        "Conv",
        "Pool",
        "Conv",
        "Pool",
        "Conv",
        "ReLU",
        "Conv",
    ]
    assert [layer.w.shape for layer in layers if isinstance(layer, Conv)] == [
        (5, 5, 1, 20),
        (5, 5, 20, 50),
        (4, 4, 50, 500),
        (1, 1, 500, 10),
    ]
    x = jax.random.normal(jax.random.key(1), (3, 28, 28, 1))
    logits = jax.jit(apply_fn)(params, x)
    assert logits.shape == (3, 10)
    np.testing.assert_allclose(logits, model(x), rtol=1e-6)
    np.testing.assert_allclose(logits, _reference_lenet(layers, x), rtol=1e-5, atol=1e-6)


def test_lenet_init_follows_matconvnet():
    model = models.LeNet(rngs=nnx.Rngs(0))
    _, params = models.split_model(model)
    w = nnx.to_pure_dict(params)["conv3"]["kernel"]
    assert abs(float(jnp.std(w)) - 0.01) < 5e-4
    assert all(float(jnp.abs(p["bias"]).max()) == 0.0 for p in nnx.to_pure_dict(params).values())


def test_smooth_twin_and_errors():
    model = models.LeNet(activation="tanh", pool="avg", rngs=nnx.Rngs(0))
    assert model(jnp.zeros((1, 28, 28, 1))).shape == (1, 10)
    with pytest.raises(ValueError, match="activation must be one of"):
        models.LeNet(activation="gelu", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="pool must be one of"):
        models.LeNet(pool="min", rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="params must hold the LeNet convolutions"):
        models.lenet_layers({"conv1": {}})
