"""Flax NNX models of the experiments and their bridges to the pure libraries.

* :class:`LeNet`: MatConvNet's MNIST LeNet (the decoding paper's network), NHWC:
  conv 20@5x5 -> pool 2x2 -> conv 50@5x5 -> pool 2x2 -> conv 500@4x4 -> act -> conv 10@1x1,
  VALID padding, stride 1, biases; logits of shape (N, 10). ``activation='relu'`` and
  ``pool='max'`` give the paper's net; ``'tanh'``/``'softplus'`` with ``'avg'`` give the smooth
  twin the Volterra lens expands.
* :func:`split_model`: any NNX model as a pure ``(apply_fn, params)`` pair.
* :func:`lenet_layers`: the trained LeNet as a plain list of ``decoding_jax`` layers.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from flax import nnx

from decoding_jax.layers import Conv, Pool, ReLU

ACTIVATIONS: dict[str, Callable[[jax.Array], jax.Array]] = {
    "relu": jax.nn.relu,
    "tanh": jnp.tanh,
    "softplus": jax.nn.softplus,
    "sigmoid": jax.nn.sigmoid,
}
POOLS = ("max", "avg")

# (name, features, kernel size) of the four convolutions; a pool follows the first two.
LENET_CONVS = (("conv1", 20, 5), ("conv2", 50, 5), ("conv3", 500, 4), ("conv4", 10, 1))


def _pool(x: jax.Array, kind: str) -> jax.Array:
    if kind == "max":
        return nnx.max_pool(x, window_shape=(2, 2), strides=(2, 2))
    return nnx.avg_pool(x, window_shape=(2, 2), strides=(2, 2))


class LeNet(nnx.Module):
    """MatConvNet's MNIST LeNet in NHWC.

    Weights start as ``init_scale * randn`` and biases at zero, as in MatConvNet's
    ``cnn_mnist_init``.

    Args:
      in_channels: channels of the input image (1 for MNIST).
      num_classes: outputs of the last 1x1 convolution.
      activation: one of ``ACTIVATIONS``; applied after conv3 only, as in MatConvNet.
      pool: ``'max'`` or ``'avg'``.
      init_scale: standard deviation of the initial weights.
      rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        activation: str = "relu",
        pool: str = "max",
        init_scale: float = 0.01,
        rngs: nnx.Rngs,
    ):
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {tuple(ACTIVATIONS)}, got {activation!r}")
        if pool not in POOLS:
            raise ValueError(f"pool must be one of {POOLS}, got {pool!r}")
        self.activation = activation
        self.pool = pool
        init = nnx.initializers.normal(init_scale)
        channels = in_channels
        for name, features, size in LENET_CONVS:
            if name == "conv4":
                features = num_classes
            conv = nnx.Conv(
                channels,
                features,
                kernel_size=(size, size),
                padding="VALID",
                kernel_init=init,
                bias_init=nnx.initializers.zeros_init(),
                rngs=rngs,
            )
            setattr(self, name, conv)
            channels = features

    def features(self, x: jax.Array, upto: str = "conv4") -> jax.Array:
        """The response of the named layer (``'conv1'`` ... ``'conv4'``), NHWC."""
        act = ACTIVATIONS[self.activation]
        x = self.conv1(x)
        if upto == "conv1":
            return x
        x = self.conv2(_pool(x, self.pool))
        if upto == "conv2":
            return x
        x = self.conv3(_pool(x, self.pool))
        if upto == "conv3":
            return x
        return self.conv4(act(x))

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits of shape (N, num_classes) for images (N, 28, 28, C)."""
        y = self.features(x)
        return y.reshape(y.shape[0], -1)


def split_model(model: nnx.Module):
    """Splits an NNX model into a pure ``(apply_fn, params)`` pair.

    ``apply_fn(params, *args)`` rebuilds the model from ``params`` (an ``nnx.State``, a
    pytree) and calls it, so it can be jitted, differentiated and vmapped like any function.
    """
    graphdef, params = nnx.split(model)

    def apply_fn(params, *args, **kwargs):
        return nnx.merge(graphdef, params)(*args, **kwargs)

    return apply_fn, params


def lenet_layers(params, *, pool: str = "max") -> list:
    """The LeNet's parameters as a plain layer list for ``decoding_jax`` / ``volterra_jax``.

    Args:
      params: the ``nnx.State`` (or nested dict) of a :class:`LeNet` with ReLU.
      pool: the pooling kind of that LeNet.

    Returns:
      ``[Conv, Pool, Conv, Pool, Conv, ReLU, Conv]`` with HWIO weights and biases.
    """
    tree = nnx.to_pure_dict(params) if isinstance(params, nnx.State) else params
    missing = [n for n, _, _ in LENET_CONVS if n not in tree]
    if missing:
        raise ValueError(f"params must hold the LeNet convolutions {missing}; got {sorted(tree)}")

    def conv(name):
        return Conv(jnp.asarray(tree[name]["kernel"]), jnp.asarray(tree[name]["bias"]))

    return [
        conv("conv1"),
        Pool(2, pool),
        conv("conv2"),
        Pool(2, pool),
        conv("conv3"),
        ReLU(),
        conv("conv4"),
    ]
