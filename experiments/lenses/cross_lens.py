"""Two lenses on the same units: each output unit's decoded filter against its order-1
Volterra kernel (cosine after removing each filter's mean), on the network and on its smooth
twin.

On the ReLU network the order-1 kernel is the local one at the mean image (the gradient of each
logit there: ReLU has no Taylor series at 0); it carries the max-pool switches and ReLU gates
that decoding replaces by unpooling, so the two agree only partly. On the smooth twin (tanh,
average pools) it is the white-box ``h1``, and the decoded filter uses nearest unpooling with
the average-pool weighting, the setting where decoding is exact for a linear network: what
remains is the activations' gain at the operating point.
"""

from typing import NamedTuple

import numpy as np

import decoding_jax as dj
import volterra_jax as vj
from experiments.lenses import _net


class CrossLens(NamedTuple):
    decoded: np.ndarray  # (H, W, C, O) the network's decoded output filters, over the image
    h1: np.ndarray  # (H, W, C, O) its local order-1 kernels at the mean image
    twin_decoded: np.ndarray  # the smooth twin's
    twin_h1: np.ndarray
    cosine: np.ndarray  # (O,) per unit, the network
    twin_cosine: np.ndarray  # (O,) per unit, the twin


def cosine(a, b) -> np.ndarray:
    """Per-unit cosine of two (..., O) filter banks after removing each filter's mean."""
    a = np.asarray(a, np.float64).reshape(-1, a.shape[-1])
    b = np.asarray(b, np.float64).reshape(-1, b.shape[-1])
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))


def _decoded(layers, shape, **kw) -> np.ndarray:
    rows, cols = _net.image_frame(layers, shape)
    filters = dj.decode(layers, _net.output_path(layers), input_shape=shape, **kw)
    return np.moveaxis(np.asarray(filters), 0, -1)[rows, cols]


def compute(net, twin, twin_h1, data) -> CrossLens:
    """``net`` and its smooth ``twin`` (:class:`experiments.core.nets.Net`), ``twin_h1`` the
    twin's white-box order-1 kernels over the image (the Volterra lens's ``white.h1``)."""
    shape = tuple(data.test.images.shape[1:])
    h1 = np.asarray(vj.proxy_kernels(_net.logits_fn, net.layers, shape, order=1).h1)
    decoded = _decoded(net.layers, shape, unpool="bicubic")
    twin_decoded = _decoded(twin.layers, shape, unpool="nearest", avg_weighting=True)
    return CrossLens(
        decoded,
        h1,
        twin_decoded,
        np.asarray(twin_h1),
        cosine(decoded, h1),
        cosine(twin_decoded, twin_h1),
    )
