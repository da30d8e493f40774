"""MatConvNet's MNIST LeNet, the decoding paper's network, and its smooth twin.

conv 20@5x5 -> pool 2x2 -> conv 50@5x5 -> pool 2x2 -> conv 500@4x4 -> act -> conv 10@1x1, NHWC,
VALID padding, stride 1, biases; logits of shape (N, 10). ``activation='relu'`` and
``pool='max'`` give the paper's net; ``'tanh'``/``'softplus'`` with ``'avg'`` give the smooth
twin the Volterra lens expands. ``cnn_layers.from_nnx(lenet)`` is
``[Conv, Pool, Conv, Pool, Conv, act, Conv, Flatten]``: conv1..conv4 at :data:`CONV_INDICES`.
"""

import jax
import jax.numpy as jnp
from flax import nnx

import cnn_layers
from cnn_layers import Flatten, Pool
from experiments.models._common import ACTIVATIONS, POOLS, check_choice, normal_init, pool_fn

# (name, features, kernel size) of the four convolutions; a pool follows the first two.
LENET_CONVS = (("conv1", 20, 5), ("conv2", 50, 5), ("conv3", 500, 4), ("conv4", 10, 1))
# conv1..conv4 in cnn_layers.from_nnx(lenet): the decoding paper's L1, L3, L5, L7
CONV_INDICES = (0, 2, 4, 6)


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
      param_dtype: dtype of the weights.
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
        param_dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("pool", pool, POOLS)
        self.activation = activation
        self.pool = pool
        init = normal_init(init_scale)
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
                conv_general_dilated=cnn_layers.conv_general_dilated,  # XLA's values, a faster step
                bias_init=nnx.initializers.zeros_init(),
                param_dtype=param_dtype,
                rngs=rngs,
            )
            setattr(self, name, conv)
            channels = features

    def features(self, x: jax.Array, upto: str = "conv4") -> jax.Array:
        """The response of the named layer (``'conv1'`` ... ``'conv4'``), NHWC."""
        act, pool = ACTIVATIONS[self.activation], pool_fn(self.pool)
        x = self.conv1(x)
        if upto == "conv1":
            return x
        x = self.conv2(pool(x))
        if upto == "conv2":
            return x
        x = self.conv3(pool(x))
        if upto == "conv3":
            return x
        return self.conv4(act(x))

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits of shape (N, num_classes) for images (N, 28, 28, C)."""
        y = self.features(x)
        return y.reshape(y.shape[0], -1)

    def as_layers(self) -> list:
        """The net for :func:`cnn_layers.from_nnx`: conv1, pool, conv2, pool, conv3, act,
        conv4, flatten."""
        pool = Pool(2, self.pool)
        act = ACTIVATIONS[self.activation]
        return [self.conv1, pool, self.conv2, pool, self.conv3, act, self.conv4, Flatten()]
