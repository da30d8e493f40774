"""Unpooling: upsampling by an integer factor with half-pixel centres, as MATLAB ``imresize``."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

__all__ = ["UNPOOL_METHODS", "resize_matrix", "unpool"]

UNPOOL_METHODS = ("nearest", "bilinear", "bicubic")


def check_method(method: str, name: str = "method") -> None:
    if method not in UNPOOL_METHODS:
        raise ValueError(f"{name} must be one of {UNPOOL_METHODS}, got {method!r}")


def check_factor(factor: int) -> None:
    if isinstance(factor, bool) or not isinstance(factor, int | np.integer):
        raise TypeError(f"factor must be a positive int, got {type(factor).__name__} {factor!r}")
    if factor < 1:
        raise ValueError(f"factor must be a positive int, got {factor}")


def _keys_cubic(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    t = np.abs(t)
    inner = (a + 2) * t**3 - (a + 3) * t**2 + 1
    outer = a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return np.where(t <= 1, inner, np.where(t < 2, outer, 0.0))


@functools.lru_cache(maxsize=256)
def _resize_matrix_cached(n: int, factor: int, method: str) -> np.ndarray:
    out = np.arange(n * factor)
    # half-pixel centres: output pixel o sits at input coordinate (o + 1/2) / factor - 1/2
    u = (out + 0.5) / factor - 0.5
    if method == "nearest":
        taps = np.floor(u + 0.5)[:, None].astype(int)
        weights = np.ones_like(taps, dtype=np.float64)
    else:
        radius = 1 if method == "bilinear" else 2
        taps = np.floor(u)[:, None].astype(int) + np.arange(-radius + 1, radius + 1)[None, :]
        dist = u[:, None] - taps
        weights = np.maximum(1.0 - np.abs(dist), 0.0) if radius == 1 else _keys_cubic(dist)
        weights = weights / weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((n * factor, n), dtype=np.float64)
    # replicated borders: taps outside the image read the nearest edge pixel
    np.add.at(matrix, (np.broadcast_to(out[:, None], taps.shape), np.clip(taps, 0, n - 1)), weights)
    matrix.setflags(write=False)
    return matrix


def resize_matrix(n: int, *, method: str, factor: int = 2) -> np.ndarray:
    """The ``(factor * n, n)`` float64 matrix of 1-D unpooling along one axis.

    Row ``o`` interpolates the input at the half-pixel-centred coordinate
    ``u_o = (o + 1/2) / factor - 1/2`` with the kernel of ``method`` (box, triangle, or Keys'
    cubic with ``a = -1/2``), rows normalised to sum 1, out-of-range taps clamped to the border
    (replicated borders), which is what MATLAB ``imresize`` does when upsampling:

    .. math:: R_{o i} = \\sum_{j:\\ \\mathrm{clip}(j) = i} k(u_o - j) / \\sum_j k(u_o - j).

    Args:
      n: input length.
      method: 'nearest', 'bilinear' or 'bicubic'.
      factor: integer upsampling factor.

    Returns:
      A read-only numpy array of shape ``(factor * n, n)``.

    Examples:
      >>> resize_matrix(2, method="bilinear")
      array([[1.  , 0.  ],
             [0.75, 0.25],
             [0.25, 0.75],
             [0.  , 1.  ]])
    """
    check_method(method)
    check_factor(factor)
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    return _resize_matrix_cached(int(n), int(factor), method)


def unpool(
    x: Float[Array, "*batch h w c"], *, method: str, factor: int = 2
) -> Float[Array, "*batch h2 w2 c"]:
    """Upsamples the two spatial axes of ``x`` by ``factor``, as MATLAB ``imresize``.

    Separable interpolation with half-pixel centres and replicated borders:
    ``y = R_H x R_W^T`` on every channel, with ``R`` from :func:`resize_matrix`. 'nearest'
    repeats every pixel ``factor`` times; 'bilinear' uses the triangle kernel; 'bicubic' is
    Keys' cubic convolution with ``a = -1/2`` (MATLAB's; ``jax.image.resize`` differs at the
    borders). MATLAB's antialiasing only acts when downscaling, so it plays no part here.

    .. math:: y_{\\dots, o, p, c} = \\sum_{i, j} R_{o i} R_{p j} x_{\\dots, i, j, c}

    Args:
      x: array of shape ``(..., H, W, C)``; integer input is promoted to the default float.
      method: 'nearest', 'bilinear' or 'bicubic'.
      factor: integer upsampling factor (the pooling size being undone).

    Returns:
      Array of shape ``(..., factor * H, factor * W, C)`` and the dtype of ``x``.

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
    x = jnp.asarray(x)
    if x.ndim < 3:
        raise ValueError(f"x must have shape (..., H, W, C), got shape {x.shape}")
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(jax.dtypes.canonicalize_dtype(jnp.float64))
    if method == "nearest":
        return jnp.repeat(jnp.repeat(x, factor, axis=-3), factor, axis=-2)
    rh = jnp.asarray(resize_matrix(x.shape[-3], method=method, factor=factor), x.dtype)
    rw = jnp.asarray(resize_matrix(x.shape[-2], method=method, factor=factor), x.dtype)
    y = jnp.einsum("oh,...hwc->...owc", rh, x)
    return jnp.einsum("pw,...owc->...opc", rw, y)
