"""Unpooling: upsampling by an integer factor with half-pixel centres, as MATLAB ``imresize``,
generalised to overlapping pooling windows; and the exact transpose of a pooling window."""

import functools

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from cnn_layers._checks import as_real_float, check_int

__all__ = ["UNPOOL_METHODS", "resize_matrix", "unpool"]

UNPOOL_METHODS = ("nearest", "bilinear", "bicubic", "transpose")
INTERPOLATIONS = ("nearest", "bilinear", "bicubic")


# a dense resize matrix above this many entries (2 GiB in float64) is refused up front
MAX_RESIZE_ENTRIES = 2**28
MAX_MAP_SIDE = 2**16


def check_method(method: str, name: str = "method") -> None:
    if method not in UNPOOL_METHODS:
        raise ValueError(f"{name} must be one of {UNPOOL_METHODS}, got {method!r}")


def check_factor(factor: int, name: str = "factor") -> None:
    if isinstance(factor, bool) or not isinstance(factor, int | np.integer):
        raise TypeError(f"{name} must be a positive int, got {type(factor).__name__} {factor!r}")
    if factor < 1:
        raise ValueError(f"{name} must be a positive int, got {factor}")


def _keys_cubic(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    t = np.abs(t)
    inner = (a + 2) * t**3 - (a + 3) * t**2 + 1
    outer = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return np.where(t <= 1, inner, np.where(t < 2, outer, 0.0))


@functools.lru_cache(maxsize=256)
def _resize_matrix_cached(n: int, factor: int, window: int, method: str) -> np.ndarray:
    out = np.arange(factor * (n - 1) + window)
    if method == "transpose":
        # output v lies in the window of input q when 0 <= v - factor q < window
        matrix = ((out[:, None] - factor * np.arange(n)[None, :]) >= 0) & (
            (out[:, None] - factor * np.arange(n)[None, :]) < window
        )
        matrix = matrix.astype(np.float64)
        matrix.setflags(write=False)
        return matrix
    # window centres: input q sits at output coordinate factor q + (window - 1) / 2; for
    # window = factor these are imresize's half-pixel centres u = (v + 1/2) / factor - 1/2
    u = (out - (window - 1) / 2) / factor
    if method == "nearest":
        taps = np.floor(u + 0.5)[:, None].astype(int)
        weights = np.ones_like(taps, dtype=np.float64)
    else:
        radius = 1 if method == "bilinear" else 2
        taps = np.floor(u)[:, None].astype(int) + np.arange(-radius + 1, radius + 1)[None, :]
        dist = u[:, None] - taps
        weights = np.maximum(1.0 - np.abs(dist), 0.0) if radius == 1 else _keys_cubic(dist)
        weights = weights / weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((out.shape[0], n), dtype=np.float64)
    # replicated borders: taps outside the image read the nearest edge pixel
    np.add.at(matrix, (np.broadcast_to(out[:, None], taps.shape), np.clip(taps, 0, n - 1)), weights)
    matrix.setflags(write=False)
    return matrix


def resize_matrix(n: int, *, method: str, factor: int = 2, window: int | None = None) -> np.ndarray:
    """The ``(factor (n - 1) + window, n)`` float64 matrix of 1-D unpooling along one axis.

    Undoes a pooling of window ``window`` (default ``factor``) and stride ``factor``: input
    ``q`` (a pooled value) sits at the centre of its window, output coordinate
    ``factor q + (window - 1) / 2``, so output ``v`` interpolates the input at
    ``u_v = (v - (window - 1) / 2) / factor`` with the kernel of ``method`` (box, triangle, or
    Keys' cubic with ``a = -1/2``), rows normalised to sum 1, out-of-range taps clamped to the
    border (replicated borders):

    .. math:: R_{v q} = \\sum_{j:\\ \\mathrm{clip}(j) = q} k(u_v - j) / \\sum_j k(u_v - j).

    For ``window = factor`` (non-overlapping pools) this is MATLAB ``imresize`` upscaling, with
    half-pixel centres ``u_v = (v + 1/2) / factor - 1/2``. ``method='transpose'`` is instead the
    transpose of a window sum, ``R_{vq} = [0 <= v - factor q < window]`` (each pooled value
    spread over its own window; times ``1 / window**2`` per image it is the transpose of an
    average pool).

    Args:
      n: input length.
      method: 'nearest', 'bilinear', 'bicubic' or 'transpose'.
      factor: integer upsampling factor (the pooling stride being undone).
      window: the pooling window, ``>= 1``; None means ``factor``.

    Returns:
      A read-only numpy array of shape ``(factor (n - 1) + window, n)``.

    Examples:
      >>> resize_matrix(2, method="bilinear")
      array([[1.  , 0.  ],
             [0.75, 0.25],
             [0.25, 0.75],
             [0.  , 1.  ]])
      >>> resize_matrix(2, method="transpose", window=3)
      array([[1., 0.],
             [1., 0.],
             [1., 1.],
             [0., 1.],
             [0., 1.]])
    """
    check_method(method)
    check_factor(factor)
    window = factor if window is None else window
    check_factor(window, "window")
    n = check_int("n", n, 1)
    rows = factor * (n - 1) + window
    if rows * n > MAX_RESIZE_ENTRIES:
        raise ValueError(
            f"n={n}, factor={factor}, window={window} give a {rows}x{n} resize matrix, more "
            f"than {MAX_RESIZE_ENTRIES} entries; unpool sizes that large are not supported"
        )
    return _resize_matrix_cached(int(n), int(factor), int(window), method)


def unpool(
    x: Real[ArrayLike, "*batch h w c"], *, method: str, factor: int = 2, window: int | None = None
) -> Float[Array, "*batch h2 w2 c"]:
    """Upsamples the two spatial axes of ``x`` by ``factor``, as MATLAB ``imresize``.

    Separable interpolation with half-pixel centres and replicated borders:
    ``y = R_H x R_W^T`` on every channel, with ``R`` from :func:`resize_matrix`. 'nearest'
    repeats every pixel ``factor`` times; 'bilinear' uses the triangle kernel; 'bicubic' is
    Keys' cubic convolution with ``a = -1/2`` (MATLAB's; ``jax.image.resize`` differs at the
    borders). MATLAB's antialiasing only acts when downscaling, so it plays no part here. A
    ``window`` larger than ``factor`` undoes an overlapping pool (each value at its window's
    centre); 'transpose' spreads each value over its window.

    .. math:: y_{\\dots, o, p, c} = \\sum_{i, j} R_{o i} R_{p j} x_{\\dots, i, j, c}

    Args:
      x: real array of shape ``(..., H, W, C)``; integer input is promoted to the default
        float, complex input refused.
      method: 'nearest', 'bilinear', 'bicubic' or 'transpose'.
      factor: integer upsampling factor (the pooling stride being undone).
      window: the pooling window (default ``factor``).

    Returns:
      Array of shape ``(..., factor (H - 1) + window, factor (W - 1) + window, C)`` and the
      dtype of ``x``.

    Raises:
      ValueError: unknown ``method``, ``x`` of rank < 3.
      TypeError: a non-int ``factor`` or ``window``, complex ``x``.

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.arange(4.0).reshape(2, 2, 1)
      >>> unpool(x, method="nearest")[..., 0]
      Array([[0., 0., 1., 1.],
             [0., 0., 1., 1.],
             [2., 2., 3., 3.],
             [2., 2., 3., 3.]], dtype=float32)
    """
    check_method(method)
    check_factor(factor)
    if window is not None:
        check_factor(window, "window")
    x = as_real_float(x, "x")
    if x.ndim < 3:
        raise ValueError(f"x must have shape (..., H, W, C), got shape {x.shape}")
    side = factor * (max(x.shape[-3:-1]) - 1) + (factor if window is None else window)
    if side > MAX_MAP_SIDE:
        raise ValueError(
            f"factor={factor} (window={window}) would unpool the {x.shape[-3]}x{x.shape[-2]} "
            f"map to {side} pixels a side, more than {MAX_MAP_SIDE}"
        )
    if method == "nearest" and window in (None, factor):
        return jnp.repeat(jnp.repeat(x, factor, axis=-3), factor, axis=-2)
    rh, rw = (
        jnp.asarray(resize_matrix(n, method=method, factor=factor, window=window), x.dtype)
        for n in x.shape[-3:-1]
    )
    y = jnp.einsum("oh,...hwc->...owc", rh, x)
    return jnp.einsum("pw,...owc->...opc", rw, y)
