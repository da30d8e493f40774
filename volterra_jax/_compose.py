"""Kernels by composition: the outer convolution of the paper (``compose``), the general rule
for two Volterra layers; `from_layers` (in ``_network``) folds a whole layer list with it."""

import functools

import jax
import jax.numpy as jnp
from jax import lax

from volterra_jax._autodiff import _check_order
from volterra_jax._kernels import VolterraKernels, symmetrize

_HIGHEST = lax.Precision.HIGHEST


def _contract_slot(t, done, h, stride, new_hw):
    """Replaces the G slot at axes ``3*done .. 3*done+2`` of ``t`` by the slots of ``h``."""
    n = (h.ndim - 1) // 3
    if n == 0:
        summed = t.sum(axis=(3 * done, 3 * done + 1))
        return jnp.tensordot(summed, h, axes=([3 * done], [0]), precision=_HIGHEST)
    a, b = t.shape[3 * done], t.shape[3 * done + 1]
    cin = h.shape[2]
    rest = t.shape[: 3 * done] + t.shape[3 * done + 3 :]
    out = jnp.zeros(rest + (new_hw[0], new_hw[1], cin) * n, jnp.result_type(t, h))

    # one tap of the G slot at a time, added at the same offset in all n new slots
    def body(tap, out):
        u1, u2 = tap // b, tap % b
        slab = lax.dynamic_index_in_dim(t, u1, 3 * done, keepdims=False)
        slab = lax.dynamic_index_in_dim(slab, u2, 3 * done, keepdims=False)
        e = jnp.tensordot(slab, h, axes=([3 * done], [3 * n]), precision=_HIGHEST)
        start = (0,) * len(rest) + (stride * u1, stride * u2, 0) * n
        cur = lax.dynamic_slice(out, start, e.shape)
        return lax.dynamic_update_slice(out, cur + e, start)

    out = lax.fori_loop(0, a * b, body, out) if a * b > 1 else body(0, out)
    # the new slots sit at the end; move them to where the G slot was
    first_new = out.ndim - 3 * n
    return jnp.moveaxis(
        out, list(range(first_new, out.ndim)), list(range(3 * done, 3 * done + 3 * n))
    )


def _compositions(total, parts, largest):
    """Ordered tuples of ``parts`` ints in ``[0, largest]`` that sum to ``total``."""
    if parts == 0:
        if total == 0:
            yield ()
        return
    for first in range(min(total, largest) + 1):
        for rest in _compositions(total - first, parts - 1, largest):
            yield (first,) + rest


def compose(
    outer: VolterraKernels,
    inner: VolterraKernels,
    *,
    inner_stride: int = 1,
    order: int | None = None,
) -> VolterraKernels:
    """Kernels of ``outer(inner(x))`` by the outer convolution.

    With ``s`` the stride of the inner layer's output grid,

    .. math::
       (g \\circledast_s [h_1..h_n])[P_1..P_n] = \\sum_{i} g[i_1..i_n]
       \\prod_k h_k[P_k - s\\, i_k], \\qquad
       F_k = \\sum_i \\sum_{j_1 + .. + j_i = k} G_i \\circledast_s [H_{j_1}, .., H_{j_i}]

    where an order-0 slot ``H_0`` sums ``G`` over that slot's positions against ``h0``.

    Args:
      outer: kernels of the outer layer, receptive field ``(a, b, C_mid)``, ``O`` outputs.
      inner: kernels of the inner layer, receptive field ``(k1, k2, C)``, ``C_mid`` outputs,
        order >= 1.
      inner_stride: stride ``s`` of the inner layer's output grid.
      order: highest order kept (default: ``outer.order * inner.order``, exact).

    Returns:
      Symmetrised `VolterraKernels` with receptive field ``(k1 + s(a-1), k2 + s(b-1), C)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> g = VolterraKernels(jnp.zeros(1), jnp.ones((2, 1, 1, 1)))
      >>> h = VolterraKernels(jnp.zeros(1), jnp.array([1.0, 2.0]).reshape(2, 1, 1, 1))
      >>> compose(g, h).h1[:, 0, 0, 0]
      Array([1., 3., 2.], dtype=float32)
    """
    for name, k in (("outer", outer), ("inner", inner)):
        if not isinstance(k, VolterraKernels):
            raise TypeError(f"{name} must be VolterraKernels, got {type(k).__name__}")
    if inner.order < 1:
        raise ValueError("inner must have order >= 1 (a receptive field), got only h0")
    if isinstance(inner_stride, bool) or not isinstance(inner_stride, int) or inner_stride < 1:
        raise ValueError(f"inner_stride must be a positive int, got {inner_stride!r}")
    if order is None:
        order = outer.order * inner.order
    _check_order(order)
    if outer.order == 0:
        return VolterraKernels(outer.h0)
    a, b, c_mid = outer.rf_shape
    if c_mid != inner.out_channels:
        raise ValueError(
            f"outer takes {c_mid} input channels but inner has {inner.out_channels} outputs "
            f"(outer {outer!r}, inner {inner!r})"
        )
    return _compose(outer, inner, inner_stride=inner_stride, order=order)


@functools.partial(jax.jit, static_argnames=("inner_stride", "order"))
def _compose(outer, inner, *, inner_stride, order):
    a, b, _ = outer.rf_shape
    k1, k2, _ = inner.rf_shape
    new_hw = (k1 + inner_stride * (a - 1), k2 + inner_stride * (b - 1))
    terms = []
    for k in range(order + 1):
        total = None
        for i in range(0, outer.order + 1):
            for js in _compositions(k, i, inner.order):
                t = outer[i]
                done = 0
                for j in js:
                    t = _contract_slot(t, done, inner[j], inner_stride, new_hw)
                    done += j
                total = t if total is None else total + t
        if total is None:
            shape = (new_hw + (inner.rf_shape[2],)) * k + (outer.out_channels,)
            total = jnp.zeros(shape, jnp.result_type(outer.h0, inner.h1))
        terms.append(symmetrize(total))
    return VolterraKernels(*terms)


__all__ = ["compose"]
