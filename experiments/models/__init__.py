"""Flax NNX models of the experiments; each enters the lenses in one call,
``cnn_layers.from_nnx(model)``.

* :class:`LeNet` (``lenet``): MatConvNet's MNIST LeNet (the decoding paper's network) and its
  smooth twin.
* :class:`VGG` (``vgg``): conv-BatchNorm-ReLU blocks with SAME padding, max pools, a global
  average pool and a dense head; ``activation='tanh', pool='avg'`` is its smooth twin.
* :class:`ResNet` (``resnet``): basic blocks (:class:`BasicBlock`) with identity and
  1x1-projection shortcuts, a global average pool and a dense head.
* :func:`split_model`: any NNX model as a pure ``(apply_fn, params)`` pair.

The Volterra study's sigmoid net is in ``experiments.models.sigmoid_net`` and the AnaNNs in
``experiments.models.anann``.
"""

from experiments.models._common import ACTIVATIONS, POOLS, pool_fn, split_model
from experiments.models.lenet import CONV_INDICES, LENET_CONVS, LeNet
from experiments.models.resnet import RESNET_WIDTHS, BasicBlock, ResNet
from experiments.models.vgg import VGG, VGG_BLOCKS

MODELS = {"lenet": LeNet, "vgg": VGG, "resnet": ResNet}

__all__ = [
    "ACTIVATIONS",
    "BasicBlock",
    "CONV_INDICES",
    "LENET_CONVS",
    "LeNet",
    "MODELS",
    "POOLS",
    "RESNET_WIDTHS",
    "ResNet",
    "VGG",
    "VGG_BLOCKS",
    "pool_fn",
    "split_model",
]
