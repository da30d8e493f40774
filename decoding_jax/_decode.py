"""Filter decoding by substitution (Rafegas & Vanrell): each conv unit as one image filter."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, Float

from decoding_jax._network import as_float_images, check_index, check_layers, layer_shapes
from decoding_jax._unpool import check_method, resize_matrix
from decoding_jax.layers import Conv, Layer, Pool

__all__ = ["decode", "decoded_response", "response_error", "NORMALIZATIONS"]

NORMALIZATIONS = ("minmax", "zscore", "none")
_FOLD_LIMIT = 1 << 24  # elements of a folded filter bank


def _placement(m: np.ndarray, k: int, stride: int) -> np.ndarray:
    """``P[v, (a, u)] = sum_q [v = stride q + u] m[q, a]``: where tap ``u`` of a substituted
    filter lands when the decoded map is ``m @ coarse``; shape ``(stride (Q - 1) + k, A k)``."""
    q, a = m.shape
    p = np.zeros((stride * (q - 1) + k, a, k))
    for u in range(k):  # k static filter taps, at trace time
        p[u : u + stride * (q - 1) + 1 : stride, :, u] = m
    return p.reshape(p.shape[0], a * k)


def _fold_is_cheaper(t_shape, w_shape, rows: int, cols_out: int, stride: int) -> bool:
    """Multiply-add counts of the two equivalent orders of one substitution step."""
    n, a, b, j = t_shape
    kh, kw, cin, _ = w_shape
    rows_out = stride * (rows - 1) + kh
    rows_after = rows_out if a * kh > rows_out else a * kh
    row_collapse = n * rows_out * a * kh * cin if a * kh > rows_out else 0
    unfolded = n * a * b * j * kh * kw * cin + row_collapse * b * kw
    if b * kw > cols_out:
        unfolded += n * rows_after * cols_out * b * kw * cin
    folded = n * a * b * j * kh * cols_out * cin + row_collapse * cols_out
    return folded < unfolded and b * j * kh * cols_out * cin <= _FOLD_LIMIT


def _collapse_rows(t: Array, my: np.ndarray) -> Array:
    return jnp.einsum("ya,nabc->nybc", jnp.asarray(my, t.dtype), t)


def _collapse_cols(t: Array, mx: np.ndarray) -> Array:
    return jnp.einsum("xb,nybc->nyxc", jnp.asarray(mx, t.dtype), t)


def decode(
    layers: Sequence[Layer],
    layer: int,
    *,
    unpool: str = "bicubic",
    avg_weighting: bool = False,
    input_shape: tuple[int, int, int] | None = None,
) -> Float[Array, "n_filters h w c_in"]:
    """Decodes every filter of conv layer ``layer`` into the image space.

    The decoded filter ``df_k`` of unit ``k`` starts as its filter ``w[..., k]`` (a map over
    the layer's input) and goes down the network (Rafegas & Vanrell, Sec. 3):

    * through a Pool of size ``s``: unpool by ``s`` (:func:`decoding_jax.unpool`);
    * through a Conv ``w'`` (stride ``s``): substitute ``w'`` at every pixel, i.e. the full
      (transposed) 2-D convolution summed over the shared channel,

      .. math:: df'[v, c] = \\sum_{q, u:\\ s q + u = v} \\sum_j df[q, j] \\, w'[u, c, j];

    * biases are dropped and ReLUs ignored.

    With average pools, nearest unpooling and ``avg_weighting=True`` (each unpooling through an
    'avg' Pool also multiplies by ``1 / size**2``) this is exact: correlating an image with
    ``df_k`` at the layer's total stride gives the bias-free, ReLU-free network response of unit
    ``k`` (:func:`decoded_response`). The default ``avg_weighting=False`` is the paper's plain
    interpolation; it differs from the exact weighting by one constant factor per layer, which
    the contrast normalisation of :func:`response_error` removes. Max pools are never weighted.

    Every step is linear, so the sums may be taken in any order; all filters go through
    together. The decoded maps are kept as a coarse tensor times two small per-axis matrices
    (unpooling and filter placement compose into those), the channel sum of each conv layer is
    one matmul on the coarse, not yet unpooled maps (optionally with the column matrix folded
    into the filters, whichever order needs fewer multiply-adds), and the per-axis matrices are
    applied once the coarse maps would outgrow the dense ones. For the LeNet's 580 filters this
    is about 0.4 G multiply-adds instead of the 2.1 G of dense full convolutions.

    Under ``jax.jit`` pass ``layers`` as an argument (its arrays are leaves, its settings
    static) and keep ``layer``, ``unpool``, ``avg_weighting`` and ``input_shape`` static. The
    result is differentiable with respect to the weights.

    Args:
      layers: the layer list; its Conv weights are HWIO.
      layer: 0-based index of a Conv in ``layers``.
      unpool: 'nearest', 'bilinear' or 'bicubic' (MATLAB ``imresize``).
      avg_weighting: weigh unpooling through 'avg' pools by ``1 / size**2`` (exact identity).
      input_shape: optional ``(H, W, C)`` of the network input, to check that every layer fits
        its map (e.g. that every Pool divides it).

    Returns:
      Array ``(n_filters, h, w, c_in)``: for the MatConvNet MNIST LeNet, 5x5, 14x14, 28x28 and
      28x28 for its four conv layers.

    Raises:
      ValueError: ``layer`` out of range or not a Conv, unknown ``unpool``, mismatched channel
        counts, or (with ``input_shape``) a layer that does not fit its map.

    Examples:
      >>> import jax.numpy as jnp
      >>> from decoding_jax.layers import Conv, Pool
      >>> net = [Conv(jnp.ones((5, 5, 1, 20))), Pool(2), Conv(jnp.ones((5, 5, 20, 50)))]
      >>> decode(net, 2).shape
      (50, 14, 14, 1)
    """
    check_layers(layers)
    check_index(layers, layer)
    check_method(unpool, "unpool")
    if input_shape is not None:
        layer_shapes(layers, tuple(input_shape), layer)
    w = jnp.asarray(layers[layer].w)
    if not jnp.issubdtype(w.dtype, jnp.floating):
        w = w.astype(jax.dtypes.canonicalize_dtype(jnp.float64))
    # D[n, y, x, c] = sum_{a, b} my[y, a] mx[x, b] t[n, a, b, c]: a coarse tensor and two
    # small per-axis constant matrices (unpooling and filter placement compose into them).
    t = jnp.moveaxis(w, 3, 0)
    my, mx = np.eye(t.shape[1]), np.eye(t.shape[2])
    scale = 1.0
    for lyr in reversed(layers[:layer]):
        if isinstance(lyr, Pool):
            my = resize_matrix(my.shape[0], method=unpool, factor=lyr.size) @ my
            mx = resize_matrix(mx.shape[0], method=unpool, factor=lyr.size) @ mx
            if avg_weighting and lyr.kind == "avg":
                scale /= lyr.size**2
        elif isinstance(lyr, Conv):
            kh, kw, cin, _ = lyr.w.shape
            n, a, b, _ = t.shape
            wl = lyr.w.astype(t.dtype)
            px = _placement(mx, kw, lyr.stride)
            if _fold_is_cheaper(t.shape, lyr.w.shape, my.shape[0], px.shape[0], lyr.stride):
                # fold the column unpooling + placement into the filters: the channel sum and
                # the column sum become one matmul (n a, b j) x (b j, u x c)
                px3 = jnp.asarray(px.reshape(px.shape[0], b, kw), t.dtype)
                wx = jnp.einsum("xbv,uvcj->bjuxc", px3, wl)
                t = jnp.einsum("nabj,bjuxc->nauxc", t, wx)
                mx = np.eye(px.shape[0])
                t = t.reshape(n, a * kh, px.shape[0], cin)
            else:
                # channel sum on the coarse maps: (n a b, j) x (j, u v c)
                t = jnp.einsum("nabj,uvcj->naubvc", t, wl)
                mx = px
                t = t.reshape(n, a * kh, b * kw, cin)
            my = _placement(my, kh, lyr.stride)
            if my.shape[1] > my.shape[0]:
                t, my = _collapse_rows(t, my), np.eye(my.shape[0])
            if mx.shape[1] > mx.shape[0]:
                t, mx = _collapse_cols(t, mx), np.eye(mx.shape[0])
    if my.shape[1] != my.shape[0] or not np.array_equal(my, np.eye(my.shape[0])):
        t = _collapse_rows(t, my)
    if mx.shape[1] != mx.shape[0] or not np.array_equal(mx, np.eye(mx.shape[0])):
        t = _collapse_cols(t, mx)
    return t * scale if scale != 1.0 else t


def decoded_response(
    images: Float[Array, "n h w c"], decoded: Float[Array, "k dh dw c"], *, stride: int
) -> Float[Array, "n h2 w2 k"]:
    """Correlates images with decoded filters: the decoded estimate of a layer's response.

    .. math:: r[n, p, k] = \\sum_{v, c} df_k[v, c] \\, I_n[S p + v, c]

    (VALID, no flip) with ``S = stride``, the layer's :func:`decoding_jax.total_stride`, so that
    ``r`` has the shape of the network's response at that layer.

    Args:
      images: images of shape ``(N, H, W, C)``.
      decoded: decoded filters of shape ``(K, h, w, C)`` from :func:`decode`.
      stride: positive int, the layer's total stride.

    Returns:
      Array ``(N, (H - h) // S + 1, (W - w) // S + 1, K)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> decoded_response(jnp.ones((2, 28, 28, 1)), jnp.ones((10, 28, 28, 1)), stride=4).shape
      (2, 1, 1, 10)
    """
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive int, got {stride!r}")
    images = as_float_images(images)
    decoded = jnp.asarray(decoded)
    if decoded.ndim != 4:
        raise ValueError(f"decoded must have shape (K, h, w, C), got shape {decoded.shape}")
    if decoded.shape[3] != images.shape[3]:
        raise ValueError(
            f"decoded has {decoded.shape[3]} channels but images have {images.shape[3]} "
            f"(decoded shape {decoded.shape}, images shape {images.shape})"
        )
    if decoded.shape[1] > images.shape[1] or decoded.shape[2] > images.shape[2]:
        raise ValueError(
            f"decoded filters {decoded.shape[1]}x{decoded.shape[2]} are larger than the "
            f"{images.shape[1]}x{images.shape[2]} images"
        )
    dtype = jnp.result_type(images.dtype, decoded.dtype)
    kernel = jnp.transpose(decoded, (1, 2, 3, 0)).astype(dtype)
    return lax.conv_general_dilated(
        images.astype(dtype),
        kernel,
        (stride, stride),
        "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )


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
    net_response: Float[Array, "n ..."],
    decoded_response: Float[Array, "n ..."],
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
    a, b = jnp.asarray(net_response), jnp.asarray(decoded_response)
    if a.shape != b.shape or a.ndim < 2:
        raise ValueError(
            f"net_response and decoded_response must have the same shape (N, ...), got "
            f"{a.shape} and {b.shape}"
        )
    dtype = jnp.result_type(a.dtype, b.dtype, jnp.float32)
    a, b = _normalize(a.astype(dtype), normalize), _normalize(b.astype(dtype), normalize)
    return jnp.mean((a - b) ** 2, axis=tuple(range(1, a.ndim)))
