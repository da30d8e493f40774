"""The layer vocabulary: small frozen dataclasses, registered as pytrees.

Arrays (weights, statistics, coefficients) are pytree leaves; settings (stride, padding, window,
kind, the activation function) are static metadata, so a whole layer list passes through
``jax.jit`` as an argument. The constructors check what they can see (ranks, matching shapes,
settings) and stay lenient about leaves that are not arrays, because JAX rebuilds the
dataclasses with placeholder leaves when it flattens and unflattens pytrees.
"""

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Real

__all__ = [
    "BatchNorm",
    "Conv",
    "Dense",
    "Flatten",
    "GlobalAvgPool",
    "Layer",
    "PADDINGS",
    "POOL_KINDS",
    "Poly",
    "Pool",
    "ReLU",
    "Residual",
    "Smooth",
]

PADDINGS = ("VALID", "SAME")
POOL_KINDS = ("max", "avg")

Padding = str | tuple[tuple[int, int], tuple[int, int]]
# what the constructors accept (normalised to a Padding): also p and (pad_h, pad_w), lists too
Int = int | np.integer
PaddingLike = str | Int | Sequence[Int] | Sequence[Sequence[Int]]


def _static(default=dataclasses.MISSING):
    return dataclasses.field(default=default, metadata={"static": True})


def _shape(a) -> tuple[int, ...] | None:
    shape = getattr(a, "shape", None)
    return None if shape is None else tuple(shape)


def _is_int(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def normalize_padding(padding, owner: str) -> Padding:
    """``'VALID'`` | ``'SAME'`` (any case) | ``p`` | ``(ph, pw)`` | ``((top, bottom), (left,
    right))`` with ints ``>= 0`` -> ``'VALID'``, ``'SAME'`` or the explicit pairs."""
    expected = (
        f"{owner}.padding must be 'VALID', 'SAME', an int >= 0, (pad_h, pad_w) or "
        f"((top, bottom), (left, right)) with ints >= 0"
    )
    if isinstance(padding, str):
        if padding.upper() not in PADDINGS:
            raise ValueError(f"{expected}; got the unknown padding {padding!r}")
        return padding.upper()
    if _is_int(padding):
        padding = ((padding, padding), (padding, padding))
    if isinstance(padding, list | tuple) and len(padding) == 2 and all(map(_is_int, padding)):
        padding = ((padding[0], padding[0]), (padding[1], padding[1]))
    ok = (
        isinstance(padding, list | tuple)
        and len(padding) == 2
        and all(isinstance(p, list | tuple) and len(p) == 2 for p in padding)
        and all(_is_int(v) and v >= 0 for p in padding for v in p)
    )
    if not ok:
        raise ValueError(f"{expected}; got {padding!r}")
    return tuple((int(lo), int(hi)) for lo, hi in padding)


def _check_stride(stride, owner: str) -> None:
    if not _is_int(stride) or stride < 1:
        raise ValueError(f"{owner}.stride must be a positive int, got {stride!r}")


def _check_vector(value, name: str, n: int | None) -> None:
    shape = _shape(value)
    if shape is None:
        return
    if len(shape) != 1 or (n is not None and shape[0] != n):
        want = f"({n},)" if n is not None else "(C,)"
        raise ValueError(f"{name} must have shape {want}, got shape {shape}")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Conv:
    """2-D cross-correlation, as ``lax.conv_general_dilated`` (NHWC input, HWIO kernel):

    .. math:: y[p, o] = \\sum_{u, c} w[u, c, o]\\, \\tilde x[s p + u, c] + b[o]

    with ``x~`` the input zero-padded by ``padding``.

    Attributes:
      w: kernel ``(kh, kw, c_in, c_out)``.
      b: bias ``(c_out,)`` or None.
      stride: the same stride along both axes.
      padding: ``'VALID'``, ``'SAME'`` (lax's: output ``ceil(H / stride)``, the extra pixel at
        the bottom/right) or explicit ``((top, bottom), (left, right))``; an int ``p`` means
        ``((p, p), (p, p))``.
    """

    w: Real[ArrayLike, "kh kw cin cout"]
    b: Real[ArrayLike, " cout"] | None = None
    stride: Int = _static(1)
    padding: PaddingLike = _static("VALID")

    def __post_init__(self):
        shape = _shape(self.w)
        if shape is not None and (len(shape) != 4 or min(shape) < 1):
            raise ValueError(
                f"Conv.w must have shape (kh, kw, c_in, c_out) with every size >= 1, got shape "
                f"{shape}"
            )
        _check_vector(self.b, "Conv.b", shape[3] if shape else None)
        _check_stride(self.stride, "Conv")
        object.__setattr__(self, "padding", normalize_padding(self.padding, "Conv"))


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class BatchNorm:
    """Batch normalisation in inference form, per channel (the last axis):

    .. math:: y = (x - \\mu) \\frac{\\gamma}{\\sqrt{\\sigma^2 + \\epsilon}} + \\beta

    An affine map ``y = g x + (beta - g mu)``; :func:`cnn_layers.fold_batchnorm` folds it into
    the Conv or Dense before it.

    Attributes:
      scale: ``gamma`` ``(C,)``, or None for 1.
      offset: ``beta`` ``(C,)``, or None for 0.
      mean: running mean ``mu`` ``(C,)``.
      var: running variance ``sigma^2`` ``(C,)``.
      eps: ``epsilon`` (static float, Flax's default 1e-5).
    """

    scale: Real[ArrayLike, " c"] | None
    offset: Real[ArrayLike, " c"] | None
    mean: Real[ArrayLike, " c"]
    var: Real[ArrayLike, " c"]
    eps: float | np.floating = _static(1e-5)

    def __post_init__(self):
        shape = _shape(self.mean)
        _check_vector(self.mean, "BatchNorm.mean", None)
        n = shape[0] if shape else None
        for name in ("var", "scale", "offset"):
            _check_vector(getattr(self, name), f"BatchNorm.{name}", n)
        eps = self.eps
        real = isinstance(eps, float | int | np.floating | np.integer) and not isinstance(
            eps, bool | np.bool_
        )
        if not real or not math.isfinite(eps) or eps < 0:
            raise ValueError(f"BatchNorm.eps must be a finite float >= 0, got {eps!r}")
        object.__setattr__(self, "eps", float(eps))

    @property
    def channels(self) -> int | None:
        shape = _shape(self.mean)
        return shape[0] if shape else None

    def gain_and_shift(self, dtype=None):
        """``(g, h)`` with ``y = g x + h``: ``g = gamma / sqrt(var + eps)``,
        ``h = beta - g mu``."""
        mean = jnp.asarray(self.mean, dtype)
        g = jax.lax.rsqrt(jnp.asarray(self.var, dtype) + self.eps)
        if self.scale is not None:
            g = g * jnp.asarray(self.scale, dtype)
        h = -g * mean
        if self.offset is not None:
            h = h + jnp.asarray(self.offset, dtype)
        return g, h


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Pool:
    """2-D max or average pooling over ``window x window`` windows, ``stride`` apart.

    ``Pool(2)`` and ``Pool(2, 'avg')`` are the non-overlapping 2x2 pools; ``Pool(3, 'max',
    stride=2)`` overlaps. Max pooling pads with ``-inf``; average pooling pads with zeros and
    divides by ``window**2`` (Flax's ``count_include_pad=True``), so it is linear.

    Attributes:
      window: window size (both axes).
      kind: ``'max'`` or ``'avg'``.
      stride: step between windows; None means ``window``.
      padding: as :class:`Conv`.
    """

    window: Int = _static(2)
    kind: str = _static("max")
    stride: Int | None = _static(None)
    padding: PaddingLike = _static("VALID")

    def __post_init__(self):
        if not _is_int(self.window) or self.window < 1:
            raise ValueError(f"Pool.window must be a positive int, got {self.window!r}")
        if self.kind not in POOL_KINDS:
            raise ValueError(f"Pool.kind must be one of {POOL_KINDS}, got {self.kind!r}")
        if self.stride is None:
            object.__setattr__(self, "stride", self.window)
        _check_stride(self.stride, "Pool")
        object.__setattr__(self, "padding", normalize_padding(self.padding, "Pool"))

    @property
    def size(self) -> int:
        """The window size (the name of the non-overlapping pools' only setting)."""
        return self.window


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class GlobalAvgPool:
    """Mean over all positions: ``(N, H, W, C) -> (N, C)``."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Flatten:
    """``(N, H, W, C) -> (N, H W C)`` in row-major ``(h, w, c)`` order, as
    ``x.reshape(N, -1)``."""


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Dense:
    """A fully connected layer on the flattened map, ``y = flatten(x) @ w + b``.

    On an ``(N, H, W, C)`` map it is the VALID Conv whose kernel ``w.reshape(H, W, C, O)``
    covers the whole map; on an ``(N, D)`` vector it is a matrix product.

    Attributes:
      w: ``(D, O)`` with ``D = H W C`` (or the vector length).
      b: ``(O,)`` or None.
    """

    w: Real[ArrayLike, "d o"]
    b: Real[ArrayLike, " o"] | None = None

    def __post_init__(self):
        shape = _shape(self.w)
        if shape is not None and (len(shape) != 2 or min(shape) < 1):
            raise ValueError(
                f"Dense.w must have shape (in_features, out_features) with both sizes >= 1, got "
                f"{shape}"
            )
        _check_vector(self.b, "Dense.b", shape[1] if shape else None)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ReLU:
    """Rectified linear unit, ``max(x, 0)``."""

    def __call__(self, u):
        return jnp.maximum(u, 0)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Smooth:
    """Elementwise smooth activation ``fn`` (tanh, sigmoid, softplus, GELU, SiLU...).

    ``volterra_jax.from_layers`` expands it in a Taylor series at its operating point;
    decoding ignores it, like every activation.

    Attributes:
      fn: a scalar-to-scalar function applied elementwise (static, must be hashable).
    """

    fn: Callable[[Any], Any] = _static()

    def __post_init__(self):
        if not callable(self.fn):
            raise TypeError(f"Smooth.fn must be callable, got {type(self.fn).__name__}")

    def __call__(self, u):
        return self.fn(u)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Poly:
    """Elementwise polynomial activation ``phi(u) = sum_k coeffs[k] u^k``.

    ``volterra_jax.from_layers`` is exact for it whatever the operating point. With
    ``coeffs = (1/2, 1/4, 0, -1/48, 0, 1/480)`` (the degree-5 Taylor polynomial of the sigmoid
    at 0) a stack of ``Poly`` layers is Li et al.'s approximation of a sigmoid net.

    Attributes:
      coeffs: shape ``(degree + 1,)``; ``coeffs[k]`` multiplies ``u^k``.
    """

    coeffs: Real[ArrayLike, " d"]

    def __post_init__(self):
        shape = _shape(self.coeffs)
        if shape is not None and (len(shape) != 1 or shape[0] < 1):
            raise ValueError(
                f"Poly.coeffs must have shape (degree + 1,) with at least one coefficient, got "
                f"shape {shape}"
            )

    def __call__(self, u):
        c = jnp.asarray(self.coeffs)
        out = jnp.zeros_like(u) + c[-1]
        for k in range(c.shape[0] - 2, -1, -1):
            out = out * u + c[k]
        return out


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Residual:
    """A residual block ``y = block(x) + shortcut(x)``.

    Both paths are layer lists run on the same input and must give maps of the same shape;
    an empty ``shortcut`` is the identity. A ResNet basic block with a projection is
    ``Residual([conv3x3 s2, bn, relu, conv3x3, bn], [conv1x1 s2, bn])`` followed by ``ReLU()``.

    Attributes:
      block: the residual path, a list or tuple of layers (stored as a tuple).
      shortcut: the shortcut path; ``()`` (default) for the identity.
    """

    block: tuple | list
    shortcut: tuple | list = ()

    def __post_init__(self):
        for name in ("block", "shortcut"):
            value = getattr(self, name)
            if not isinstance(value, list | tuple):
                raise TypeError(
                    f"Residual.{name} must be a list of layers, got {type(value).__name__}"
                )
            object.__setattr__(self, name, tuple(value))
        if not self.block:
            raise ValueError("Residual.block must hold at least one layer")


Layer = Conv | BatchNorm | Pool | GlobalAvgPool | Flatten | Dense | ReLU | Smooth | Poly | Residual
LAYER_TYPES = (Conv, BatchNorm, Pool, GlobalAvgPool, Flatten, Dense, ReLU, Smooth, Poly, Residual)


def dense_as_conv_kernel(w, in_shape: tuple[int, int, int]):
    """``Dense.w`` ``(H W C, O)`` as the ``(H, W, C, O)`` kernel covering an ``H x W x C``
    map."""
    h, wd, c = in_shape
    if math.prod(in_shape) != w.shape[0]:
        raise ValueError(f"Dense.w has {w.shape[0]} inputs, not H W C = {h}*{wd}*{c}")
    return jnp.reshape(w, (h, wd, c, w.shape[1]))
