"""Test oracles for `from_layers` on the whole layer vocabulary, written with lax only.

* `true_forward`: the network as defined (each layer's own zero padding), NHWC.
* `extended_forward`: the zero-extended network of the border rule: every Conv / Pool runs
  VALID on an input padded by a generous margin; the absolute coordinate of index 0 of every
  map is tracked (a layer with stride ``s`` and top pad ``lo`` maps true position ``q`` to
  input position ``s q - lo``), residual paths are aligned by coordinates (both cropped to
  their common range), and a map is cropped to its true positions ``[0, H_l)`` before a
  GlobalAvgPool, Flatten or Dense.

Paddings are resolved with ``lax.padtype_to_pads``; nothing here uses cnn_layers' walk.
"""

import jax.numpy as jnp
from jax import lax

from cnn_layers import (
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Poly,
    Pool,
    Residual,
    Smooth,
)

_DIMS = ("NHWC", "HWIO", "NHWC")
_HIGHEST = lax.Precision.HIGHEST


def _last(v, x):
    """A per-channel vector shaped to act on the last axis of ``x``."""
    return jnp.reshape(v, (1,) * (x.ndim - 1) + (-1,))


def _batchnorm(layer, x):
    g = 1 / jnp.sqrt(layer.var + layer.eps)
    if layer.scale is not None:
        g = g * layer.scale
    y = (x - _last(layer.mean, x)) * _last(g, x)
    return y if layer.offset is None else y + _last(layer.offset, x)


def _poly(layer, x):
    return sum(c * x**k for k, c in enumerate(layer.coeffs))


def _pointwise(layer, x):
    if isinstance(layer, BatchNorm):
        return _batchnorm(layer, x)
    if isinstance(layer, Poly):
        return _poly(layer, x)
    if isinstance(layer, Smooth):
        return layer.fn(x)
    raise TypeError(type(layer))


def _dense(layer, x):
    y = jnp.dot(x.reshape(x.shape[0], -1), layer.w, precision=_HIGHEST)
    return y if layer.b is None else y + _last(layer.b, y)


def _window(layer):
    if isinstance(layer, Conv):
        return layer.w.shape[0], layer.w.shape[1], layer.stride
    return layer.window, layer.window, layer.stride


def _valid(layer, x):
    """One Conv or average Pool, VALID."""
    if isinstance(layer, Conv):
        y = lax.conv_general_dilated(
            x, layer.w, (layer.stride,) * 2, "VALID", dimension_numbers=_DIMS, precision=_HIGHEST
        )
        return y if layer.b is None else y + _last(layer.b, y)
    if layer.kind != "avg":
        raise TypeError("the oracle has average pools only")
    q, s = layer.window, layer.stride
    return lax.reduce_window(x, 0.0, lax.add, (1, q, q, 1), (1, s, s, 1), "VALID") / q**2


def true_forward(layers, x):
    """The network as defined, NHWC ``(N, H, W, C)`` -> ``(N, H', W', O)`` or ``(N, O)``."""
    for layer in layers:
        if isinstance(layer, Conv | Pool):
            kh, kw, s = _window(layer)
            pads = layer.padding
            if isinstance(pads, str):
                pads = lax.padtype_to_pads(x.shape[1:3], (kh, kw), (s, s), pads)
            x = _valid(layer, jnp.pad(x, ((0, 0), *pads, (0, 0))))
        elif isinstance(layer, Residual):
            x = true_forward(layer.block, x) + true_forward(layer.shortcut, x)
        elif isinstance(layer, GlobalAvgPool):
            x = x.mean(axis=(1, 2))
        elif isinstance(layer, Flatten):
            x = x.reshape(x.shape[0], -1)
        elif isinstance(layer, Dense):
            x = _dense(layer, x)
        else:
            x = _pointwise(layer, x)
    return x


def _pads_1d(padding, axis, n, k, s):
    if isinstance(padding, str):
        return lax.padtype_to_pads((n,), (k,), (s,), padding)[0]
    return padding[axis]


def _run(layers, x, origin, size):
    """``x``: map whose index 0 is true position ``origin`` (per axis) of a map of true size
    ``size``; a flattened vector has ``origin is None``."""
    for layer in layers:
        if isinstance(layer, Conv | Pool):
            kh, kw, s = _window(layer)
            crop, new_origin, new_size = [], [], []
            for axis, k in enumerate((kh, kw)):
                lo, hi = _pads_1d(layer.padding, axis, size[axis], k, s)
                c = (-(origin[axis] + lo)) % s
                crop.append(c)
                new_origin.append((origin[axis] + c + lo) // s)
                new_size.append((size[axis] + lo + hi - k) // s + 1)
            x = _valid(layer, x[:, crop[0] :, crop[1] :])
            origin, size = tuple(new_origin), tuple(new_size)
        elif isinstance(layer, Residual):
            xb, ob, sb = _run(layer.block, x, origin, size)
            xs, os_, ss = _run(layer.shortcut, x, origin, size)
            assert sb == ss, (sb, ss)
            if ob is None:
                x = xb + xs
            else:
                first = [max(ob[a], os_[a]) for a in range(2)]
                last = [min(ob[a] + xb.shape[1 + a], os_[a] + xs.shape[1 + a]) for a in range(2)]

                def cut(y, o, first=first, last=last):
                    return y[:, first[0] - o[0] : last[0] - o[0], first[1] - o[1] : last[1] - o[1]]

                x = cut(xb, ob) + cut(xs, os_)
                origin = tuple(first)
            size = sb
        elif isinstance(layer, GlobalAvgPool | Flatten | Dense):
            if origin is not None:
                x = true_positions(x, origin, size)
            if isinstance(layer, GlobalAvgPool):
                x = x.mean(axis=(1, 2)) if x.ndim == 4 else x
            elif isinstance(layer, Dense):
                x = _dense(layer, x)
            x = x.reshape(x.shape[0], -1)
            origin, size = None, None
        else:
            x = _pointwise(layer, x)
    return x, origin, size


def true_positions(x, origin, size):
    """The part of a tracked map at true positions ``[0, size)``."""
    top, left = -origin[0], -origin[1]
    assert top >= 0 and left >= 0, origin
    assert top + size[0] <= x.shape[1] and left + size[1] <= x.shape[2], (origin, size, x.shape)
    return x[:, top : top + size[0], left : left + size[1]]


def extended_forward(layers, x, *, origin, input_hw, margin=8):
    """The zero-extended network on ``x`` ``(N, h, w, C)``, whose index 0 is at true input
    position ``origin`` of an ``input_hw`` image (negative: padding).

    Returns:
      ``(y, origin, size)``: ``(N, O)``, None, None for a flattened output; else the output map
      over every position the padded input gives, the true position of its index 0 and the
      true size of the output map.
    """
    x = jnp.pad(x, ((0, 0), (margin, margin), (margin, margin), (0, 0)))
    origin = (origin[0] - margin, origin[1] - margin)
    return _run(layers, x, origin, tuple(input_hw))


def extended_map(layers, x, *, origin, input_hw):
    """The zero-extended network's output at the true positions ``[0, H')`` (or its vector)."""
    y, o, size = extended_forward(layers, x, origin=origin, input_hw=input_hw)
    return y if o is None else true_positions(y, o, size)
