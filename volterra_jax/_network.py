"""Volterra kernels of a whole layer list (`from_layers`), by the structure of the network.

Orders <= 2 use the chain rule: a forward pass gives the operating point and the order-1
kernel of every map (one interior unit each), a backward pass the order-1 kernel of the
outputs with respect to every activation, and the order-2 kernel is a sum over activations of
rank-``C`` outer products placed by that outer kernel; the wide order-2 kernels of hidden layers
are never formed. Higher orders fold the layers one at a time with the outer convolution
(`compose`). Both see every layer as a VALID correlation (the zero-extended network, see
`from_layers`), a Residual as the sum of its two paths placed in one frame by their offsets.
"""

import functools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from cnn_layers import (
    BatchNorm,
    Conv,
    Dense,
    GlobalAvgPool,
    LayerInfo,
    Poly,
    Pool,
    Residual,
    Smooth,
)
from cnn_layers._geometry import field
from volterra_jax._autodiff import _check_order, taylor_coefficients
from volterra_jax._compose import _compose
from volterra_jax._kernels import VolterraKernels, symmetrize
from volterra_jax._layers import check_network, input_channels, walk, weights_dtype

_HIGHEST = lax.Precision.HIGHEST
_LOOP_BANDS = 2  # row bands of the order-2 blocks of one loop step (see _order2_term)
_GROUP_MAX = 4  # positions per axis of one loop step (see _position_groups)
# multiply-adds of a group's union window over those of its separate blocks: measured on the
# CPU (tanh LeNet), 1.8-2.2 are alike and 25% faster than one position per step, 3 is slower
_GROUP_BLOWUP = 2.0


# ---------------------------------------------------------------- layers as correlations


class _Correlation(NamedTuple):
    """A layer as a VALID correlation: ``y[p, o] = sum_{u, c} w[u, c, o] x[s p + u, c] + b``;
    ``groups > 1``: depthwise, ``w`` of shape ``(kh, kw, 1, C)``."""

    w: Any
    b: Any
    stride: int
    groups: int


def _cast(x, dtype):
    return None if x is None else jnp.asarray(x).astype(dtype)


def _correlation(info: LayerInfo, channels: int, dtype) -> _Correlation | None:
    """Conv, average Pool, GlobalAvgPool and Dense as correlations (None for other layers);
    ``channels``: those of the map the layer reads."""
    layer = info.layer
    if isinstance(layer, Conv):
        return _Correlation(_cast(layer.w, dtype), _cast(layer.b, dtype), layer.stride, 1)
    if isinstance(layer, Pool):  # average (check_network refuses max pools)
        q = layer.window
        w = jnp.full((q, q, 1, channels), 1 / q**2, dtype)
        return _Correlation(w, None, layer.stride, channels)
    if isinstance(layer, GlobalAvgPool):
        kh, kw = info.window
        w = jnp.full((kh, kw, 1, channels), 1 / (kh * kw), dtype)
        return _Correlation(w, None, 1, channels)
    if isinstance(layer, Dense):
        kh, kw = info.window
        d, o = layer.w.shape
        w = jnp.reshape(_cast(layer.w, dtype), (kh, kw, d // (kh * kw), o))
        return _Correlation(w, _cast(layer.b, dtype), 1, 1)
    return None


def _channel(v, ndim: int):
    """A per-channel vector shaped to scale axis ``-1`` of an ``ndim`` array."""
    return v.reshape((1,) * (ndim - 1) + (-1,))


def _act_coeffs(layer, z0, order):
    """Taylor coefficients ``(order + 1, C)`` of an activation at its operating point z0."""
    if isinstance(layer, Poly):
        a = jnp.asarray(layer.coeffs).astype(z0.dtype)
        rows = []
        for m in range(order + 1):
            row = jnp.zeros_like(z0)
            for k in range(m, a.shape[0]):
                row = row + a[k] * math.comb(k, m) * z0 ** (k - m)
            rows.append(row)
        return jnp.stack(rows)
    return taylor_coefficients(layer.fn, order, z0).astype(z0.dtype)


def _alignment(info: LayerInfo, stride: int):
    """Pixel shifts ``((bh, bw), (sh, sw))`` of a Residual's block and shortcut frames inside
    the frame of their sum; ``stride``: that of the Residual's input map."""
    (_, _, ob), (_, _, os_) = field(info.block), field(info.shortcut)
    top = [max(b, s) for b, s in zip(ob, os_, strict=True)]
    return (
        tuple(stride * (t - b) for t, b in zip(top, ob, strict=True)),
        tuple(stride * (t - s) for t, s in zip(top, os_, strict=True)),
    )


def _place(h, shifts, size):
    """Zero-pads every ``(kh, kw, C)`` slot of a kernel ``(kh, kw, C) * n + (O,)`` so that it
    sits at ``shifts`` in a ``size`` frame."""
    n = (h.ndim - 1) // 3
    kh, kw = h.shape[0], h.shape[1]
    slot = [(shifts[0], size[0] - shifts[0] - kh), (shifts[1], size[1] - shifts[1] - kw), (0, 0)]
    return jnp.pad(h, slot * n + [(0, 0)])


def _residual_size(hb, hs, shifts):
    return tuple(max(shifts[0][a] + hb.shape[a], shifts[1][a] + hs.shape[a]) for a in range(2))


# ---------------------------------------------------------------- outer convolutions


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


def _add_at(acc, block, start):
    cur = lax.dynamic_slice(acc, start, block.shape)
    return lax.dynamic_update_slice(acc, cur + block, start)


def _position_groups(ph: int, pw: int, kh: int, kw: int, stride: int) -> tuple[int, int]:
    """Positions per loop step along each axis, ``(gh, gw)``: the largest divisors of the
    position grid whose union window costs at most ``_GROUP_BLOWUP`` times the multiply-adds of
    their separate blocks (see `_order2_term`)."""

    def cost(g, k):
        return ((k + stride * (g - 1)) / k) ** 2

    best = (1, 1)
    for gh in (d for d in range(1, _GROUP_MAX + 1) if ph % d == 0):
        for gw in (d for d in range(1, _GROUP_MAX + 1) if pw % d == 0):
            if cost(gh, kh) * cost(gw, kw) <= _GROUP_BLOWUP and gh * gw > best[0] * best[1]:
                best = (gh, gw)
    return best


def _order2_term(acc, h1, coef, stride, start):
    """Adds ``sum_{p, c} coef[p, c, o] h1[A - f - s p, c] h1[B - f - s p, c]`` to
    ``acc[o, A, B]`` with ``f = start`` (before symmetrisation, see `_half_gram`). ``acc`` has
    shape ``(O, H, W*C, H, W*C)``; ``start`` are static pixels."""
    kh, kw, cin, c = h1.shape
    ph, pw, _, o = coef.shape
    if ph * pw == 1:
        hf = h1.reshape(kh * kw * cin, c)
        scaled = jnp.moveaxis(coef, 3, 2).reshape(o, 1, c) * hf[None]
        block = _half_gram(scaled, hf).reshape(o, kh, kw * cin, kh, kw * cin)
        y, x = start[0], start[1] * cin
        return acc.at[:, y : y + kh, x : x + kw * cin, y : y + kh, x : x + kw * cin].add(block)

    # A loop over groups of gh x gw neighbouring positions: the blocks of all positions
    # together would be ~(P/stride)^2 times bigger than the result, one position per step
    # makes thin matmuls (c columns) and one read-modify-write of the result per position.
    # A group's kernels are placed in their union window, side by side along the contracted
    # axis: one matmul of gh gw c columns gives the sum of the group's blocks.
    gh, gw = _position_groups(ph, pw, kh, kw, stride)
    uh, uw = kh + stride * (gh - 1), kw + stride * (gw - 1)
    row = uw * cin
    placed = [
        jnp.pad(
            h1,
            ((stride * di, uh - kh - stride * di), (stride * dj, uw - kw - stride * dj))
            + ((0, 0),) * 2,
        ).reshape(uh * row, c)
        for di in range(gh)
        for dj in range(gw)
    ]
    hf = jnp.concatenate(placed, axis=1)  # (U, g c), position-major
    # coef per group: (groups, O, g c), in the order of hf's columns
    cg = coef.reshape(ph // gh, gh, pw // gw, gw, c, o).transpose(0, 2, 5, 1, 3, 4)
    cg = cg.reshape((ph // gh) * (pw // gw), o, 1, gh * gw * c)
    # Each block is computed in row bands, band k against the columns from band k on (those
    # beyond band k doubled): the final symmetrisation restores the rest, at (n + 1) / (2 n)
    # of the cost for n bands.
    n_bands = max(1, min(_LOOP_BANDS, uh))
    edges = [round(k * uh / n_bands) for k in range(n_bands + 1)]
    nw = pw // gw

    def body(t, acc):
        i, j = t // nw, t % nw
        s = lax.dynamic_index_in_dim(cg, t, 0, keepdims=False) * hf[None]  # (O, U, g c)
        y, x = start[0] + stride * gh * i, (start[1] + stride * gw * j) * cin
        for r0, r1 in zip(edges[:-1], edges[1:], strict=True):
            band = jnp.einsum(
                "oac,bc->oab", s[:, r0 * row : r1 * row], hf[r0 * row :], precision=_HIGHEST
            )
            weight = jnp.concatenate(
                [jnp.ones((r1 - r0) * row, hf.dtype), jnp.full((uh - r1) * row, 2, hf.dtype)]
            )
            band = band * weight.reshape(1, 1, -1)
            block = band.reshape(o, r1 - r0, row, uh - r0, row)
            acc = _add_at(acc, block, (0, y + r0, x, y + r0, x))
        return acc

    return lax.fori_loop(0, (ph // gh) * nw, body, acc)


def _shift_sum(sub, window, stride, size, cin):
    """``out[A, B] = sum_q sub[A - s q, B - s q]`` over the ``window`` positions ``q``: a
    whole-map average (GlobalAvgPool) applied to kernels. Layout ``(H, W*C, H, W*C, O)``, the
    result on a ``size`` frame. Separable: the shifts along columns, then along rows (the
    second pass then adds blocks of whole rows, ~15% faster than the other order here)."""
    out = sub
    for axis in (1, 0):
        q, n, unit = window[axis], size[axis], cin if axis else 1
        shape = list(out.shape)
        shape[axis] = shape[axis + 2] = n * unit

        def body(i, acc, axis=axis, unit=unit, part=out):
            start = [0] * 5
            start[axis] = start[axis + 2] = stride * unit * i
            return _add_at(acc, part, tuple(start))

        pads = [(0, m - k) for m, k in zip(shape, out.shape, strict=True)]
        out = lax.fori_loop(1, q, body, jnp.pad(out, pads))  # shift 0 placed by the pad
    return out


def _symmetric(acc):
    """``(O, H, W*C, H, W*C)`` -> its symmetric part, output channel last."""
    return jnp.moveaxis(0.5 * (acc + jnp.transpose(acc, (0, 3, 4, 1, 2))), 0, -1)


# ---------------------------------------------------------------- chain rule, orders <= 2


class _Unit(NamedTuple):
    """One interior unit of a map: its value at input 0 and its order-1 kernel."""

    z0: Any  # (C,)
    h1: Any  # (R_h, R_w, C_in, C) on the unit's receptive field
    stride: int  # input pixels between neighbouring units


def _chain_forward(infos, unit: _Unit, order: int, dtype, notes: dict) -> _Unit:
    """The unit after ``infos``; records in ``notes`` what the backward pass needs."""
    for info in infos:
        layer = info.layer
        corr = _correlation(info, unit.h1.shape[3], dtype)
        if corr is not None:
            if isinstance(layer, GlobalAvgPool):
                notes[info.path] = unit.stride
            taps = corr.w.sum(axis=(0, 1))
            if corr.groups > 1:
                z0 = unit.z0 * taps[0]
            else:
                z0 = jnp.dot(unit.z0, taps, precision=_HIGHEST)
            z0 = z0 if corr.b is None else z0 + corr.b
            h1 = _grow(unit.h1, corr.w, unit.stride, groups=corr.groups)
            unit = _Unit(z0, h1, unit.stride * corr.stride)
        elif isinstance(layer, BatchNorm):
            g, h = layer.gain_and_shift(dtype)
            unit = unit._replace(z0=g * unit.z0 + h, h1=unit.h1 * _channel(g, 4))
        elif isinstance(layer, Poly | Smooth):
            coef = _act_coeffs(layer, unit.z0, max(order, 1))
            notes[info.path] = (unit.h1, unit.stride, coef)
            unit = unit._replace(z0=coef[0], h1=unit.h1 * _channel(coef[1], 4))
        elif isinstance(layer, Residual):
            b = _chain_forward(info.block, unit, order, dtype, notes)
            s = _chain_forward(info.shortcut, unit, order, dtype, notes)
            shifts = _alignment(info, unit.stride)
            size = _residual_size(b.h1, s.h1, shifts)
            notes[info.path] = (unit.stride, shifts)
            h1 = _place(b.h1, shifts[0], size) + _place(s.h1, shifts[1], size)
            unit = _Unit(b.z0 + s.z0, h1, b.stride)
        # Flatten: the same values in another order; the kernels do not change
    return unit


def _chain_backward(infos, g, start, acc, notes: dict, dtype):
    """Order-1 kernel ``g`` ``(P_h, P_w, C, O)`` of the outputs with respect to the units of
    the map after ``infos`` (position 0's receptive field at frame pixels ``start``) pulled
    back to the map before them, adding the order-2 terms of their activations to ``acc``."""
    for info in reversed(infos):
        layer = info.layer
        corr = _correlation(info, g.shape[2], dtype)
        if corr is not None:
            g = _pull_back(g, corr.w, corr.stride, groups=corr.groups)
        elif isinstance(layer, BatchNorm):
            gain, _ = layer.gain_and_shift(dtype)
            g = g * gain.reshape(1, 1, -1, 1)
        elif isinstance(layer, Poly | Smooth):
            h1, stride, coef = notes[info.path]
            acc = _order2_term(acc, h1, g * coef[2].reshape(1, 1, -1, 1), stride, start)
            g = g * coef[1].reshape(1, 1, -1, 1)
        elif isinstance(layer, Residual):
            stride, shifts = notes[info.path]
            paths = []
            for path, shift in zip((info.block, info.shortcut), shifts, strict=True):
                first = (start[0] + shift[0], start[1] + shift[1])
                gp, first, acc = _chain_backward(path, g, first, acc, notes, dtype)
                paths.append((gp, first))
            g, start = _add_aligned(paths, stride)
    return g, start, acc


def _add_aligned(paths, stride):
    """The sum of two outer kernels on one map whose positions 0 sit at different pixels."""
    (gb, sb), (gs, ss) = paths
    start = tuple(min(b, s) for b, s in zip(sb, ss, strict=True))
    first = [[(f[a] - start[a]) // stride for a in range(2)] for f in (sb, ss)]
    size = [max(first[0][a] + gb.shape[a], first[1][a] + gs.shape[a]) for a in range(2)]
    total = None
    for g, f in zip((gb, gs), first, strict=True):
        pads = [(f[a], size[a] - f[a] - g.shape[a]) for a in range(2)] + [(0, 0), (0, 0)]
        total = jnp.pad(g, pads) if total is None else total + jnp.pad(g, pads)
    return total, start


def _whole_map_average(infos) -> int | None:
    """Index of the top-level GlobalAvgPool over more than one position, if any."""
    for i, info in enumerate(infos):
        if isinstance(info.layer, GlobalAvgPool) and info.window != (1, 1):
            return i
    return None


def _chain_order2(infos, unit: _Unit, notes: dict, dtype, cin: int):
    rh, rw, _, o = unit.h1.shape
    g = jnp.eye(o, dtype=dtype).reshape(1, 1, o, o)

    def zeros(h, w):
        return jnp.zeros((o, h, w * cin, h, w * cin), dtype)

    gap = _whole_map_average(infos)
    if gap is None:
        _, _, acc = _chain_backward(infos, g, (0, 0), zeros(rh, rw), notes, dtype)
        return _symmetric(acc).reshape((rh, rw, cin) * 2 + (o,))
    # A whole-map average of the map below: its kernels are the mean of the shifted kernels of
    # one interior unit of that map, so pull the head's outer kernel (one position) down to the
    # interior unit's small frame, and shift-sum the result once at the end.
    head = infos[gap + 1 :]
    has_terms = any(isinstance(i.layer, Poly | Smooth) for i, _ in walk(head))
    g, _, acc = _chain_backward(head, g, (0, 0), zeros(rh, rw) if has_terms else None, notes, dtype)
    (qh, qw), stride = infos[gap].window, notes[infos[gap].path]
    sh, sw = rh - stride * (qh - 1), rw - stride * (qw - 1)
    _, _, sub = _chain_backward(infos[:gap], g / (qh * qw), (0, 0), zeros(sh, sw), notes, dtype)
    out = _shift_sum(_symmetric(sub), (qh, qw), stride, (rh, rw), cin)
    if has_terms:
        out = out + _symmetric(acc)
    return out.reshape((rh, rw, cin) * 2 + (o,))


def _from_layers_chain(infos, order, dtype, cin):
    notes = {}
    start = _Unit(jnp.zeros((cin,), dtype), jnp.eye(cin, dtype=dtype).reshape(1, 1, cin, cin), 1)
    unit = _chain_forward(infos, start, order, dtype, notes)
    terms = [unit.z0]
    if order >= 1:
        terms.append(unit.h1)
    if order >= 2:
        terms.append(_chain_order2(infos, unit, notes, dtype, cin))
    return VolterraKernels(*terms)


# ---------------------------------------------------------------- outer convolution, any order


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


def _compose_walk(infos, kernels: VolterraKernels, stride: int, order: int, dtype):
    for info in infos:
        layer = info.layer
        corr = _correlation(info, kernels.out_channels, dtype)
        if corr is not None:
            w = corr.w
            if corr.groups > 1:
                w = w * jnp.eye(corr.groups, dtype=dtype).reshape(1, 1, corr.groups, corr.groups)
            b = jnp.zeros(w.shape[3], dtype) if corr.b is None else corr.b
            outer = VolterraKernels(b, w)
            kernels = _compose(outer, kernels, inner_stride=stride, order=order)
            stride *= corr.stride
        elif isinstance(layer, BatchNorm):
            g, h = layer.gain_and_shift(dtype)
            terms = [g * kernels.h0 + h] + [t * _channel(g, t.ndim) for t in list(kernels)[1:]]
            kernels = VolterraKernels(*terms)
        elif isinstance(layer, Poly | Smooth):
            coef = _act_coeffs(layer, kernels.h0, order)
            kernels = _elementwise(kernels, coef, order)
        elif isinstance(layer, Residual):
            kb, sb = _compose_walk(info.block, kernels, stride, order, dtype)
            ks, _ = _compose_walk(info.shortcut, kernels, stride, order, dtype)
            shifts = _alignment(info, stride)
            size = _residual_size(kb.h1, ks.h1, shifts)
            terms = [kb.h0 + ks.h0] + [
                _place(b, shifts[0], size) + _place(s, shifts[1], size)
                for b, s in zip(list(kb)[1:], list(ks)[1:], strict=True)
            ]
            kernels, stride = VolterraKernels(*terms), sb
    return kernels, stride


def _from_layers_compose(infos, order, dtype, cin):
    identity = VolterraKernels(
        jnp.zeros((cin,), dtype), jnp.eye(cin, dtype=dtype).reshape(1, 1, cin, cin)
    )
    kernels, _ = _compose_walk(infos, identity, 1, max(order, 1), dtype)
    return VolterraKernels(*list(kernels)[: order + 1])


@functools.partial(jax.jit, static_argnames=("order", "chain", "input_shape"))
def _from_layers(layers, *, order, chain, input_shape):
    infos = check_network(layers, input_shape)
    dtype, cin = weights_dtype(infos), input_channels(infos)
    if chain:
        return _from_layers_chain(infos, order, dtype, cin)
    return _from_layers_compose(infos, order, dtype, cin)


def from_layers(
    layers: Sequence[Any],
    *,
    order: int,
    method: str = "auto",
    input_shape: tuple[int, int, int] | None = None,
) -> VolterraKernels:
    """Volterra kernels of a layer list at input 0, by the structure of the network.

    Layers (input first, those of :mod:`cnn_layers`): ``Conv`` (any padding and stride),
    ``BatchNorm`` (a per-channel affine map; folded or not, the kernels are the same),
    ``Pool(kind='avg')`` (a depthwise conv with the constant kernel ``1 / window**2``, any
    window, stride and padding), ``GlobalAvgPool`` (the mean of the shifted kernels of the map
    below), ``Flatten`` (reorders units, changes no kernel: a net that ends in one has the
    kernels of the map it flattens, on that map's geometry), ``Dense`` (a conv whose kernel
    ``w.reshape(H, W, C, O)`` covers the whole map), ``Residual`` (the kernels of the sum of
    its paths, both placed in one frame by their offsets), and the activations `Poly` and
    `Smooth`. ``ReLU`` and max pools have no Taylor series at 0: a ValueError names them (use
    `proxy_kernels` with ``at=x`` for a local proxy). The kernels are the Taylor coefficients
    at input 0, exact for `Poly` (and for `Smooth` up to ``order``), and equal `proxy_kernels`
    of the same network. Order 2 uses the chain rule

    .. math::
       H_2 = \\sum_{\\ell} \\sum_{p, c} G_\\ell[p, c]\\, \\tfrac12 \\phi_\\ell''(z_\\ell)[c]\\;
       h^{(\\ell)}_{1}[\\cdot - S_\\ell p, c] \\otimes h^{(\\ell)}_{1}[\\cdot - S_\\ell p, c]

    (``G_l``: order-1 kernel of the layers above activation ``l``; ``h1^(l)``, ``S_l``: order-1
    kernel and stride of its pre-activation); below a GlobalAvgPool it is computed on one
    interior unit of the pooled map and shift-summed once. Orders >= 3 fold the layers one at
    a time with `compose`; ``method='compose'`` does that for every order (same kernels).

    **Frame and border rule.** The kernels live on ``cnn_layers.geometry(layers,
    input_shape=...).size``, the receptive field of one output unit; for a GlobalAvgPool or
    Dense output that is the whole image padded by ``geometry(...).padding``. They are exact
    for every output unit whose receptive field lies inside the image. At the border they
    describe the *zero-extended network*: every intermediate padding replaced by zero-padding
    the input by ``geometry(...).padding``, so that a hidden unit outside its map takes the
    value the padded image gives it (at input 0: its interior value) instead of zero. Hence
    the kernels of a GlobalAvgPool or Dense unit of a SAME-padded net follow that rule too;
    of a VALID net they are exact. To apply them to images ``x`` ``(N, H, W, C)``::

        g = cnn_layers.geometry(layers, input_shape=x.shape[1:])
        y = series(x, kernels, stride=g.stride, padding=g.padding)  # the output map (N, H', W', O)

    Sigmoid nets, two conventions: ``Poly(taylor_coefficients(sigmoid, 5))`` reproduces the
    authors' kernels (a deeper layer uses the slope ``P'`` of the degree-5 polynomial at its
    hidden operating point, e.g. ``w1 = P'(sum(g)/2)/4 f * g * h`` for three layers), while
    ``Smooth(jax.nn.sigmoid)`` expands the true sigmoid there (``sigmoid'(sum(g)/2)``), which
    is what autodiff of the sigmoid network (`proxy_kernels`) gives.

    Args:
      layers: the layer list (a pytree: it may be a traced argument of ``jax.jit``). Integer
        weights are promoted explicitly (to the dtype of the float weights, else the default
        float); complex ones are refused.
      order: highest order N >= 0.
      method: 'auto' (chain rule for N <= 2, compose above), 'chain' (N <= 2) or 'compose'.
      input_shape: ``(H, W, C)`` of the network input. Needed (a ValueError says so) when the
        net has a GlobalAvgPool or Dense (their kernels cover the whole map), or SAME padding
        with stride > 1 inside a residual block (the alignment of its two paths depends on the
        parity of the map sizes).

    Returns:
      Symmetrised `VolterraKernels` of order N on ``geometry(layers, input_shape=...).size``
      (``receptive_field(layers, input_shape=...).shape``).

    Raises:
      ValueError: ReLU or max pool (named by index and type), a missing ``input_shape``, a
        malformed layer list (see `cnn_layers.describe`), a bad order or method.
      TypeError: complex weights, or an element that is not a layer.

    Examples:
      >>> import jax.numpy as jnp
      >>> from cnn_layers import Conv, GlobalAvgPool
      >>> net = [Conv(jnp.ones((2, 2, 1, 1))), Poly(jnp.array([0.0, 1.0, 1.0]))]
      >>> k = from_layers(net, order=2)       # y = u + u^2, u = sum of the 2x2 patch
      >>> float(k.h1.sum()), float(k.h2.sum())
      (4.0, 16.0)
      >>> k = from_layers(net + [GlobalAvgPool()], order=1, input_shape=(3, 3, 1))
      >>> k.h1[:, :, 0, 0]                    # the mean of the 2x2 kernels at the 4 positions
      Array([[0.25, 0.5 , 0.25],
             [0.5 , 1.  , 0.5 ],
             [0.25, 0.5 , 0.25]], dtype=float32)
    """
    _check_order(order)
    if method not in ("auto", "chain", "compose"):
        raise ValueError(f"method must be 'auto', 'chain' or 'compose', got {method!r}")
    if method == "chain" and order > 2:
        raise ValueError(f"method='chain' handles order <= 2, got order={order}")
    infos = check_network(layers, input_shape)
    weights_dtype(infos)
    input_channels(infos)
    if input_shape is not None:
        input_shape = tuple(int(d) for d in input_shape)
    chain = method == "chain" or (method == "auto" and order <= 2)
    return _from_layers(tuple(layers), order=order, chain=chain, input_shape=input_shape)


__all__ = ["from_layers"]
