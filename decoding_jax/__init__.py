"""decoding_jax: filter decoding by substitution (Rafegas & Vanrell, arXiv 1511.05084).

Every unit of any layer as one filter in image space, decoded from a layer list of the shared
vocabulary (:mod:`cnn_layers`, re-exported in :mod:`decoding_jax.layers`; ``from_nnx`` builds one
from a Flax NNX model), plus the network forward pass, the decoded-response error of the paper's
Table 1 and the Zeiler-Fergus deconvnet baseline.
"""

from decoding_jax._decode import NORMALIZATIONS, decode, decoded_response, response_error
from decoding_jax._deconvnet import DECONV_KEEP, deconvnet
from decoding_jax._network import forward, total_stride
from decoding_jax._unpool import UNPOOL_METHODS, resize_matrix, unpool
from decoding_jax.layers import (
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Layer,
    Pool,
    ReLU,
    Residual,
    from_nnx,
)

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "BatchNorm",
    "Conv",
    "DECONV_KEEP",
    "Dense",
    "Flatten",
    "GlobalAvgPool",
    "Layer",
    "NORMALIZATIONS",
    "Pool",
    "ReLU",
    "Residual",
    "UNPOOL_METHODS",
    "decode",
    "decoded_response",
    "deconvnet",
    "forward",
    "from_nnx",
    "resize_matrix",
    "response_error",
    "total_stride",
    "unpool",
]
