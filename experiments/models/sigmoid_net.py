"""The Volterra paper's style of MNIST net as an NNX module.

:class:`SigmoidNet` (NHWC, VALID, biases): conv 16@5x5 -> sigmoid -> conv 32@5x5 stride 2 ->
sigmoid -> conv 10@5x5 -> global mean over space. The sigmoids feed
:func:`centred_sigmoid` ``= sigmoid(u) - 1/2`` forward: the same function class (the constant
could fold into the next conv's bias) but centred hidden units, which SGD trains far faster.
Its receptive field is 17x17 with total stride 2 (a 6x6 grid of outputs on a 28x28 digit), so
each class has LeNet-sized proxy kernels, and the class score is the spatial mean of the
per-position Volterra series.

``cnn_layers.from_nnx(net)`` is ``[Conv, Smooth(centred_sigmoid), Conv,
Smooth(centred_sigmoid), Conv, GlobalAvgPool]``; without its last layer it is the net of the
class maps (:meth:`SigmoidNet.maps`). Its Volterra kernels are those of the sigmoid net with
the -1/2 folded into the next bias: ``Smooth`` expands ``centred_sigmoid`` at the same
operating point with the same derivatives, and its value, 1/2 lower, enters the next conv's
order-0 term exactly as the folded bias does.
"""

import jax
import jax.numpy as jnp
from flax import nnx

import cnn_layers

# (name, features, kernel size, stride)
SIGMOID_CONVS = (("conv1", 16, 5, 1), ("conv2", 32, 5, 2), ("conv3", 10, 5, 1))


def centred_sigmoid(u: jax.Array) -> jax.Array:
    """``sigmoid(u) - 1/2``: zero at zero, slope 1/4 there."""
    return jax.nn.sigmoid(u) - 0.5


class SigmoidNet(nnx.Module):
    """conv -> sigmoid -> conv -> sigmoid -> conv -> global mean, the authors' MNIST style.

    Args:
      in_channels: channels of the input image.
      num_classes: outputs of the last convolution.
      widths: features of the two hidden convolutions.
      param_dtype: dtype of the weights.
      rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        widths: tuple[int, int] = (16, 32),
        param_dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        channels = in_channels
        for (name, _, size, stride), features in zip(
            SIGMOID_CONVS, (*widths, num_classes), strict=True
        ):
            conv = nnx.Conv(
                channels,
                features,
                kernel_size=(size, size),
                strides=(stride, stride),
                padding="VALID",
                param_dtype=param_dtype,
                rngs=rngs,
            )
            setattr(self, name, conv)
            channels = features

    def maps(self, x: jax.Array) -> jax.Array:
        """The per-position class maps (N, P, Q, num_classes), before the global mean."""
        x = centred_sigmoid(self.conv1(x))
        x = centred_sigmoid(self.conv2(x))
        return self.conv3(x)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits (N, num_classes): the spatial mean of :meth:`maps`."""
        return jnp.mean(self.maps(x), axis=(1, 2))

    def as_layers(self) -> list:
        """``[conv1, Smooth(centred_sigmoid), conv2, Smooth(centred_sigmoid), conv3,
        GlobalAvgPool()]`` for :func:`cnn_layers.from_nnx`."""
        act = cnn_layers.Smooth(centred_sigmoid)
        return [self.conv1, act, self.conv2, act, self.conv3, cnn_layers.GlobalAvgPool()]


def maps_apply(model: SigmoidNet):
    """A pure ``f(params, x) -> maps(x)`` (N, P, Q, num_classes) for nets shaped like ``model``."""
    graphdef, _ = nnx.split(model)

    def f(params, x):
        return nnx.merge(graphdef, params).maps(x)

    return f
