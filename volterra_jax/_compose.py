"""Kernels by composition: the outer convolution of the paper and layer stacks.

``compose`` is the general rule for two Volterra layers; ``from_layers`` folds a stack of
convolutions, average poolings and `Poly` / `Smooth` activations. Orders <= 2 of a stack use
the chain rule (a sum over activation layers of rank-``C`` outer products, placed by the
outer kernel of the layers above), which never materialises the wide order-2 kernels of
hidden layers; higher orders fold the layers one at a time with `compose`.
"""

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from volterra_jax._autodiff import _check_order, taylor_coefficients
from volterra_jax._kernels import VolterraKernels, symmetrize
from volterra_jax._layers import Poly, Smooth, layer_kind

_HIGHEST = lax.Precision.HIGHEST
_LOOP_BANDS = 2  # row bands of the order-2 blocks of one position (see _chain_order2_term)


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


# ---------------------------------------------------------------- layer rules


def _act_coeffs(layer, z0, order):
    """Taylor coefficients ``(order + 1, C)`` of an activation at its operating point z0."""
    if isinstance(layer, Poly):
        a = jnp.asarray(layer.coeffs, dtype=z0.dtype)
        rows = []
        for m in range(order + 1):
            row = jnp.zeros_like(z0)
            for k in range(m, a.shape[0]):
                row = row + a[k] * math.comb(k, m) * z0 ** (k - m)
            rows.append(row)
        return jnp.stack(rows)
    return taylor_coefficients(layer.fn, order, z0).astype(z0.dtype)


def _pool_kernel(q, c, dtype):
    return jnp.full((q, q, 1, c), 1.0 / (q * q), dtype)


def _grow(h, w, stride, *, groups=1):
    """Order-1 outer convolution: ``out[P] = sum_i w[i] h[P - s i]`` (channels contracted)."""
    a, b = w.shape[0], w.shape[1]
    out = lax.conv_general_dilated(
        jnp.transpose(h, (2, 0, 1, 3)),
        jnp.flip(w, (0, 1)),
        (1, 1),
        ((stride * (a - 1),) * 2, (stride * (b - 1),) * 2),
        rhs_dilation=(stride, stride),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
        precision=_HIGHEST,
    )
    return jnp.transpose(out, (1, 2, 0, 3))


def _pull_back(g, w, stride, *, groups=1):
    """Outer kernel through a layer.

    ``out[P, c, o] = sum_{p, c'} g[p, c', o] w[P - s p, c, c']``.
    """
    a, b = w.shape[0], w.shape[1]
    rhs = jnp.flip(w, (0, 1)) if groups > 1 else jnp.flip(jnp.swapaxes(w, 2, 3), (0, 1))
    out = lax.conv_general_dilated(
        jnp.transpose(g, (3, 0, 1, 2)),
        rhs,
        (1, 1),
        ((a - 1, a - 1), (b - 1, b - 1)),
        lhs_dilation=(stride, stride),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        feature_group_count=groups,
        precision=_HIGHEST,
    )
    return jnp.transpose(out, (1, 2, 3, 0))


def _half_gram(scaled, hf):
    """``X[..., a, b] = sum_c scaled[..., a, c] hf[b, c]`` where only the blocks on and above
    the diagonal are computed (those above doubled, those below zero): ``(X + X^T) / 2`` is the
    full symmetric product at about 5/8 of the cost."""
    d = hf.shape[0]
    nb = 8 if d >= 512 else (4 if d >= 256 else (2 if d >= 64 else 1))
    if nb == 1:
        return jnp.einsum("...ac,bc->...ab", scaled, hf, precision=_HIGHEST)
    edges = [round(i * d / nb) for i in range(nb + 1)]
    rows = []
    for a0, a1 in zip(edges[:-1], edges[1:], strict=True):
        blk = jnp.einsum("...ac,bc->...ab", scaled[..., a0:a1, :], hf[a0:], precision=_HIGHEST)
        weight = jnp.concatenate([jnp.ones(a1 - a0, blk.dtype), jnp.full(d - a1, 2, blk.dtype)])
        blk = blk * weight.reshape((1,) * (blk.ndim - 1) + (-1,))
        if a0 > 0:
            blk = jnp.concatenate([jnp.zeros(blk.shape[:-1] + (a0,), blk.dtype), blk], axis=-1)
        rows.append(blk)
    return jnp.concatenate(rows, axis=-2)


def _chain_order2_term(acc, h1, coef, stride):
    """Adds ``sum_{p, c} coef[p, c, o] h1[A - s p, c] h1[B - s p, c]`` to ``acc[o, A, B]``
    (before symmetrisation, see `_half_gram`). ``acc`` has shape ``(O, H, W*C, H, W*C)``."""
    kh, kw, cin, c = h1.shape
    ph, pw, _, o = coef.shape
    hf = h1.reshape(kh * kw * cin, c)
    scaled = jnp.moveaxis(coef, 3, 2).reshape(ph * pw, o, 1, c) * hf[None, None]  # P,O,D,C
    if ph * pw == 1:
        return acc + _half_gram(scaled[0], hf).reshape(o, kh, kw * cin, kh, kw * cin)

    # one position at a time: the blocks of all positions together would be ~(P/stride)^2
    # times bigger than the result. Each block is computed in row bands, band k against the
    # columns from band k on (those beyond band k doubled): the final symmetrisation restores
    # the rest, at (n + 1) / (2 n) of the cost for n bands.
    n_bands = max(1, min(_LOOP_BANDS, kh))
    edges = [round(k * kh / n_bands) for k in range(n_bands + 1)]
    row = kw * cin

    def add(acc, block, start):
        cur = lax.dynamic_slice(acc, start, block.shape)
        return lax.dynamic_update_slice(acc, cur + block, start)

    def body(t, acc):
        i, j = t // pw, t % pw
        s = lax.dynamic_index_in_dim(scaled, t, 0, keepdims=False)
        y, x = stride * i, stride * j * cin
        for r0, r1 in zip(edges[:-1], edges[1:], strict=True):
            band = jnp.einsum(
                "oac,bc->oab", s[:, r0 * row : r1 * row], hf[r0 * row :], precision=_HIGHEST
            )
            weight = jnp.concatenate(
                [jnp.ones((r1 - r0) * row, hf.dtype), jnp.full((kh - r1) * row, 2, hf.dtype)]
            )
            band = band * weight.reshape(1, 1, -1)
            acc = add(acc, band.reshape(o, r1 - r0, row, kh - r0, row), (0, y + r0, x, y + r0, x))
        return acc

    return lax.fori_loop(0, ph * pw, body, acc)


def _layer_plan(layers):
    kinds = [layer_kind(layer, i) for i, layer in enumerate(layers)]
    if "conv" not in kinds:
        raise ValueError("layers must contain a convolution to fix the input channels")
    channels = None
    for i, (layer, kind) in enumerate(zip(layers, kinds, strict=True)):
        if kind == "conv":
            cin = layer.w.shape[2]
            if channels is not None and cin != channels:
                raise ValueError(
                    f"layers[{i}].w takes {cin} input channels but the layer below gives {channels}"
                )
            channels = layer.w.shape[3]
        elif channels is None:
            raise ValueError(
                f"layers[{i}] ({kind}) comes before the first convolution; start "
                "the stack with a convolution"
            )
    return kinds


def from_layers(layers: Sequence[Any], *, order: int, method: str = "auto") -> VolterraKernels:
    """Volterra kernels of a stack of conv / avg-pool / activation layers, by composition.

    Layers (input first): convolutions (``.w`` HWIO, ``.b``, ``.stride``; VALID), average
    poolings (``.size``, ``.kind == 'avg'``), `Poly` and `Smooth` activations. The kernels are
    the Taylor coefficients at input 0, exact for `Poly` (and for `Smooth` up to ``order``),
    and equal `proxy_kernels` of the same network. Order 2 uses the chain rule

    .. math::
       H_2 = \\sum_{\\ell} \\sum_{p, c} G_\\ell[p, c]\\, \\tfrac12 \\phi_\\ell''(z_\\ell)[c]\\;
       h^{(\\ell)}_{1}[\\cdot - S_\\ell p, c] \\otimes h^{(\\ell)}_{1}[\\cdot - S_\\ell p, c]

    (``G_l``: order-1 kernel of the layers above activation ``l``; ``h1^(l)``, ``S_l``: order-1
    kernel and stride of its pre-activation), order >= 3 folds `compose` layer by layer.

    Sigmoid nets, two conventions: ``Poly(taylor_coefficients(sigmoid, 5))`` reproduces the
    authors' kernels (a deeper layer uses the slope ``P'`` of the degree-5 polynomial at its
    hidden operating point, e.g. ``w1 = P'(sum(g)/2)/4 f * g * h`` for three layers), while
    ``Smooth(jax.nn.sigmoid)`` expands the true sigmoid there (``sigmoid'(sum(g)/2)``), which
    is what autodiff of the sigmoid network (`proxy_kernels`) gives.

    Args:
      layers: the layer list.
      order: highest order N >= 0.
      method: 'auto' (chain rule for N <= 2, compose above), 'chain' (N <= 2) or 'compose'.

    Returns:
      Symmetrised `VolterraKernels` of order N on `receptive_field(layers)`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from decoding_jax.layers import Conv
      >>> net = [Conv(jnp.ones((2, 2, 1, 1))), Poly(jnp.array([0.0, 1.0, 1.0]))]
      >>> k = from_layers(net, order=2)       # y = u + u^2, u = sum of the 2x2 patch
      >>> float(k.h1.sum()), float(k.h2.sum())
      (4.0, 16.0)
    """
    _check_order(order)
    if method not in ("auto", "chain", "compose"):
        raise ValueError(f"method must be 'auto', 'chain' or 'compose', got {method!r}")
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError(f"layers must be a non-empty list of layers, got {layers!r}")
    kinds = _layer_plan(layers)
    if method == "chain" and order > 2:
        raise ValueError(f"method='chain' handles order <= 2, got order={order}")
    spec, arrays = [], []
    for layer, kind in zip(layers, kinds, strict=True):
        if kind == "conv":
            b = getattr(layer, "b", None)
            spec.append((kind, getattr(layer, "stride", 1), b is not None))
            arrays.append((layer.w, b))
        elif kind == "pool":
            spec.append((kind, layer.size, None))
            arrays.append(())
        elif kind == "poly":
            spec.append((kind, None, None))
            arrays.append(layer.coeffs)
        else:
            spec.append((kind, layer.fn, None))
            arrays.append(())
    chain = method == "chain" or (method == "auto" and order <= 2)
    return _from_layers(arrays, spec=tuple(spec), order=order, chain=chain)


class _ConvLayer(NamedTuple):
    w: Any
    b: Any
    stride: int


class _PoolLayer(NamedTuple):
    size: int
    kind: str = "avg"


@functools.partial(jax.jit, static_argnames=("spec", "order", "chain"))
def _from_layers(arrays, *, spec, order, chain):
    layers = []
    for (kind, static, has_bias), arr in zip(spec, arrays, strict=True):
        if kind == "conv":
            layers.append(_ConvLayer(arr[0], arr[1] if has_bias else None, static))
        elif kind == "pool":
            layers.append(_PoolLayer(static))
        elif kind == "poly":
            layers.append(Poly(arr))
        else:
            layers.append(Smooth(static))
    kinds = [kind for kind, _, _ in spec]
    if chain:
        return _from_layers_chain(layers, kinds, order)
    return _from_layers_compose(layers, kinds, order)


def _conv_dtype(layers, kinds):
    ws = [layer.w for layer, k in zip(layers, kinds, strict=True) if k == "conv"]
    return jnp.result_type(*ws)


def _from_layers_chain(layers, kinds, order):
    dtype = _conv_dtype(layers, kinds)
    cin = next(layer.w.shape[2] for layer, k in zip(layers, kinds, strict=True) if k == "conv")
    z0 = jnp.zeros((cin,), dtype)
    h1 = jnp.eye(cin, dtype=dtype).reshape(1, 1, cin, cin)
    stride = 1
    acts = []  # (index, pre-activation h1, stride, coefficients)
    for i, (layer, kind) in enumerate(zip(layers, kinds, strict=True)):
        if kind == "conv":
            w = jnp.asarray(layer.w, dtype)
            z0 = jnp.einsum("hwio,i->o", w, z0, precision=_HIGHEST)
            if layer.b is not None:
                z0 = z0 + layer.b
            h1 = _grow(h1, w, stride)
            stride *= layer.stride
        elif kind == "pool":
            c = h1.shape[3]
            h1 = _grow(h1, _pool_kernel(layer.size, c, dtype), stride, groups=c)
            stride *= layer.size
        else:
            coef = _act_coeffs(layer, z0, max(order, 1))
            acts.append((i, h1, stride, coef))
            z0 = coef[0]
            h1 = h1 * coef[1].reshape(1, 1, 1, -1)
    terms = [z0]
    if order >= 1:
        terms.append(h1)
    if order >= 2:
        rf_hw = h1.shape[:2]
        o = h1.shape[3]
        g = jnp.eye(o, dtype=dtype).reshape(1, 1, o, o)
        acc = jnp.zeros((o, rf_hw[0], rf_hw[1] * cin, rf_hw[0], rf_hw[1] * cin), dtype)
        for i in range(len(layers) - 1, acts[0][0] - 1 if acts else len(layers), -1):
            layer, kind = layers[i], kinds[i]
            if kind == "conv":
                g = _pull_back(g, jnp.asarray(layer.w, dtype), layer.stride)
            elif kind == "pool":
                c = g.shape[2]
                g = _pull_back(g, _pool_kernel(layer.size, c, dtype), layer.size, groups=c)
            else:
                _, pre_h1, s, coef = next(a for a in acts if a[0] == i)
                acc = _chain_order2_term(acc, pre_h1, g * coef[2].reshape(1, 1, -1, 1), s)
                g = g * coef[1].reshape(1, 1, -1, 1)
        acc = 0.5 * (acc + jnp.transpose(acc, (0, 3, 4, 1, 2)))
        terms.append(jnp.moveaxis(acc.reshape((o,) + (rf_hw + (cin,)) * 2), 0, -1))
    return VolterraKernels(*terms)


def _elementwise(kernels, coef, order):
    """Kernels of ``phi(inner)`` for an elementwise ``phi`` expanded at ``inner.h0``."""
    hs = list(kernels)[1:]
    n_in = len(hs)

    def tensor(x, y):
        # slots of x, then slots of y; the channel axis is shared
        nx, ny = x.ndim - 1, y.ndim - 1
        return x.reshape(x.shape[:-1] + (1,) * ny + x.shape[-1:]) * y.reshape((1,) * nx + y.shape)

    # powers[m][k]: the order-k part of delta^m, delta = sum_{j>=1} h_j
    powers = {1: {k: hs[k - 1] for k in range(1, min(order, n_in) + 1)}}
    for m in range(2, order + 1):
        powers[m] = {}
        for k in range(m, order + 1):
            total = None
            for j in range(1, min(k - m + 1, n_in) + 1):
                if (k - j) in powers[m - 1]:
                    t = tensor(hs[j - 1], powers[m - 1][k - j])
                    total = t if total is None else total + t
            if total is not None:
                powers[m][k] = total
    terms = [coef[0]]
    for k in range(1, order + 1):
        total = None
        for m in range(1, k + 1):
            if k in powers.get(m, {}):
                t = coef[m].reshape((1,) * (powers[m][k].ndim - 1) + (-1,)) * powers[m][k]
                total = t if total is None else total + t
        if total is None:
            shape = tuple(kernels.rf_shape) * k + (coef.shape[1],)
            total = jnp.zeros(shape, coef.dtype)
        terms.append(symmetrize(total))
    return VolterraKernels(*terms)


def _from_layers_compose(layers, kinds, order):
    dtype = _conv_dtype(layers, kinds)
    cin = next(layer.w.shape[2] for layer, k in zip(layers, kinds, strict=True) if k == "conv")
    kernels = VolterraKernels(
        jnp.zeros((cin,), dtype), jnp.eye(cin, dtype=dtype).reshape(1, 1, cin, cin)
    )
    stride = 1
    for layer, kind in zip(layers, kinds, strict=True):
        if kind == "conv":
            w = jnp.asarray(layer.w, dtype)
            b = jnp.zeros(w.shape[3], dtype) if layer.b is None else jnp.asarray(layer.b, dtype)
            kernels = compose(
                VolterraKernels(b, w), kernels, inner_stride=stride, order=max(order, 1)
            )
            stride *= layer.stride
        elif kind == "pool":
            c = kernels.out_channels
            q = layer.size
            w = jnp.eye(c, dtype=dtype)[None, None] * jnp.ones((q, q, 1, 1), dtype) / (q * q)
            kernels = compose(
                VolterraKernels(jnp.zeros(c, dtype), w),
                kernels,
                inner_stride=stride,
                order=max(order, 1),
            )
            stride *= q
        else:
            coef = _act_coeffs(layer, kernels.h0, max(order, 1))
            kernels = _elementwise(kernels, coef, max(order, 1))
    return VolterraKernels(*list(kernels)[: order + 1])


__all__ = ["compose", "from_layers"]
