"""The decoding lens on any network: every unit of every conv layer (and of the head) as an
image filter, its Table-1 response error and its self-consistency.

For a layer ``L`` (a path into the layer list, nested residual paths included) and a test image
``I`` as the network sees it:

* network response ``R = forward(layers, I, upto=L)``: biases, batch norms, max pools and the
  ReLUs below ``L``, before any activation after it;
* decoded response ``D``: ``I`` zero-padded by ``geometry(layers, L).padding`` and correlated
  with the bias-free decoded filters at the layer's total stride (the same shape as ``R``);
* error ``e(I) = mean((nu(R) - nu(D))**2)``, ``nu`` one min-max normalisation of the whole
  response block of the image (``decoding_jax.response_error``, the paper's Table 1 metric);
* self-consistency: each decoded filter, scaled to the data's largest magnitude, is placed in a
  blank input at the receptive field of the map's centre unit (clipped to the image); it is
  consistent when its own unit has the largest response of the layer there.
"""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

import cnn_layers
import decoding_jax as dj
from experiments.core import subsets


class LayerDecoding(NamedTuple):
    """One layer's decoded filters and how well they describe it."""

    path: tuple
    name: str  # e.g. "layers[4].block[0] (Conv)"
    filters: np.ndarray  # (K, R_h, R_w, C): one image filter per unit
    stride: int
    padding: tuple  # image padding ((top, bottom), (left, right))
    error_mean: float  # Table 1: mean and std over the images of the min-max response error
    error_std: float
    self_consistency: float  # fraction of units whose own decoded filter wins


class Decoding(NamedTuple):
    layers: tuple[LayerDecoding, ...]
    unpool: str
    num_images: int


@functools.partial(jax.jit, static_argnames=("path", "stride", "padding"))
def _responses(layers, images, filters, *, path, stride, padding):
    net = cnn_layers.forward(layers, images, upto=path)
    est = dj.decoded_response(images, filters, stride=stride, padding=padding)
    return net, est.reshape(net.shape)


def _centre_inputs(filters, image_shape, geometry, out_hw, scale):
    """Blank images ``(K, H, W, C)`` holding each filter (scaled to ``scale``) at the receptive
    field of the centre unit, the parts outside the image cut off; and that unit's position."""
    p0 = (out_hw[0] // 2, out_hw[1] // 2)
    (top, _), (left, _) = geometry.padding
    y0, x0 = geometry.stride * p0[0] - top, geometry.stride * p0[1] - left
    f = filters * (scale / np.maximum(np.abs(filters).max(axis=(1, 2, 3), keepdims=True), 1e-30))
    canvas = np.zeros((len(f), *image_shape), np.float32)
    h, w = f.shape[1:3]
    ys, xs = (
        slice(max(y0, 0), min(y0 + h, image_shape[0])),
        slice(max(x0, 0), min(x0 + w, image_shape[1])),
    )
    canvas[:, ys, xs] = f[:, ys.start - y0 : ys.stop - y0, xs.start - x0 : xs.stop - x0]
    return canvas, p0


def _self_consistency(layers, path, filters, geometry, image_shape, scale) -> float:
    out = geometry.out_shape
    out_hw = (1, 1) if out.flat else (out.h, out.w)
    canvas, p0 = _centre_inputs(filters, image_shape, geometry, out_hw, scale)
    resp = np.asarray(
        jax.jit(cnn_layers.forward, static_argnames="upto")(layers, canvas, upto=path)
    )
    resp = resp.reshape(len(canvas), -1) if out.flat else resp[:, p0[0], p0[1], :]
    return float(np.mean(resp.argmax(axis=1) == np.arange(len(canvas))))


def decode_layer(layers, path, images, *, unpool: str, batch_size: int) -> LayerDecoding:
    """Decodes one layer and measures it on ``images`` (``(N, H, W, C)``, preprocessed)."""
    shape = tuple(images.shape[1:])
    g = cnn_layers.geometry(layers, path, input_shape=shape)
    filters = np.asarray(dj.decode(layers, path, unpool=unpool, input_shape=shape))
    errors = []
    for start in range(0, len(images), batch_size):
        chunk = jnp.asarray(images[start : start + batch_size])
        net, est = _responses(layers, chunk, filters, path=path, stride=g.stride, padding=g.padding)
        errors.append(np.asarray(dj.response_error(net, est)))
    e = np.concatenate(errors)
    target = cnn_layers.chain(cnn_layers.describe(layers, shape), path)[-1]
    consistency = _self_consistency(layers, path, filters, g, shape, float(np.abs(images).max()))
    return LayerDecoding(
        path,
        f"{target.name} ({type(target.layer).__name__})",
        filters,
        g.stride,
        g.padding,
        float(e.mean()),
        float(e.std()),
        consistency,
    )


def decode_layers(
    layers, images: np.ndarray, *, unpool: str = "bicubic", batch_size: int = 250, paths=None
) -> Decoding:
    """Every conv layer (and the Dense / GlobalAvgPool head) of ``layers`` decoded and measured.

    Args:
      layers: the trained network's layer list (``cnn_layers.from_nnx(model)``).
      images: test images ``(N, H, W, C)`` as the network sees them.
      unpool: the unpooling through pools (the paper's 'bicubic' by default).
      batch_size: images per compiled batch.
      paths: the layers to decode; default every Conv, Dense and GlobalAvgPool.

    Returns:
      A :class:`Decoding`.
    """
    if paths is None:
        paths = cnn_layers.layer_paths(layers, (cnn_layers.Conv, cnn_layers.Dense))
    results = tuple(
        decode_layer(layers, path, images, unpool=unpool, batch_size=batch_size) for path in paths
    )
    return Decoding(results, unpool, len(images))


def compute(net, data, config, *, key=None) -> Decoding:
    """Every conv layer and the head of ``net`` (a :class:`experiments.core.nets.Net`) decoded
    and measured on ``config.num_images`` class-balanced test images of ``data``.

    ``config``: ``num_images``, ``unpool``, ``batch_size``. Deterministic (``key`` unused).
    """
    del key
    idx = subsets.stratified_indices(data.test.labels, config.num_images)
    images = net.preprocess(data.test.images[idx])
    return decode_layers(net.layers, images, unpool=config.unpool, batch_size=config.batch_size)


def layer_summary(r: LayerDecoding) -> dict:
    """One layer's numbers, for a summary: units, filter size, stride, error, self-consistency."""
    return {
        "layer": r.name,
        "units": len(r.filters),
        "filter_size": list(r.filters.shape[1:3]),
        "stride": r.stride,
        "error_mean": r.error_mean,
        "error_std": r.error_std,
        "self_consistency": r.self_consistency,
    }
