"""A VGG-style CNN for 28x28 digits (or 32x32 CIFAR-10 images): conv-BatchNorm-act blocks with
SAME padding, 2x2 pools between the blocks, a global average pool and a dense head.

With the default widths ``((16, 16), (32, 32), (64,))``::

    conv3x3 1->16, BN, act, conv3x3 16->16, BN, act, pool 2x2,
    conv3x3 16->32, BN, act, conv3x3 32->32, BN, act, pool 2x2,
    conv3x3 32->64, BN, act, global average pool, dense 64->10

``activation='relu', pool='max'`` is the net; ``activation='tanh', pool='avg'`` its smooth
twin, which the Volterra lens expands. It is an ``nnx.Sequential``, so
``cnn_layers.from_nnx(vgg)`` converts it as it stands.
"""

from collections.abc import Sequence

import jax.numpy as jnp
from flax import nnx

import cnn_layers
from experiments.models._common import ACTIVATIONS, POOLS, check_choice, pool_fn

VGG_BLOCKS = ((16, 16), (32, 32), (64,))
BN_MOMENTUM = 0.9  # running averages over the last ~10 steps (PyTorch's 0.1): short schedules


class VGG(nnx.Sequential):
    """Blocks of conv3x3 (SAME, no bias) - BatchNorm - activation, a pool between blocks, a
    global average pool and a dense layer to the classes.

    Args:
      in_channels: channels of the input image (1 for MNIST, 3 for CIFAR-10).
      num_classes: outputs of the dense head.
      blocks: the conv widths of each block.
      activation: one of ``ACTIVATIONS``.
      pool: ``'max'`` or ``'avg'``.
      param_dtype: dtype of the weights and batch statistics.
      rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        blocks: Sequence[Sequence[int]] = VGG_BLOCKS,
        activation: str = "relu",
        pool: str = "max",
        param_dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        check_choice("activation", activation, ACTIVATIONS)
        check_choice("pool", pool, POOLS)
        if not blocks or not all(blocks):
            raise ValueError(f"blocks must be non-empty lists of widths, got {blocks!r}")
        act, items, channels = ACTIVATIONS[activation], [], in_channels
        for i, widths in enumerate(blocks):
            if i:
                items.append(pool_fn(pool))
            for width in widths:
                items += conv_bn(channels, width, 3, 1, "SAME", param_dtype, rngs) + [act]
                channels = width
        items += [
            cnn_layers.global_avg_pool,
            nnx.Linear(channels, num_classes, param_dtype=param_dtype, rngs=rngs),
        ]
        super().__init__(*items)
        self.activation, self.pool = activation, pool


def conv_bn(cin: int, cout: int, size: int, stride: int, padding, param_dtype, rngs) -> list:
    """``[nnx.Conv (no bias), nnx.BatchNorm]``: the conv-BN pair of the VGG and ResNet."""
    return [
        nnx.Conv(
            cin,
            cout,
            kernel_size=(size, size),
            strides=stride,
            padding=padding,
            use_bias=False,
            param_dtype=param_dtype,
            rngs=rngs,
        ),
        nnx.BatchNorm(cout, momentum=BN_MOMENTUM, param_dtype=param_dtype, rngs=rngs),
    ]
