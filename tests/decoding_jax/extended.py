"""Independent numpy oracles for padded networks: the true response of one layer, and the
zero-extended network of the border rule (intermediate paddings replaced by zero-padding the
input image), written with explicit loops and absolute coordinates, not with cnn_layers."""

import numpy as np

from cnn_layers import (
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Pool,
    ReLU,
    Residual,
)


def pads_1d(padding, axis, n, k, s):
    """lax's rule: SAME gives ceil(n / s) outputs, the odd pixel at the bottom/right."""
    if padding == "VALID":
        return 0, 0
    if padding == "SAME":
        out = -(-n // s)
        total = max((out - 1) * s + k - n, 0)
        return total // 2, total - total // 2
    return padding[axis]


def sub_layers(layers, path):
    """The flat list of layers that compute the output of ``path``."""
    path = (path,) if isinstance(path, int) else tuple(path)
    out, level = [], list(layers)
    while len(path) > 1:
        i, which, path = path[0], path[1], path[2:]
        out += level[:i]
        level = list(getattr(level[i], which))
    return out + level[: path[0] + 1]


class Map:
    """An array ``(h, w, c)`` whose index 0 is the true position ``start`` of a map of true
    size ``size`` (positions outside [0, size) belong to the zero-extended network)."""

    def __init__(self, x, start, size):
        self.x, self.start, self.size = x, tuple(start), tuple(size)

    def crop(self, lo, hi):
        i0 = [a - s for a, s in zip(lo, self.start, strict=True)]
        i1 = [b - s for b, s in zip(hi, self.start, strict=True)]
        assert min(i0) >= 0 and i1[0] <= self.x.shape[0] and i1[1] <= self.x.shape[1]
        return self.x[i0[0] : i1[0], i0[1] : i1[1]]


def _window(m: Map, k, s, padding, reduce):
    """A windowed layer evaluated at every true output position its array can feed."""
    out_size, lo, q0, q1 = [], [], [], []
    for a in range(2):
        p = pads_1d(padding, a, m.size[a], k[a], s)
        out_size.append((m.size[a] + p[0] + p[1] - k[a]) // s + 1)
        lo.append(p[0])
        # true output q reads true inputs s q - lo + [0, k): inside the array
        q0.append(-(-(m.start[a] + p[0]) // s))
        q1.append((m.start[a] + p[0] + m.x.shape[a] - k[a]) // s + 1)
    rows = []
    for qy in range(q0[0], q1[0]):
        row = []
        for qx in range(q0[1], q1[1]):
            y, x = s * qy - lo[0] - m.start[0], s * qx - lo[1] - m.start[1]
            row.append(reduce(m.x[y : y + k[0], x : x + k[1]]))
        rows.append(row)
    return Map(np.array(rows), (q0[0], q0[1]), out_size)


def _true(m: Map):
    return m.crop((0, 0), m.size)


def extended_forward(layers, m: Map, *, bias, relu):
    for layer in layers:
        if isinstance(layer, Conv):
            w = np.asarray(layer.w)
            b = np.zeros(w.shape[3]) if layer.b is None or not bias else np.asarray(layer.b)
            m = _window(
                m,
                w.shape[:2],
                layer.stride,
                layer.padding,
                lambda p, w=w, b=b: np.einsum("hwc,hwco->o", p, w) + b,
            )
        elif isinstance(layer, Pool):
            assert layer.kind == "avg"
            k = (layer.window, layer.window)
            m = _window(m, k, layer.stride, layer.padding, lambda p: p.sum((0, 1)) / p[..., 0].size)
        elif isinstance(layer, BatchNorm):
            g = np.asarray(layer.scale) / np.sqrt(np.asarray(layer.var) + layer.eps)
            h = np.asarray(layer.offset) - g * np.asarray(layer.mean)
            m = Map(m.x * g + (h if bias else 0), m.start, m.size)
        elif isinstance(layer, GlobalAvgPool):
            m = Map(_true(m).mean((0, 1))[None, None], (0, 0), (1, 1))
        elif isinstance(layer, Flatten):
            m = Map(_true(m).reshape(1, 1, -1), (0, 0), (1, 1))
        elif isinstance(layer, Dense):
            w = np.asarray(layer.w)
            b = np.zeros(w.shape[1]) if layer.b is None or not bias else np.asarray(layer.b)
            m = Map((_true(m).reshape(-1) @ w + b)[None, None], (0, 0), (1, 1))
        elif isinstance(layer, Residual):
            a = extended_forward(layer.block, m, bias=bias, relu=relu)
            b = extended_forward(layer.shortcut, m, bias=bias, relu=relu)
            lo = [max(a.start[i], b.start[i]) for i in range(2)]
            hi = [min(a.start[i] + a.x.shape[i], b.start[i] + b.x.shape[i]) for i in range(2)]
            m = Map(a.crop(lo, hi) + b.crop(lo, hi), lo, a.size)
        elif isinstance(layer, ReLU):
            m = Map(np.maximum(m.x, 0) if relu else m.x, m.start, m.size)
        else:
            raise TypeError(type(layer))
    return m


def response(layers, image, *, bias=False, relu=False, margin=None):
    """The zero-extended network's response map ``(H', W', K)`` to one image ``(H, W, C)``."""
    margin = sum(image.shape[:2]) if margin is None else margin
    x = np.pad(np.asarray(image, np.float64), ((margin, margin), (margin, margin), (0, 0)))
    m = extended_forward(layers, Map(x, (-margin, -margin), image.shape[:2]), bias=bias, relu=relu)
    return _true(m)
