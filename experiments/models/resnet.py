"""A small ResNet for 28x28 digits (or 32x32 CIFAR-10 images): basic blocks with identity and
1x1-projection shortcuts, a global average pool and a dense head.

With the default widths ``(16, 32, 64)``::

    conv3x3 1->16 (SAME), BN, ReLU,
    block 16->16 stride 1 (identity shortcut),
    block 16->32 stride 2 (1x1 stride-2 projection + BN),
    block 32->64 stride 2 (projection),
    global average pool, dense 64->10

A basic block is ``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``. Its 3x3 convs pad by
one pixel on every side (PyTorch's convention; equal to SAME at stride 1): at stride 2 the 3x3
window of output ``p`` is centred on input ``2 p``, where the 1x1 projection reads, while lax's
SAME would pad (0, 1) and shift the residual path by a pixel against the shortcut.
"""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx

import cnn_layers
from experiments.models._common import ACTIVATIONS, check_choice
from experiments.models.vgg import conv_bn

RESNET_WIDTHS = (16, 32, 64)


class BasicBlock(nnx.Module):
    """``act(bn2(c2(act(bn1(c1(x))))) + shortcut(x))``, the shortcut the identity or, when the
    stride or the width changes, a 1x1 strided projection with its batch norm.

    Args:
      in_channels, out_channels: widths.
      stride: stride of ``c1`` (and of the projection).
      activation: one of ``ACTIVATIONS``.
      param_dtype: dtype of the weights and batch statistics.
      rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        *,
        activation: str = "relu",
        param_dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        check_choice("activation", activation, ACTIVATIONS)
        self.activation = activation
        self.c1, self.bn1 = conv_bn(in_channels, out_channels, 3, stride, 1, param_dtype, rngs)
        self.c2, self.bn2 = conv_bn(out_channels, out_channels, 3, 1, 1, param_dtype, rngs)
        projection = [None, None]
        if stride != 1 or in_channels != out_channels:
            projection = conv_bn(in_channels, out_channels, 1, stride, "VALID", param_dtype, rngs)
        self.proj, self.proj_bn = nnx.data(projection[0]), nnx.data(projection[1])

    def __call__(self, x: jax.Array) -> jax.Array:
        act = ACTIVATIONS[self.activation]
        y = self.bn2(self.c2(act(self.bn1(self.c1(x)))))
        shortcut = x if self.proj is None else self.proj_bn(self.proj(x))
        return act(y + shortcut)

    def as_layers(self) -> list:
        """``[Residual([c1, bn1, act, c2, bn2], [proj, proj_bn] or []), act]`` for
        :func:`cnn_layers.from_nnx`."""
        act = ACTIVATIONS[self.activation]
        shortcut = [] if self.proj is None else [self.proj, self.proj_bn]
        return [cnn_layers.Residual([self.c1, self.bn1, act, self.c2, self.bn2], shortcut), act]


class ResNet(nnx.Sequential):
    """Stem conv-BN-act, one basic block per width (the first at stride 1, the others at
    stride 2), a global average pool and a dense layer to the classes.

    Args:
      in_channels: channels of the input image (1 for MNIST, 3 for CIFAR-10).
      num_classes: outputs of the dense head.
      widths: the stem's width (also its block's) and those of the strided blocks.
      activation: one of ``ACTIVATIONS`` (ReLU for the ResNet).
      param_dtype: dtype of the weights and batch statistics.
      rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        widths: Sequence[int] = RESNET_WIDTHS,
        activation: str = "relu",
        param_dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        check_choice("activation", activation, ACTIVATIONS)
        if not widths:
            raise ValueError(f"widths must list at least one width, got {widths!r}")
        items = conv_bn(in_channels, widths[0], 3, 1, "SAME", param_dtype, rngs)
        items.append(ACTIVATIONS[activation])
        channels = widths[0]
        for i, width in enumerate(widths):
            stride = 1 if i == 0 else 2
            items.append(
                BasicBlock(
                    channels,
                    width,
                    stride,
                    activation=activation,
                    param_dtype=param_dtype,
                    rngs=rngs,
                )
            )
            channels = width
        items += [
            cnn_layers.global_avg_pool,
            nnx.Linear(channels, num_classes, param_dtype=param_dtype, rngs=rngs),
        ]
        super().__init__(*items)
        self.activation = activation
