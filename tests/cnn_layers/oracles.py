"""Brute-force numpy references for cnn_layers, written without its code or lax.

Everything acts on one image ``(H, W, C)`` as float64 numpy. Paddings are resolved here from
lax's rule: SAME gives ``out = ceil(H / s)``, ``total = max((out - 1) s + k - H, 0)`` and puts
``total // 2`` on top (the extra pixel at the bottom).
"""

import math

import jax
import jax.numpy as jnp
import numpy as np

from cnn_layers import (
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Poly,
    Pool,
    ReLU,
    Residual,
    Smooth,
)


def same_pads(n, k, s):
    out = -(-n // s)
    total = max((out - 1) * s + k - n, 0)
    return (total // 2, total - total // 2)


def resolve_pads(padding, hw, k, s):
    """``((top, bottom), (left, right))`` of a ``k = (kh, kw)`` window at stride ``s`` on an
    ``hw`` map."""
    if padding == "VALID":
        return ((0, 0), (0, 0))
    if padding == "SAME":
        return tuple(same_pads(n, kk, s) for n, kk in zip(hw, k, strict=True))
    return tuple(tuple(p) for p in padding)


def out_size(n, k, s, lo, hi):
    return (n + lo + hi - k) // s + 1


def pad(x, pads, value=0.0):
    (t, b), (lft, r) = pads
    out = np.full((x.shape[0] + t + b, x.shape[1] + lft + r, x.shape[2]), value)
    out[t : t + x.shape[0], lft : lft + x.shape[1]] = x
    return out


def conv(x, w, b=None, stride=1, pads=((0, 0), (0, 0))):
    """Cross-correlation of ``(H, W, C)`` with an HWIO kernel, one output pixel and one tap at
    a time."""
    kh, kw, cin, cout = w.shape
    assert x.shape[2] == cin
    xp = pad(x, pads)
    ho = out_size(x.shape[0], kh, stride, *pads[0])
    wo = out_size(x.shape[1], kw, stride, *pads[1])
    out = np.zeros((ho, wo, cout))
    for i in range(ho):
        for j in range(wo):
            acc = np.zeros(cout)
            for u in range(kh):
                for v in range(kw):
                    acc += xp[i * stride + u, j * stride + v] @ w[u, v]
            out[i, j] = acc + (0.0 if b is None else b)
    return out


def pool(x, window, stride, pads, kind):
    """Max pooling pads with -inf; average pooling pads with zeros and divides by window**2."""
    xp = pad(x, pads, -np.inf if kind == "max" else 0.0)
    ho = out_size(x.shape[0], window, stride, *pads[0])
    wo = out_size(x.shape[1], window, stride, *pads[1])
    out = np.zeros((ho, wo, x.shape[2]))
    for i in range(ho):
        for j in range(wo):
            for c in range(x.shape[2]):
                vals = [
                    xp[i * stride + u, j * stride + v, c]
                    for u in range(window)
                    for v in range(window)
                ]
                out[i, j, c] = max(vals) if kind == "max" else sum(vals) / window**2
    return out


def batchnorm(x, layer, bias=True):
    """``scale (x - mean) / sqrt(var + eps) + offset`` per channel; without ``bias`` only the
    gain ``scale / sqrt(var + eps)`` (the shift ``offset - gain mean`` dropped)."""
    c = np.asarray(layer.mean).shape[0]
    scale = np.ones(c) if layer.scale is None else np.asarray(layer.scale, float)
    offset = np.zeros(c) if layer.offset is None else np.asarray(layer.offset, float)
    mean, var = np.asarray(layer.mean, float), np.asarray(layer.var, float)
    out = np.empty_like(x)
    for idx in np.ndindex(x.shape[:-1]):
        for k in range(c):
            gain = scale[k] / math.sqrt(var[k] + layer.eps)
            shift = offset[k] - gain * mean[k] if bias else 0.0
            out[idx + (k,)] = gain * x[idx + (k,)] + shift
    return out


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


NUMPY_FUNCTIONS = {
    jnp.tanh: np.tanh,
    jax.nn.sigmoid: _sigmoid,
    jax.nn.softplus: lambda x: np.log1p(np.exp(x)),
    jax.nn.silu: lambda x: x * _sigmoid(x),
}


def smooth(fn, x):
    """``fn`` elementwise: numpy's own version of the usual activations, else ``fn`` itself
    in float64."""
    if fn in NUMPY_FUNCTIONS:
        return NUMPY_FUNCTIONS[fn](x)
    with jax.enable_x64(True):
        return np.asarray(fn(jnp.asarray(x, jnp.float64)), float)


def poly(x, coeffs):
    coeffs = np.asarray(coeffs, float)
    return sum(c * x**k for k, c in enumerate(coeffs))


def _weights(layer, bias):
    w = np.asarray(layer.w, float)
    b = None if (layer.b is None or not bias) else np.asarray(layer.b, float)
    return w, b


def apply(layer, x, bias=True, relu=True):
    """One layer on one image (a map ``(H, W, C)`` or, after a flatten, a vector ``(D,)``)."""
    if isinstance(layer, Conv):
        w, b = _weights(layer, bias)
        pads = resolve_pads(layer.padding, x.shape[:2], w.shape[:2], layer.stride)
        return conv(x, w, b, layer.stride, pads)
    if isinstance(layer, Pool):
        k = (layer.window, layer.window)
        pads = resolve_pads(layer.padding, x.shape[:2], k, layer.stride)
        return pool(x, layer.window, layer.stride, pads, layer.kind)
    if isinstance(layer, BatchNorm):
        return batchnorm(x, layer, bias)
    if isinstance(layer, GlobalAvgPool):
        return x.sum(axis=(0, 1)) / (x.shape[0] * x.shape[1])
    if isinstance(layer, Flatten):
        return x.reshape(-1)
    if isinstance(layer, Dense):
        w, b = _weights(layer, bias)
        v = x.reshape(-1)
        out = np.array([sum(v[d] * w[d, o] for d in range(v.shape[0])) for o in range(w.shape[1])])
        return out if b is None else out + b
    if isinstance(layer, Residual):
        return run(layer.block, x, bias, relu) + run(layer.shortcut, x, bias, relu)
    if isinstance(layer, ReLU):
        return np.maximum(x, 0.0) if relu else x
    if isinstance(layer, Smooth):
        return smooth(layer.fn, x)
    if isinstance(layer, Poly):
        return poly(x, layer.coeffs)
    raise TypeError(type(layer))


def run(layers, x, bias=True, relu=True):
    for layer in layers:
        x = apply(layer, x, bias, relu)
    return x


def forward(layers, images, bias=True, relu=True):
    """The batch ``(N, H, W, C)``, one image at a time."""
    return np.stack([run(layers, np.asarray(im, float), bias, relu) for im in images])


def upto_layers(layers, path):
    """The flat list of layers that computes ``path``'s output (an int or a path such as
    ``(3, 'block', 1)``)."""
    path = (path,) if isinstance(path, int) else tuple(path)
    out, level = [], list(layers)
    for depth in range(0, len(path), 2):
        i = path[depth]
        if depth + 1 == len(path):
            return out + level[: i + 1]
        out += level[:i]
        level = list(getattr(level[i], path[depth + 1]))
    raise AssertionError(path)


# The zero-extended network of the border rule ------------------------------------------------


def _window(layer):
    if isinstance(layer, Conv):
        w = np.asarray(layer.w)
        return (w.shape[0], w.shape[1]), layer.stride
    return (layer.window, layer.window), layer.stride


def _true(a, start, n):
    """The true positions ``[0, n)`` of an extended map whose index 0 sits at ``start``."""
    (sh, sw), (nh, nw) = start, n
    assert sh <= 0 and sw <= 0 and a.shape[0] >= nh - sh and a.shape[1] >= nw - sw, "margin"
    return a[-sh : -sh + nh, -sw : -sw + nw]


def _extended(layers, a, start, n, bias, relu):
    """``a``: the extended map, its index 0 at true position ``start`` (per axis), ``n`` the
    true map size. Returns the same three after the layers (a vector and None, None after a
    flatten)."""
    for layer in layers:
        if isinstance(layer, Conv | Pool):
            k, s = _window(layer)
            pads = resolve_pads(layer.padding, n, k, s)
            lo = (pads[0][0], pads[1][0])
            crop = [(-(start[i] + lo[i])) % s for i in range(2)]  # align index 0 with a unit
            a = a[crop[0] :, crop[1] :]
            start = tuple(start[i] + crop[i] for i in range(2))
            if isinstance(layer, Conv):
                w, b = _weights(layer, bias)
                a = conv(a, w, b, s)
            else:  # the extended map covers every window: no padding at all
                a = pool(a, layer.window, s, ((0, 0), (0, 0)), layer.kind)
            start = tuple((start[i] + lo[i]) // s for i in range(2))
            n = tuple(out_size(n[i], k[i], s, *pads[i]) for i in range(2))
        elif isinstance(layer, Residual):
            ab, sb, nb = _extended(layer.block, a, start, n, bias, relu)
            as_, ss, ns = _extended(layer.shortcut, a, start, n, bias, relu)
            assert nb == ns, (nb, ns)
            if nb is None:
                a = ab + as_
            else:  # the two paths over their common true positions
                lo = [max(sb[i], ss[i]) for i in range(2)]
                hi = [min(sb[i] + ab.shape[i], ss[i] + as_.shape[i]) for i in range(2)]
                a = (
                    ab[lo[0] - sb[0] : hi[0] - sb[0], lo[1] - sb[1] : hi[1] - sb[1]]
                    + as_[lo[0] - ss[0] : hi[0] - ss[0], lo[1] - ss[1] : hi[1] - ss[1]]
                )
                start = tuple(lo)
            n = nb
        elif isinstance(layer, GlobalAvgPool | Flatten | Dense) and n is not None:
            a = apply(layer, _true(a, start, n), bias, relu)
            start, n = None, None
        else:
            a = apply(layer, a, bias, relu)
    return a, start, n


def margin(layers, m=0):
    """An input margin (pixels on every side) that gives the layers' output a margin ``m``:
    a window ``k``, stride ``s`` and pads ``p`` need ``s m + max(k, p) + s`` (``s`` for the
    alignment crop)."""
    for layer in reversed(layers):
        if isinstance(layer, GlobalAvgPool | Flatten | Dense):
            m = 0
        elif isinstance(layer, Residual):
            m = max(margin(layer.block, m), margin(layer.shortcut, m))
        elif isinstance(layer, Conv | Pool):
            k, s = _window(layer)
            p = 0 if isinstance(layer.padding, str) else max(max(q) for q in layer.padding)
            m = s * m + max(max(k), p) + s
    return m


def zero_extended(layers, image, bias=True, relu=True):
    """The border rule's network on one image: every Conv and Pool runs VALID on the image
    zero-padded by a generous margin, each map's index 0 tracked in true coordinates (a layer
    of stride ``s`` and top pad ``lo`` maps true position ``q`` to input position
    ``s q - lo``), residual paths added over their common positions, and each map cropped to
    its true positions ``[0, H)`` before a GlobalAvgPool, Flatten, Dense and at the end."""
    image = np.asarray(image, float)
    m = margin(layers)
    a = pad(image, ((m, m), (m, m)))
    a, start, n = _extended(layers, a, (-m, -m), image.shape[:2], bias, relu)
    return a if n is None else _true(a, start, n)
