"""The forward pass of a layer list: the network the lenses describe."""

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Real

from cnn_layers._checks import as_real_float, check_rank
from cnn_layers._describe import LayerInfo, describe
from cnn_layers._geometry import chain
from cnn_layers._layers import (
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Poly,
    Pool,
    ReLU,
    Residual,
)

__all__ = ["as_real_float", "flatten", "forward", "global_avg_pool"]

_DIMS = ("NHWC", "HWIO", "NHWC")


def flatten(x: Array) -> Array:
    """``x.reshape(N, -1)``; from :func:`cnn_layers.from_nnx`'s view, a ``Flatten()`` layer
    (use it in an ``nnx.Sequential``). ``x`` is ``(N, ...)`` with at least two axes."""
    check_rank(x, "x", tuple(range(2, 33)), "(N, ...) with at least 2 axes")
    return x.reshape(x.shape[0], -1)


def global_avg_pool(x: Array) -> Array:
    """The mean over the two spatial axes of ``(N, H, W, C)``; a ``GlobalAvgPool()`` layer for
    :func:`cnn_layers.from_nnx` (use it in an ``nnx.Sequential``)."""
    check_rank(x, "x", 4, "(N, H, W, C)")
    x = as_real_float(x, "x")
    return jnp.mean(x, axis=(1, 2))


def _weight(w, dtype, name):
    return as_real_float(w, name, dtype).astype(dtype)


def per_channel(v: Array, ndim: int) -> Array:
    """A ``(C,)`` vector shaped to broadcast over the last axis of an ``ndim``-D array
    (explicitly, so it also works under ``jax_numpy_rank_promotion='raise'``)."""
    return jnp.reshape(v, (1,) * (ndim - 1) + (-1,))


def apply(info: LayerInfo, x: Array, *, bias: bool = True, relu: bool = True) -> Array:
    """One walked layer on a batch (``(N, H, W, C)``, or ``(N, D)`` after a flatten)."""
    layer, dtype = info.layer, x.dtype
    if isinstance(layer, Conv):
        y = lax.conv_general_dilated(
            x,
            _weight(layer.w, dtype, f"{info.name}.w"),
            (layer.stride,) * 2,
            info.pads,
            dimension_numbers=_DIMS,
        )
        if bias and layer.b is not None:
            y = y + per_channel(_weight(layer.b, dtype, f"{info.name}.b"), y.ndim)
        return y
    if isinstance(layer, Pool):
        window, strides = (1, layer.window, layer.window, 1), (1, layer.stride, layer.stride, 1)
        pads = ((0, 0),) + info.pads + ((0, 0),)
        if layer.kind == "max":
            return lax.reduce_window(x, -jnp.inf, lax.max, window, strides, pads)
        # a concrete (numpy) zero: lax then uses its differentiable windowed sum; a jnp zero
        # gives the generic reduce_window, which has no reverse-mode derivative
        summed = lax.reduce_window(x, np.zeros((), dtype), lax.add, window, strides, pads)
        return summed / layer.window**2
    if isinstance(layer, BatchNorm):
        g, h = (per_channel(v, x.ndim) for v in layer.gain_and_shift(dtype))
        return x * g + h if bias else x * g
    if isinstance(layer, GlobalAvgPool):
        return global_avg_pool(x)
    if isinstance(layer, Flatten):
        return flatten(x)
    if isinstance(layer, Dense):
        y = flatten(x) @ _weight(layer.w, dtype, f"{info.name}.w")
        if bias and layer.b is not None:
            y = y + per_channel(_weight(layer.b, dtype, f"{info.name}.b"), y.ndim)
        return y
    if isinstance(layer, Residual):
        return run(info.block, x, bias=bias, relu=relu) + run(
            info.shortcut, x, bias=bias, relu=relu
        )
    if isinstance(layer, ReLU):
        return layer(x) if relu else x
    if isinstance(layer, Poly):  # real coefficients, in the map's dtype
        coeffs = _weight(layer.coeffs, dtype, f"{info.name}.coeffs")
        return dataclasses.replace(layer, coeffs=coeffs)(x)
    return layer(x)  # Smooth


def run(infos: Sequence[LayerInfo], x: Array, *, bias: bool = True, relu: bool = True) -> Array:
    for info in infos:
        x = apply(info, x, bias=bias, relu=relu)
    return x


def forward(
    layers: Sequence[Any],
    images: Real[ArrayLike, "n h w c"],
    *,
    upto=None,
    bias: bool = True,
    relu: bool = True,
) -> Float[Array, "n ..."]:
    """Runs a layer list on a batch of images: the network the lenses describe.

    Conv is ``lax.conv_general_dilated`` (padding and stride as set), BatchNorm its inference
    affine map, Pool ``lax.reduce_window`` (max pads with ``-inf``, avg sums zero-padded
    windows and divides by ``window**2``), GlobalAvgPool the spatial mean, Flatten and Dense
    act on ``x.reshape(N, -1)``, a Residual adds its two paths. It equals the Flax model
    :func:`cnn_layers.from_nnx` converted (in inference mode).

    Args:
      layers: the layer list.
      images: ``(N, H, W, C)``; integer images are promoted to the default float, complex
        ones refused.
      upto: index or path (e.g. ``(3, 'block', 1)``) of the last layer to run; None runs all.
      bias: add the Conv / Dense biases and the BatchNorm shifts; ``bias=False`` gives the
        bias-free network that decoded filters describe.
      relu: apply the ReLUs; ``relu=False`` skips them.

    Returns:
      The response after ``upto``: ``(N, H', W', K)``, or ``(N, D)`` after a Flatten,
      GlobalAvgPool or Dense.

    Raises:
      TypeError: an element that is not a layer, complex or non-numeric images.
      ValueError: images that are not 4-D (or have no pixels or channels), channels that do
        not chain, a window larger than its map, residual paths of different shapes, ``upto``
        out of range.

    Examples:
      >>> import jax.numpy as jnp
      >>> from cnn_layers import Conv, GlobalAvgPool, Pool
      >>> net = [Conv(jnp.ones((3, 3, 1, 2)), padding="SAME"), Pool(2, "avg"), GlobalAvgPool()]
      >>> forward(net, jnp.ones((1, 6, 6, 1))).shape
      (1, 2)
    """
    images = as_real_float(images, "images")
    if images.ndim != 4 or min(images.shape[1:]) < 1:
        raise ValueError(
            f"images must have shape (N, H, W, C) with H, W, C >= 1, got shape {images.shape}"
        )
    infos = describe(layers, images.shape[1:])
    sub = infos if upto is None else chain(infos, upto, name="upto")
    return run(sub, images, bias=bias, relu=relu)
