"""cnn_layers: the one layer vocabulary that decoding_jax and volterra_jax read.

A CNN enters the structural lenses as a plain list of layers, input first:

============================  ================================================================
``Conv(w, b, stride, padding)``  cross-correlation, HWIO kernel; padding 'VALID', 'SAME' or
                                 ``((top, bottom), (left, right))``, as ``lax.conv_general_dilated``
``BatchNorm(scale, offset,``     inference batch norm; :func:`fold_batchnorm` folds it into the
``mean, var, eps)``              Conv or Dense before it
``Pool(window, kind, stride,``   max or average pooling, overlapping windows allowed;
``padding)``                     ``Pool(2)`` / ``Pool(2, 'avg')`` are the non-overlapping 2x2 pools
``GlobalAvgPool()``              the spatial mean, ``(N, H, W, C) -> (N, C)``
``Flatten()``                    ``x.reshape(N, -1)``
``Dense(w, b)``                  ``flatten(x) @ w + b``: a Conv whose kernel covers the whole map
``ReLU()``, ``Smooth(fn)``,      activations: ``max(x, 0)``, any smooth elementwise function,
``Poly(coeffs)``                 a polynomial
``Residual(block, shortcut)``    ``block(x) + shortcut(x)``, two layer lists (empty shortcut =
                                 identity)
============================  ================================================================

:func:`from_nnx` converts a Flax NNX model into such a list, :func:`forward` runs one (and
equals the model), :func:`describe` checks one and gives every map shape, and :func:`geometry`
gives the receptive field (size, stride, offset) of any unit, nested layers included (a layer
inside a residual path is named by a path such as ``(3, 'block', 1)``; :func:`layer_paths`
lists them). The layers are pytrees: arrays are leaves, settings are static, so a layer list
passes through ``jax.jit`` as an argument.

Border rule shared by the lenses: a unit near the border of a padded network reads zeros
outside the image; the lenses give every unit the interior unit's filter (or kernels),
shifted. That is exact for units whose receptive field lies inside the image, and for the
others it is the network whose intermediate paddings are replaced by zero-padding the input
image by :attr:`Geometry.padding` (each hidden unit outside its map then takes the value the
padded image gives it instead of zero).

For training on a CPU, :func:`conv_general_dilated` (give it to ``nnx.Conv``) and
:func:`max_pool` are ``lax.conv_general_dilated`` and ``nnx.max_pool`` with the same values and
gradients, computed as matmuls and selection masks (the MNIST LeNet's train step in 0.6x the
time); :func:`from_nnx` reads models built with them.
"""

from cnn_layers._describe import LayerInfo, MapShape, describe
from cnn_layers._fast import conv_general_dilated, max_pool
from cnn_layers._fold import fold_batchnorm, fold_batchnorms
from cnn_layers._forward import flatten, forward, global_avg_pool
from cnn_layers._geometry import Geometry, chain, geometry, layer_paths
from cnn_layers._layers import (
    PADDINGS,
    POOL_KINDS,
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Layer,
    Poly,
    Pool,
    ReLU,
    Residual,
    Smooth,
)
from cnn_layers._nnx import SMOOTH_FUNCTIONS, from_nnx

__version__ = "0.1.0"

__all__ = [
    "BatchNorm",
    "Conv",
    "Dense",
    "Flatten",
    "Geometry",
    "GlobalAvgPool",
    "Layer",
    "LayerInfo",
    "MapShape",
    "PADDINGS",
    "POOL_KINDS",
    "Poly",
    "Pool",
    "ReLU",
    "Residual",
    "SMOOTH_FUNCTIONS",
    "Smooth",
    "__version__",
    "chain",
    "conv_general_dilated",
    "describe",
    "flatten",
    "fold_batchnorm",
    "fold_batchnorms",
    "forward",
    "from_nnx",
    "geometry",
    "global_avg_pool",
    "layer_paths",
    "max_pool",
]
