"""Drop-in replacements for ``lax.conv_general_dilated`` and ``nnx.max_pool`` that train faster
on a CPU, with the same values and the same gradients.

* :func:`conv_general_dilated` computes a 2-D NHWC/HWIO convolution as one matmul of the input's
  patches by the reshaped kernel, so its forward pass and both of its gradients are large
  matmuls (XLA's CPU backward convolutions run at a fraction of the matmul rate: on a 2-core
  CPU the LeNet's convolution gradients take a third of the time, its train step 0.6x). Pass it
  to ``nnx.Conv`` as ``conv_general_dilated=``; :func:`cnn_layers.from_nnx` accepts such a Conv.
* :func:`max_pool` is ``nnx.max_pool`` whose derivative for non-overlapping windows is a
  selection mask instead of XLA's ``select_and_scatter``; the gradient is the same, ties
  included (the first maximum of a window in row-major order gets it).

Both are plain JAX functions: every transformation (``jit``, ``vmap``, ``grad``, ``jvp``,
higher derivatives) applies. Cases they do not speed up (other layouts, input dilation, grouped
convolutions, overlapping or padded pools) go to the original function unchanged.
"""

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from cnn_layers._forward import _DIMS as _NHWC

__all__ = ["conv_general_dilated", "max_pool"]


def _is_nhwc(lhs_shape, rhs_shape, dimension_numbers) -> bool:
    if len(lhs_shape) != 4 or len(rhs_shape) != 4:
        return False
    want = lax.conv_dimension_numbers(lhs_shape, rhs_shape, _NHWC)
    return lax.conv_dimension_numbers(lhs_shape, rhs_shape, dimension_numbers) == want


def _ones(value) -> bool:
    return value is None or all(v == 1 for v in value)


def conv_general_dilated(
    lhs,
    rhs,
    window_strides: Sequence[int],
    padding,
    lhs_dilation: Sequence[int] | None = None,
    rhs_dilation: Sequence[int] | None = None,
    dimension_numbers=None,
    feature_group_count: int = 1,
    batch_group_count: int = 1,
    precision=None,
    preferred_element_type=None,
    **kwargs,
) -> jax.Array:
    """``lax.conv_general_dilated`` with the same arguments and values; a 2-D NHWC/HWIO
    convolution (any stride, padding and kernel dilation, one group) runs as a patch matmul.

    The patches take ``KH * KW`` times the input's memory. Values equal ``lax``'s to float
    rounding (the sums run in another order).

    >>> import jax.numpy as jnp
    >>> x, w = jnp.ones((2, 6, 6, 3)), jnp.ones((3, 3, 3, 4))
    >>> y = conv_general_dilated(x, w, (2, 2), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    >>> y.shape, float(y[0, 1, 1, 0])
    ((2, 3, 3, 4), 27.0)
    """
    lhs, rhs = jnp.asarray(lhs), jnp.asarray(rhs)
    fast = (
        _is_nhwc(lhs.shape, rhs.shape, dimension_numbers)
        and _ones(lhs_dilation)
        and feature_group_count == 1
        and batch_group_count == 1
        and kwargs.get("out_sharding") is None
    )
    if not fast:
        return lax.conv_general_dilated(
            lhs,
            rhs,
            window_strides,
            padding,
            lhs_dilation,
            rhs_dilation,
            dimension_numbers,
            feature_group_count,
            batch_group_count,
            precision,
            preferred_element_type,
            **kwargs,
        )
    kh, kw, cin, cout = rhs.shape
    if cin != lhs.shape[3]:
        raise ValueError(
            f"rhs (HWIO kernel {rhs.shape}) has {cin} input channels but lhs has "
            f"{lhs.shape[3]} (NHWC {lhs.shape})"
        )
    dh, dw = (1, 1) if rhs_dilation is None else tuple(rhs_dilation)
    sh, sw = tuple(window_strides)
    if isinstance(padding, str):
        window = ((kh - 1) * dh + 1, (kw - 1) * dw + 1)
        padding = lax.padtype_to_pads(lhs.shape[1:3], window, (sh, sw), padding)
    (top, bottom), (left, right) = padding
    x = jnp.pad(lhs, ((0, 0), (top, bottom), (left, right), (0, 0)))
    n, h, w, _ = x.shape
    ho, wo = (h - (kh - 1) * dh - 1) // sh + 1, (w - (kw - 1) * dw - 1) // sw + 1
    if ho == 1 and wo == 1 and dh == dw == 1:  # the kernel covers the map: a dense layer
        patches = x[:, :kh, :kw, :]
    else:  # in kh + kw slices, not kh * kw: the kw shifts along the width, then the kh shifts
        # of those along the height; columns ordered (a, b, c) as the HWIO kernel
        wide = _shifts(x, 2, kw, dw, wo, sw)  # (n, h, wo, kw * cin)
        patches = _shifts(wide, 1, kh, dh, ho, sh)  # (n, ho, wo, kh * kw * cin)
    # a 2-D matmul (XLA's fastest form); reshapes that merge or split the batch axis as the
    # major one keep a sharded batch sharded
    y = jnp.dot(
        patches.reshape(n * ho * wo, kh * kw * cin),
        rhs.reshape(kh * kw * cin, cout),
        precision=precision,
        preferred_element_type=preferred_element_type,
    )
    return y.reshape(n, ho, wo, cout)


def _shifts(x: jax.Array, axis: int, k: int, dilation: int, size: int, stride: int):
    """The ``k`` shifted views ``x[a * dilation :: stride][:size]`` along ``axis``,
    concatenated on the last axis (shift-major)."""
    cols = []
    for a in range(k):
        start, limit, strides = [0] * x.ndim, list(x.shape), [1] * x.ndim
        start[axis] = a * dilation
        limit[axis] = a * dilation + (size - 1) * stride + 1
        strides[axis] = stride
        cols.append(lax.slice(x, start, limit, strides))
    return jnp.concatenate(cols, axis=-1) if k > 1 else cols[0]


def _window_elements(x: jax.Array, k: int) -> list[jax.Array]:
    """The ``k * k`` elements of the non-overlapping ``k x k`` windows of ``(N, H, W, C)``, in
    row-major window order, each ``(N, H//k, W//k, C)`` (a trailing partial window dropped, as
    a VALID pool does). Strided slices, not reshapes: a batch sharded over a mesh stays so."""
    n, h, w, c = x.shape
    ho, wo = h // k, w // k
    return [
        lax.slice(x, (0, a, b, 0), (n, a + (ho - 1) * k + 1, b + (wo - 1) * k + 1, c), (1, k, k, 1))
        for a in range(k)
        for b in range(k)
    ]


def _first_max(elements: list[jax.Array]) -> jax.Array:
    """Which element (its index in ``elements``) is each window's first maximum, chosen as
    XLA's ``select_and_scatter`` with ``>=`` chooses: the current choice stays while it is
    ``>=`` the next element."""
    best, index = elements[0], jnp.zeros(elements[0].shape, jnp.int32)
    for t, e in enumerate(elements[1:], start=1):
        take = ~(best >= e)
        best = jnp.where(take, e, best)
        index = jnp.where(take, t, index)
    return index


@functools.partial(jax.custom_jvp, nondiff_argnums=(1,))
def _max_pool_blocks(x: jax.Array, k: int) -> jax.Array:
    return functools.reduce(jnp.maximum, _window_elements(x, k))


@_max_pool_blocks.defjvp
def _max_pool_blocks_jvp(k, primals, tangents):
    (x,), (t,) = primals, tangents
    index = _first_max(_window_elements(x, k))
    zero = jnp.zeros((), t.dtype)
    picked = [jnp.where(index == i, e, zero) for i, e in enumerate(_window_elements(t, k))]
    return _max_pool_blocks(x, k), functools.reduce(jnp.add, picked)


def max_pool(inputs, window_shape, strides=None, padding="VALID") -> jax.Array:
    """``nnx.max_pool`` (same arguments and values); non-overlapping square windows without
    padding on an ``(N, H, W, C)`` batch take a derivative by selection mask, the same as
    XLA's (ties: the first maximum in row-major window order), several times faster on a CPU.

    >>> import jax, jax.numpy as jnp
    >>> x = jnp.array([1.0, 3.0, 3.0, 0.0]).reshape(1, 2, 2, 1)
    >>> jax.grad(lambda x: max_pool(x, (2, 2), (2, 2)).sum())(x).ravel().tolist()
    [0.0, 1.0, 0.0, 0.0]
    """
    window = tuple(window_shape)
    stride = window if strides is None else tuple(strides)
    x = jnp.asarray(inputs)
    if (
        x.ndim == 4
        and len(window) == 2
        and window[0] == window[1]
        and stride == window
        and padding == "VALID"
        and jnp.issubdtype(x.dtype, jnp.floating)
    ):
        return _max_pool_blocks(x, window[0])
    return nnx.max_pool(inputs, window_shape, strides, padding)
