"""Filter decoding by substitution (Rafegas & Vanrell): each unit as one image filter."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Real

from cnn_layers import Flatten, describe
from cnn_layers._checks import as_real_float, check_bool, check_int
from cnn_layers._geometry import chain, field
from cnn_layers._layers import Conv, Dense, Layer, dense_as_conv_kernel
from decoding_jax._substitute import Bank, dense_maps, down
from decoding_jax._unpool import check_method

__all__ = ["decode", "decoded_response", "response_error", "NORMALIZATIONS"]

NORMALIZATIONS = ("minmax", "zscore", "none")


def _chain_dtype(infos):
    """The float dtype of the layers' arrays (integers promoted, complex refused)."""
    dtypes = []
    for info in infos:
        for path, leaf in jax.tree_util.tree_flatten_with_path(info.layer)[0]:
            name = f"{info.name}{jax.tree_util.keystr(path)} ({type(info.layer).__name__})"
            dtypes.append(as_real_float(leaf, name).dtype)
    return jnp.result_type(*dtypes) if dtypes else jax.dtypes.canonicalize_dtype(jnp.float64)


def _start(info, dtype) -> tuple[Bank, bool]:
    """The bank of a layer's own units on its input map, and whether the layer is consumed."""
    layer = info.layer
    if isinstance(layer, Conv | Dense):
        w = as_real_float(layer.w, f"{info.name}.w", dtype).astype(dtype)
        if isinstance(layer, Dense):
            w = dense_as_conv_kernel(w, info.in_shape[:3])
        t = jnp.moveaxis(w, 3, 0)
        off = None if info.pads is None else (info.pads[0][0], info.pads[1][0])
        return Bank(t, np.eye(t.shape[1]), np.eye(t.shape[2]), off), True
    c = info.out_shape.c
    return Bank(jnp.eye(c, dtype=dtype).reshape(c, 1, 1, c), np.eye(1), np.eye(1), (0, 0)), False


def decode(
    layers: Sequence[Layer],
    layer,
    *,
    unpool: str = "bicubic",
    avg_weighting: bool = False,
    input_shape: tuple[int, int, int] | None = None,
) -> Float[Array, "n_units h w c_in"]:
    """Decodes every unit of ``layer`` into the image space, all at once.

    The decoded filter ``df_k`` of unit ``k`` starts as its filter ``w[..., k]`` (for a Conv
    or Dense; a one-hot on its channel for other layers) and goes down the network
    (Rafegas & Vanrell, Sec. 3):

    * through a Conv ``w'`` (any stride ``s`` and padding): substitute ``w'`` at every pixel,
      the full (transposed) 2-D convolution summed over the shared channel,

      .. math:: df'[v, c] = \\sum_{q, u:\\ s q + u = v} \\sum_j df[q, j] \\, w'[u, c, j];

    * through a Dense: the same, with the kernel ``w'.reshape(H, W, C, O)`` covering its map;
    * through a BatchNorm (inference form ``y = g x + h``): multiply channel ``c`` by
      ``g_c`` (the scale is kept, the offset dropped like every bias);
    * through a Pool of window ``k`` and stride ``s`` (and a GlobalAvgPool, a pool whose
      window is its whole map): unpool, either by the paper's interpolation ('nearest',
      'bilinear', 'bicubic': each pooled value at its window's centre, the map upsampled by
      ``s`` with MATLAB ``imresize``'s kernels, see :func:`decoding_jax.resize_matrix`) or
      exactly, ``unpool='transpose'``: each value spread over its own window, times
      ``1 / k**2`` for an average pool (the pool's transpose; for ``k = s`` it is nearest
      unpooling with the ``1 / k**2`` weighting);
    * through a Residual: the decoded filter of a sum is the sum of the filters decoded down
      each path, placed in one frame by the paths' offsets;
    * biases and BatchNorm offsets are dropped; ReLU, Smooth, Poly and Flatten ignored.

    Exactness: with every pool average (or global average) and ``unpool='transpose'`` (or
    ``'nearest'`` with ``avg_weighting=True`` when every window equals its stride),
    correlating an image, padded by ``cnn_layers.geometry(...).padding``, with ``df_k`` at the
    layer's total stride (:func:`decoded_response`) gives the bias-free, ReLU-free network
    response of unit ``k`` at every position whose receptive field lies inside the image
    (every position of a VALID net); for a purely linear net ``df_k`` is the input gradient of
    the unit. Border rule: near the border of a padded net (and so for every GlobalAvgPool or
    Dense unit of a SAME-padded net), the result is that of the network whose intermediate
    paddings are replaced by zero-padding the input image, i.e. every position gets the
    interior filter, shifted (see :mod:`cnn_layers`). The default interpolation differs from
    the exact weighting by one constant per average pool, which the contrast normalisation of
    :func:`response_error` removes. Max pools are never weighted.

    Every step is linear, so all filters go through together: the decoded maps are kept as a
    coarse tensor times two small per-axis matrices (unpooling and filter placement compose
    into those), the channel sum of each Conv is one matmul on the coarse maps (optionally
    with the column matrix folded into the filters, whichever order needs fewer
    multiply-adds). For the LeNet's 580 filters this is about 0.4 G multiply-adds instead of
    the 2.1 G of dense full convolutions.

    Under ``jax.jit`` pass ``layers`` as an argument (arrays are leaves, settings static) and
    keep the other arguments static. The result is differentiable with respect to the
    weights.

    Args:
      layers: the layer list (HWIO Conv weights), e.g. from :func:`cnn_layers.from_nnx`.
      layer: index or path (e.g. ``(3, 'block', 1)``, see :func:`cnn_layers.layer_paths`) of
        the layer whose units to decode: usually a Conv, Dense or GlobalAvgPool.
      unpool: 'nearest', 'bilinear', 'bicubic' (MATLAB ``imresize``) or 'transpose' (exact).
      avg_weighting: weigh the interpolation through average pools by ``1 / window**2``.
      input_shape: ``(H, W, C)`` of the network input: checks that every layer fits its map,
        and is needed when a Dense or GlobalAvgPool lies at or below ``layer`` (their window
        is the map) or a residual block's paths are aligned by a SAME padding with stride > 1.

    Returns:
      Array ``(n_units, R_h, R_w, C_in)`` on the receptive field of ``layer``
      (``cnn_layers.geometry(layers, layer).size``): for the MatConvNet MNIST LeNet 5x5,
      14x14, 28x28 and 28x28 for its four conv layers.

    Raises:
      ValueError: ``layer`` out of range or a Flatten, unknown ``unpool``, mismatched channel
        counts, a layer that does not fit its map, or a missing ``input_shape``.
      TypeError: complex weights, a layer list with something that is not a layer.

    Examples:
      >>> import jax.numpy as jnp
      >>> from cnn_layers import Conv, Pool
      >>> net = [Conv(jnp.ones((5, 5, 1, 20))), Pool(2), Conv(jnp.ones((5, 5, 20, 50)))]
      >>> decode(net, 2).shape
      (50, 14, 14, 1)
    """
    check_method(unpool, "unpool")
    check_bool("avg_weighting", avg_weighting)
    infos = describe(layers, input_shape)
    sub = chain(infos, layer)
    target = sub[-1]
    if isinstance(target.layer, Flatten) or (
        target.out_shape.flat and (target.out_shape.h, target.out_shape.w) != (1, 1)
    ):
        raise ValueError(
            f"layer {layer!r} is {target.name} ({type(target.layer).__name__}), whose units are "
            f"positions of a flattened map; decode the layer before the Flatten instead"
        )
    size, _, _ = field(sub)  # checks that the receptive field (and path alignment) is known
    dtype = _chain_dtype(sub)
    bank, consumed = _start(target, dtype)
    below = sub[:-1] if consumed else sub
    bank = down(below, bank, method=unpool, avg_weighting=avg_weighting, dtype=dtype)
    maps = dense_maps(bank)
    if tuple(maps.shape[1:3]) != tuple(size):
        raise AssertionError(f"decoded frame {maps.shape[1:3]} is not the receptive field {size}")
    return maps


def decoded_response(
    images: Real[ArrayLike, "n h w c"],
    decoded: Real[ArrayLike, "k dh dw c"],
    *,
    stride: int,
    padding="VALID",
) -> Float[Array, "n h2 w2 k"]:
    """Correlates images with decoded filters: the decoded estimate of a layer's response.

    .. math:: r[n, p, k] = \\sum_{v, c} df_k[v, c] \\, \\tilde I_n[S p + v, c]

    (VALID, no flip) with ``S = stride``, the layer's total stride, and ``I~`` the images
    zero-padded by ``padding``: pass ``cnn_layers.geometry(layers, layer,
    input_shape=...).padding`` to get exactly the network's response map at that layer (a
    padded net's units near the border read zeros outside the image).

    Args:
      images: images of shape ``(N, H, W, C)``.
      decoded: decoded filters of shape ``(K, h, w, C)`` from :func:`decode`.
      stride: positive int, the layer's total stride.
      padding: 'VALID' (none) or ``((top, bottom), (left, right))`` ints; negative values
        crop.

    Returns:
      Array ``(N, (H + top + bottom - h) // S + 1, (W + left + right - w) // S + 1, K)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> decoded_response(jnp.ones((2, 28, 28, 1)), jnp.ones((10, 28, 28, 1)), stride=4).shape
      (2, 1, 1, 10)
    """
    check_int("stride", stride, 1)
    images = as_real_float(images, "images")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C), got shape {images.shape}")
    decoded = as_real_float(decoded, "decoded")
    if decoded.ndim != 4:
        raise ValueError(f"decoded must have shape (K, h, w, C), got shape {decoded.shape}")
    if decoded.shape[3] != images.shape[3]:
        raise ValueError(
            f"decoded has {decoded.shape[3]} channels but images have {images.shape[3]} "
            f"(decoded shape {decoded.shape}, images shape {images.shape})"
        )
    pads = _check_padding(padding)
    padded = [n + lo + hi for n, (lo, hi) in zip(images.shape[1:3], pads, strict=True)]
    if decoded.shape[1] > padded[0] or decoded.shape[2] > padded[1]:
        raise ValueError(
            f"decoded filters {decoded.shape[1]}x{decoded.shape[2]} are larger than the "
            f"{padded[0]}x{padded[1]} (padded) images"
        )
    dtype = jnp.result_type(images.dtype, decoded.dtype)
    kernel = jnp.transpose(decoded, (1, 2, 3, 0)).astype(dtype)
    x = images.astype(dtype)
    if pads != ((0, 0), (0, 0)):
        x = lax.pad(
            x,
            jnp.zeros((), dtype),
            ((0, 0, 0),) + tuple((lo, hi, 0) for lo, hi in pads) + ((0, 0, 0),),
        )
    return lax.conv_general_dilated(
        x, kernel, (stride, stride), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def _check_padding(padding):
    if isinstance(padding, str) and padding.upper() == "VALID":
        return ((0, 0), (0, 0))
    ok = (
        isinstance(padding, list | tuple)
        and len(padding) == 2
        and all(isinstance(p, list | tuple) and len(p) == 2 for p in padding)
        and all(
            isinstance(v, int | np.integer) and not isinstance(v, bool) for p in padding for v in p
        )
    )
    if not ok:
        raise ValueError(
            f"padding must be 'VALID' or ((top, bottom), (left, right)) ints, got {padding!r}"
        )
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def _normalize(x: Array, how: str) -> Array:
    axes = tuple(range(1, x.ndim))
    if how == "minmax":
        lo = jnp.min(x, axis=axes, keepdims=True)
        span = jnp.max(x, axis=axes, keepdims=True) - lo
        return (x - lo) / jnp.where(span > 0, span, 1)
    if how == "zscore":
        std = jnp.std(x, axis=axes, keepdims=True)
        return (x - jnp.mean(x, axis=axes, keepdims=True)) / jnp.where(std > 0, std, 1)
    return x


def response_error(
    net_response: Real[ArrayLike, "n ..."],
    decoded_response: Real[ArrayLike, "n ..."],
    *,
    normalize: str = "minmax",
) -> Float[Array, " n"]:
    """The paper's Table 1 metric: per-image MSE between network and decoded responses.

    Each of the two tensors is normalised separately, per image, over all its remaining axes
    together (for responses ``(N, H', W', K)``: the whole ``(H', W', K)`` block of one image,
    every unit and position at once), then compared:

    .. math:: e_n = \\mathrm{mean}_{p, k}\\big(\\nu(R_n)[p, k] - \\nu(\\hat R_n)[p, k]\\big)^2,
       \\qquad \\nu(x) = \\frac{x - \\min x}{\\max x - \\min x}\\ \\text{('minmax')}.

    Why: decoded filters drop the biases, ignore the ReLUs and max pools, and (with the paper's
    plain interpolation) miss the ``1/size**2`` of average pools, so their responses differ from
    the network's by a gain and an offset; one contrast-range normalisation per image (the
    paper's "single contrast range normalization for each image") removes those and compares the
    shapes, keeps the relative strength of the units, and works for 1x1 maps (LeNet's layer 7),
    where a per-unit normalisation would be undefined. 'zscore' subtracts the per-image mean and
    divides by the standard deviation instead; 'none' compares raw values. A constant image
    block (zero range) is left unscaled.

    Args:
      net_response: network responses ``(N, ...)``, e.g. :func:`decoding_jax.forward` with
        ``upto=layer``.
      decoded_response: the same shape, e.g. :func:`decoded_response`.
      normalize: 'minmax' (the paper's), 'zscore' or 'none'.

    Returns:
      Array ``(N,)`` of per-image errors; the paper reports their mean +- std.

    Examples:
      >>> import jax.numpy as jnp
      >>> r = jnp.arange(8.0).reshape(2, 2, 2, 1)
      >>> response_error(r, 3 * r + 1)
      Array([0., 0.], dtype=float32)
    """
    if normalize not in NORMALIZATIONS:
        raise ValueError(f"normalize must be one of {NORMALIZATIONS}, got {normalize!r}")
    a = as_real_float(net_response, "net_response")
    b = as_real_float(decoded_response, "decoded_response")
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(
            f"net_response and decoded_response must have the same shape (N, ...), got "
            f"{a.shape} and {b.shape}"
        )
    dtype = jnp.result_type(a.dtype, b.dtype, jnp.float32)
    a, b = _normalize(a.astype(dtype), normalize), _normalize(b.astype(dtype), normalize)
    return jnp.mean((a - b) ** 2, axis=tuple(range(1, a.ndim)))
