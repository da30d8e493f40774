"""The Volterra paper's style of MNIST net as an NNX module, and its bridge to ``volterra_jax``.

:class:`SigmoidNet` (NHWC, VALID, biases): conv 16@5x5 -> sigmoid -> conv 32@5x5 stride 2 ->
sigmoid -> conv 10@5x5 -> global mean over space. The sigmoids feed ``sigmoid(u) - 1/2``
forward, the same function class (the constant folds into the next conv's bias, which
`sigmoid_layers` does) but centred hidden units, which SGD trains far faster. Its receptive
field is 17x17 with total stride 2 (a 6x6 grid of outputs on a 28x28 digit), so each class
has LeNet-sized proxy kernels, and the class score is the spatial mean of the per-position
Volterra series.
"""

import jax
import jax.numpy as jnp
from flax import nnx

import volterra_jax as vj
from decoding_jax.layers import Conv

# (name, features, kernel size, stride)
SIGMOID_CONVS = (("conv1", 16, 5, 1), ("conv2", 32, 5, 2), ("conv3", 10, 5, 1))


class SigmoidNet(nnx.Module):
    """conv -> sigmoid -> conv -> sigmoid -> conv -> global mean, the authors' MNIST style.

    Args:
      in_channels: channels of the input image.
      num_classes: outputs of the last convolution.
      widths: features of the two hidden convolutions.
      rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        widths: tuple[int, int] = (16, 32),
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
                rngs=rngs,
            )
            setattr(self, name, conv)
            channels = features

    def maps(self, x: jax.Array) -> jax.Array:
        """The per-position class maps (N, P, Q, num_classes), before the global mean."""
        x = jax.nn.sigmoid(self.conv1(x)) - 0.5
        x = jax.nn.sigmoid(self.conv2(x)) - 0.5
        return self.conv3(x)

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits (N, num_classes): the spatial mean of :meth:`maps`."""
        return jnp.mean(self.maps(x), axis=(1, 2))


def sigmoid_layers(params, *, poly_degree: int = 0) -> list:
    """The trained net as a ``volterra_jax`` layer list (the global mean left out).

    Args:
      params: the ``nnx.State`` (or nested dict) of a :class:`SigmoidNet`.
      poly_degree: 0 for ``Smooth(sigmoid)``; > 0 for the authors' Taylor polynomial.
    """
    tree = nnx.to_pure_dict(params) if isinstance(params, nnx.State) else params
    if poly_degree:
        act = vj.Poly(vj.taylor_coefficients(jax.nn.sigmoid, poly_degree))
    else:
        act = vj.Smooth(jax.nn.sigmoid)
    layers = []
    for i, (name, _, _, stride) in enumerate(SIGMOID_CONVS):
        w, b = jnp.asarray(tree[name]["kernel"]), jnp.asarray(tree[name]["bias"])
        if i:  # the net feeds sigmoid - 1/2 forward: fold the -1/2 into this bias
            layers.append(act)
            b = b - 0.5 * jnp.sum(w, axis=(0, 1, 2))
        layers.append(Conv(w, b, stride))
    return layers


def maps_apply(model: SigmoidNet):
    """A pure ``f(params, x) -> maps(x)`` (N, P, Q, num_classes) for nets shaped like ``model``."""
    graphdef, _ = nnx.split(model)

    def f(params, x):
        return nnx.merge(graphdef, params).maps(x)

    return f
