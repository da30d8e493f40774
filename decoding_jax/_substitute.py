"""The substitution steps of decoding, one per layer type, on a factored bank of decoded maps.

A bank of decoded maps (one per filter) is kept as a coarse tensor and two small per-axis
matrices, ``D[n, y, x, c] = sum_{a, b} my[y, a] mx[x, b] t[n, a, b, c]``: unpooling and the
placement of substituted filters compose into ``my`` and ``mx`` (numpy constants, built at trace
time), the channel sums act on ``t``. Each step maps a bank on a layer's output map to a bank on
its input map; ``off`` is the frame's top/left offset (the top padding the layers below add),
which aligns the two paths of a residual block.
"""

import functools
import operator
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np
from jax import lax

from cnn_layers._checks import as_real_float
from cnn_layers._describe import LayerInfo
from cnn_layers._layers import (
    BatchNorm,
    Conv,
    Dense,
    GlobalAvgPool,
    Pool,
    Residual,
    dense_as_conv_kernel,
)
from decoding_jax._unpool import resize_matrix

_FOLD_LIMIT = 1 << 24  # elements of a folded filter bank
# The unfolded order pays more than its multiply-adds: its channel sum comes out in the
# filters' order and is transposed into the maps' (a copy of the expanded maps), and its
# row and column collapses are matmuls with a dozen output columns; the folded order is one
# large matmul whose output is already the maps. Measured on the CPU (the LeNet's 580
# filters): folding every step whose multiply-adds are within 3x is 2x faster overall.
_FOLD_FACTOR = 3.0
# measured on the CPU: XLA's transposed convolution wins from 8 output channels on maps of 5x5
# and more; the shifted sum wins below (an image's few channels, the first steps of a deep unit)
_CONV_MIN_CHANNELS = 8
_CONV_MIN_PIXELS = 25


class Bank(NamedTuple):
    t: jnp.ndarray  # (n, a, b, c)
    my: np.ndarray  # (Y, a)
    mx: np.ndarray  # (X, b)
    off: tuple | None  # (top, left) of the frame in its map, None when unknown


def _placement(m: np.ndarray, k: int, stride: int) -> np.ndarray:
    """``P[v, (a, u)] = sum_q [v = stride q + u] m[q, a]``: where tap ``u`` of a substituted
    filter lands when the decoded map is ``m @ coarse``; shape ``(stride (Q - 1) + k, A k)``."""
    q, a = m.shape
    p = np.zeros((stride * (q - 1) + k, a, k))
    for u in range(k):  # k static filter taps, at trace time
        p[u : u + stride * (q - 1) + 1 : stride, :, u] = m
    return p.reshape(p.shape[0], a * k)


def _fold_is_cheaper(t_shape, w_shape, rows: int, cols_out: int, stride: int) -> bool:
    """Whether to fold, from the multiply-add counts of the two equivalent orders of one
    substitution step (the folded one may count up to ``_FOLD_FACTOR`` times more)."""
    n, a, b, j = t_shape
    kh, kw, cin, _ = w_shape
    rows_out = stride * (rows - 1) + kh
    rows_after = rows_out if a * kh > rows_out else a * kh
    row_collapse = n * rows_out * a * kh * cin if a * kh > rows_out else 0
    unfolded = n * a * b * j * kh * kw * cin + row_collapse * b * kw
    if b * kw > cols_out:
        unfolded += n * rows_after * cols_out * b * kw * cin
    folded = n * a * b * j * kh * cols_out * cin + row_collapse * cols_out
    return folded <= _FOLD_FACTOR * unfolded and b * j * kh * cols_out * cin <= _FOLD_LIMIT


def collapse_rows(t, my: np.ndarray):
    return jnp.einsum("ya,nabc->nybc", jnp.asarray(my, t.dtype), t)


def collapse_cols(t, mx: np.ndarray):
    return jnp.einsum("xb,nybc->nyxc", jnp.asarray(mx, t.dtype), t)


def _is_eye(m: np.ndarray) -> bool:
    return m.shape[0] == m.shape[1] and np.array_equal(m, np.eye(m.shape[0]))


def dense_maps(bank: Bank):
    """The bank as ``(n, Y, X, c)`` maps."""
    t = bank.t
    if not _is_eye(bank.my):
        t = collapse_rows(t, bank.my)
    if not _is_eye(bank.mx):
        t = collapse_cols(t, bank.mx)
    return t


def _shift(off, step_off, stride):
    if off is None or step_off is None:
        return None
    return tuple(stride * o + s for o, s in zip(off, step_off, strict=True))


def _transposed_conv(t, w, stride: int):
    """``out[n, v, c] = sum_{s q + u = v} sum_j t[n, q, j] w[u, c, j]`` as one XLA convolution
    (the input dilated by the stride, fully padded, the kernel flipped)."""
    kh, kw = w.shape[:2]
    return lax.conv_general_dilated(
        t,
        jnp.flip(w, (0, 1)).swapaxes(2, 3),
        (1, 1),
        ((kh - 1, kh - 1), (kw - 1, kw - 1)),
        lhs_dilation=(stride, stride),
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )


def _shifted_sum(t, w, stride: int):
    """The same sum as one matmul over the shared channel, ``P[u, v, n, q, c] = sum_j t[n, q, j]
    w[u, v, c, j]``, then the ``kh kw`` tap planes added at their offsets (dilated by the
    stride): better than a convolution for few output channels or tiny maps."""
    kh, kw, cin, j = w.shape
    n, y, x, _ = t.shape
    # (n y x, j) x (j, u v c): a plain row-major matmul, no transposed copy of the maps
    p = (t.reshape(n * y * x, j) @ w.reshape(kh * kw * cin, j).T).reshape(n, y, x, kh, kw, cin)
    zero = jnp.zeros((), t.dtype)
    planes = [
        lax.pad(
            p[:, :, :, u, v],
            zero,
            ((0, 0, 0), (u, kh - 1 - u, stride - 1), (v, kw - 1 - v, stride - 1), (0, 0, 0)),
        )
        for u in range(kh)
        for v in range(kw)
    ]
    return functools.reduce(operator.add, planes)


def _dense_step(t, w, stride: int):
    """Dense maps through a conv: XLA's convolution where it is efficient (enough output
    channels on a map that is not tiny), else the matmul and shifted sum."""
    if w.shape[2] >= _CONV_MIN_CHANNELS and t.shape[1] * t.shape[2] >= _CONV_MIN_PIXELS:
        return _transposed_conv(t, w, stride)
    return _shifted_sum(t, w, stride)


def substitute(bank: Bank, w, stride: int, pads) -> Bank:
    """Through a conv: ``D'[v, c] = sum_{s q + u = v} sum_j D[q, j] w[u, c, j]``."""
    t, my, mx, _ = bank
    kh, kw, cin, _ = w.shape
    n, a, b, _ = t.shape
    off = None if pads is None else (pads[0][0], pads[1][0])
    if _is_eye(my) and _is_eye(mx):
        # dense maps: a convolution or a shifted sum, many times faster than the factored
        # matmuls and their placement matrices here
        t = _dense_step(t, w, stride)
        eye_y, eye_x = np.eye(t.shape[1]), np.eye(t.shape[2])
        return Bank(t, eye_y, eye_x, _shift(bank.off, off, stride))
    px = _placement(mx, kw, stride)
    if _fold_is_cheaper(t.shape, w.shape, my.shape[0], px.shape[0], stride):
        # fold the column unpooling + placement into the filters: the channel sum and the
        # column sum become one matmul (n a, b j) x (b j, u x c)
        px3 = jnp.asarray(px.reshape(px.shape[0], b, kw), t.dtype)
        wx = jnp.einsum("xbv,uvcj->bjuxc", px3, w)
        t = jnp.einsum("nabj,bjuxc->nauxc", t, wx).reshape(n, a * kh, px.shape[0], cin)
        mx = np.eye(px.shape[0])
    else:
        # channel sum on the coarse maps: (n a b, j) x (j, u v c)
        t = jnp.einsum("nabj,uvcj->naubvc", t, w).reshape(n, a * kh, b * kw, cin)
        mx = px
    my = _placement(my, kh, stride)
    if my.shape[1] > my.shape[0]:
        t, my = collapse_rows(t, my), np.eye(my.shape[0])
    if mx.shape[1] > mx.shape[0]:
        t, mx = collapse_cols(t, mx), np.eye(mx.shape[0])
    return Bank(t, my, mx, _shift(bank.off, off, stride))


def unpool_bank(bank: Bank, window: tuple, stride: int, pads, *, method: str, weight: float):
    """Through a pooling: each axis' matrix times the unpooling matrix of that axis."""
    ry = resize_matrix(bank.my.shape[0], method=method, factor=stride, window=window[0])
    rx = resize_matrix(bank.mx.shape[0], method=method, factor=stride, window=window[1])
    off = None if pads is None else (pads[0][0], pads[1][0])
    return Bank(bank.t, weight * (ry @ bank.my), rx @ bank.mx, _shift(bank.off, off, stride))


def _pad_frame(m: np.ndarray, top: int, total: int) -> np.ndarray:
    return np.pad(m, ((top, total - top - m.shape[0]), (0, 0)))


def add_paths(b: Bank, s: Bank, name: str) -> Bank:
    """The decoded maps of a sum of two paths, placed in one frame by their offsets."""
    if b.off is None or s.off is None:
        raise ValueError(f"{name} (Residual): aligning its paths needs input_shape=(H, W, C)")
    tops = [max(ob, os_) for ob, os_ in zip(b.off, s.off, strict=True)]
    sizes = [
        top + max(mb.shape[0] - ob, ms.shape[0] - os_)
        for top, mb, ms, ob, os_ in zip(tops, (b.my, b.mx), (s.my, s.mx), b.off, s.off, strict=True)
    ]
    maps = []
    for bank in (b, s):
        tops_here = [top - o for top, o in zip(tops, bank.off, strict=True)]
        if _is_eye(bank.my) and _is_eye(bank.mx):  # dense maps: place them by padding
            pads = [
                (top, size - top - n)
                for top, size, n in zip(tops_here, sizes, bank.t.shape[1:3], strict=True)
            ]
            maps.append(jnp.pad(bank.t, ((0, 0), *pads, (0, 0))))
            continue
        my = _pad_frame(bank.my, tops_here[0], sizes[0])
        mx = _pad_frame(bank.mx, tops_here[1], sizes[1])
        maps.append(dense_maps(Bank(bank.t, my, mx, None)))
    dtype = jnp.result_type(*maps)
    total = maps[0].astype(dtype) + maps[1].astype(dtype)
    return Bank(total, np.eye(sizes[0]), np.eye(sizes[1]), tuple(tops))


def down(infos, bank: Bank, *, method: str, avg_weighting: bool, dtype) -> Bank:
    """Takes a bank on the output of ``infos[-1]`` down to the input of ``infos[0]``."""
    for info in reversed(infos):
        bank = step(info, bank, method=method, avg_weighting=avg_weighting, dtype=dtype)
    return bank


def weight(info: LayerInfo, dtype):
    return as_real_float(info.layer.w, f"{info.name}.w", dtype).astype(dtype)


def step(info: LayerInfo, bank: Bank, *, method, avg_weighting, dtype) -> Bank:
    layer = info.layer
    if isinstance(layer, Conv):
        return substitute(bank, weight(info, dtype), layer.stride, info.pads)
    if isinstance(layer, Dense):
        kernel = dense_as_conv_kernel(weight(info, dtype), info.in_shape[:3])
        return substitute(bank, kernel, 1, ((0, 0), (0, 0)))
    if isinstance(layer, BatchNorm):
        g, _ = layer.gain_and_shift(bank.t.dtype)
        return bank._replace(t=bank.t * g.reshape(1, 1, 1, -1))
    if isinstance(layer, Pool | GlobalAvgPool):
        avg = isinstance(layer, GlobalAvgPool) or layer.kind == "avg"
        stride = 1 if isinstance(layer, GlobalAvgPool) else layer.stride
        scale = 1.0
        if avg and (avg_weighting or method == "transpose"):
            scale = 1.0 / (info.window[0] * info.window[1])
        return unpool_bank(bank, info.window, stride, info.pads, method=method, weight=scale)
    if isinstance(layer, Residual):
        kw = dict(method=method, avg_weighting=avg_weighting, dtype=dtype)
        through_block = down(info.block, bank, **kw)
        through_shortcut = down(info.shortcut, bank, **kw)
        return add_paths(through_block, through_shortcut, info.name)
    return bank  # Flatten and activations: decoding ignores them
