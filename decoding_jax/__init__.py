"""decoding_jax: filter decoding by substitution (Rafegas & Vanrell, arXiv 1511.05084).

Every unit of a conv layer as one filter in image space, decoded from a small layer list
(:mod:`decoding_jax.layers`), plus the network forward pass, the decoded-response error of the
paper's Table 1 and the Zeiler-Fergus deconvnet baseline.
"""

from decoding_jax._decode import NORMALIZATIONS, decode, decoded_response, response_error
from decoding_jax._deconvnet import DECONV_KEEP, deconvnet
from decoding_jax._network import forward, total_stride
from decoding_jax._unpool import UNPOOL_METHODS, resize_matrix, unpool
from decoding_jax.layers import Conv, Layer, Pool, ReLU

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Conv",
    "DECONV_KEEP",
    "Layer",
    "NORMALIZATIONS",
    "Pool",
    "ReLU",
    "UNPOOL_METHODS",
    "decode",
    "decoded_response",
    "deconvnet",
    "forward",
    "resize_matrix",
    "response_error",
    "total_stride",
    "unpool",
]
