"""What the models share: activations, pooling functions, the pure-function view of a model."""

import functools
from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

import cnn_layers
from cnn_layers._random import normal

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
}
POOLS = ("max", "avg")


def check_choice(name: str, value: str, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {tuple(choices)}, got {value!r}")


def pool_fn(kind: str, window: int = 2) -> Callable[[jax.Array], jax.Array]:
    """Non-overlapping ``window x window`` max or average pooling, as a function that
    :func:`cnn_layers.from_nnx` reads (a ``functools.partial`` of ``cnn_layers.max_pool``,
    whose gradient is XLA's computed faster, or of ``nnx.avg_pool``)."""
    check_choice("pool", kind, POOLS)
    pool = cnn_layers.max_pool if kind == "max" else nnx.avg_pool
    return functools.partial(pool, window_shape=(window, window), strides=(window, window))


def normal_init(stddev: float) -> Callable:
    """``nnx.initializers.normal(stddev)`` with the same values, drawn flat (compiles in a
    fraction of the time: :func:`cnn_layers._random.normal`)."""

    def init(key, shape, dtype=jnp.float32):
        return normal(key, shape, dtype) * stddev

    return init


def split_model(model: nnx.Module):
    """Splits an NNX model into a pure ``(apply_fn, params)`` pair.

    ``apply_fn(params, *args)`` rebuilds the model from ``params`` (an ``nnx.State``, a
    pytree) and calls it, so it can be jitted, differentiated and vmapped like any function.
    """
    graphdef, params = nnx.split(model)

    def apply_fn(params, *args, **kwargs):
        return nnx.merge(graphdef, params)(*args, **kwargs)

    return apply_fn, params
