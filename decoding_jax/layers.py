"""The layer vocabulary decoding_jax reads, re-exported from :mod:`cnn_layers` (one definition
shared with volterra_jax): ``Conv``, ``BatchNorm``, ``Pool``, ``GlobalAvgPool``, ``Flatten``,
``Dense``, ``ReLU``, ``Smooth``, ``Poly``, ``Residual``, and ``from_nnx`` to build a list from a
Flax NNX model."""

from cnn_layers import (
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
    from_nnx,
)

__all__ = [
    "BatchNorm",
    "Conv",
    "Dense",
    "Flatten",
    "GlobalAvgPool",
    "Layer",
    "Poly",
    "Pool",
    "ReLU",
    "Residual",
    "Smooth",
    "from_nnx",
]
