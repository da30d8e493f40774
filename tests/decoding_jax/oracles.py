"""Brute-force numpy oracles (explicit loops over pixels), independent of decoding_jax's code."""

import numpy as np

from decoding_jax.layers import Conv, Pool, ReLU


def kernel(method, t):
    t = abs(t)
    if method == "nearest":
        return 1.0 if -0.5 <= t < 0.5 else 0.0
    if method == "bilinear":
        return max(1.0 - t, 0.0)
    a = -0.5
    if t <= 1:
        return (a + 2) * t**3 - (a + 3) * t**2 + 1
    if t < 2:
        return a * t**3 - 5 * a * t**2 + 8 * a * t - 4 * a
    return 0.0


def imresize(x, factor, method):
    """MATLAB-style upscaling of a 2-D array, one output pixel at a time."""
    h, w = x.shape
    out = np.zeros((h * factor, w * factor))
    for oy in range(h * factor):
        for ox in range(w * factor):
            uy, ux = (oy + 0.5) / factor - 0.5, (ox + 0.5) / factor - 0.5
            if method == "nearest":
                # box kernel: the input pixel j with -1/2 <= u - j < 1/2
                jy = min(max(int(np.floor(uy + 0.5)), 0), h - 1)
                jx = min(max(int(np.floor(ux + 0.5)), 0), w - 1)
                out[oy, ox] = x[jy, jx]
                continue
            acc = norm = 0.0
            for jy in range(int(np.floor(uy)) - 3, int(np.floor(uy)) + 4):
                for jx in range(int(np.floor(ux)) - 3, int(np.floor(ux)) + 4):
                    k = kernel(method, uy - jy) * kernel(method, ux - jx)
                    acc += k * x[min(max(jy, 0), h - 1), min(max(jx, 0), w - 1)]
                    norm += k
            out[oy, ox] = acc / norm
    return out


def _coordinate(v, factor, window):
    """Where output pixel v of an unpooling sits on the pooled grid: pooled value q is at the
    centre of its window, factor q + (window - 1) / 2."""
    return (v - (window - 1) / 2) / factor


def unpool_1d(x, factor, window, method):
    """1-D unpooling of a pooling with ``window`` and stride ``factor``, one pixel at a time."""
    n = len(x)
    out = np.zeros(factor * (n - 1) + window)
    for v in range(len(out)):
        if method == "transpose":
            out[v] = sum(x[q] for q in range(n) if 0 <= v - factor * q < window)
            continue
        u = _coordinate(v, factor, window)
        if method == "nearest":
            out[v] = x[min(max(int(np.floor(u + 0.5)), 0), n - 1)]
            continue
        acc = norm = 0.0
        for j in range(int(np.floor(u)) - 3, int(np.floor(u)) + 4):
            acc += kernel(method, u - j) * x[min(max(j, 0), n - 1)]
            norm += kernel(method, u - j)
        out[v] = acc / norm
    return out


def unpool_2d(x, factor, window, method):
    """2-D interpolating unpooling with the separable kernel, one output pixel at a time."""
    h, w = x.shape
    out = np.zeros((factor * (h - 1) + window, factor * (w - 1) + window))
    for oy in range(out.shape[0]):
        for ox in range(out.shape[1]):
            uy, ux = _coordinate(oy, factor, window), _coordinate(ox, factor, window)
            acc = norm = 0.0
            for jy in range(int(np.floor(uy)) - 3, int(np.floor(uy)) + 4):
                for jx in range(int(np.floor(ux)) - 3, int(np.floor(ux)) + 4):
                    k = kernel(method, uy - jy) * kernel(method, ux - jx)
                    acc += k * x[min(max(jy, 0), h - 1), min(max(jx, 0), w - 1)]
                    norm += k
            out[oy, ox] = acc / norm
    return out


def conv(x, w, b=None, stride=1):
    """VALID cross-correlation of one (H, W, C) image with HWIO filters."""
    kh, kw, cin, cout = w.shape
    ho, wo = (x.shape[0] - kh) // stride + 1, (x.shape[1] - kw) // stride + 1
    out = np.zeros((ho, wo, cout))
    for i in range(ho):
        for j in range(wo):
            patch = x[i * stride : i * stride + kh, j * stride : j * stride + kw, :]
            for k in range(cout):
                out[i, j, k] = np.sum(patch * w[:, :, :, k]) + (0.0 if b is None else b[k])
    return out


def pool(x, size, kind):
    h, w, c = x.shape
    out = np.zeros((h // size, w // size, c))
    for i in range(h // size):
        for j in range(w // size):
            win = x[i * size : (i + 1) * size, j * size : (j + 1) * size, :]
            out[i, j] = win.max(axis=(0, 1)) if kind == "max" else win.mean(axis=(0, 1))
    return out


def forward(layers, x, upto, bias=True):
    for lyr in layers[: upto + 1]:
        if isinstance(lyr, Conv):
            b = None if (lyr.b is None or not bias) else np.asarray(lyr.b)
            x = conv(x, np.asarray(lyr.w), b, lyr.stride)
        elif isinstance(lyr, Pool):
            x = pool(x, lyr.size, lyr.kind)
        else:
            x = np.maximum(x, 0)
    return x


def substitute(d, w, stride=1):
    """The paper's subst: place filter channel (c, j) at every pixel of decoded channel j,
    scaled by that pixel, summing overlaps: (h, w, J) -> (s(h-1)+kh, s(w-1)+kw, C)."""
    kh, kw, cin, _ = w.shape
    h, wd, nj = d.shape
    out = np.zeros((stride * (h - 1) + kh, stride * (wd - 1) + kw, cin))
    for j in range(nj):
        for y in range(h):
            for x in range(wd):
                out[y * stride : y * stride + kh, x * stride : x * stride + kw, :] += (
                    d[y, x, j] * w[:, :, :, j]
                )
    return out


def decode(layers, layer, method, avg_weighting=False):
    """The paper's filter_decoding, one filter at a time: (n_filters, h, w, c_in)."""
    w_top = np.asarray(layers[layer].w)
    result = []
    for k in range(w_top.shape[3]):
        d = w_top[:, :, :, k]
        for lyr in reversed(layers[:layer]):
            if isinstance(lyr, Pool):
                d = np.stack(
                    [imresize(d[:, :, c], lyr.size, method) for c in range(d.shape[2])], -1
                )
                if avg_weighting and lyr.kind == "avg":
                    d = d / lyr.size**2
            elif isinstance(lyr, Conv):
                d = substitute(d, np.asarray(lyr.w), lyr.stride)
        result.append(d)
    return np.stack(result)


def correlate(images, filters, stride):
    """(N, H, W, C) images against (K, h, w, C) filters -> (N, H', W', K)."""
    return np.stack([conv(im, np.transpose(filters, (1, 2, 3, 0)), None, stride) for im in images])


def deconvnet(layers, layer, image, signal):
    """Zeiler-Fergus projection of one top signal (H', W', K) with explicit loops."""
    inputs, x = [], image
    for lyr in layers[: layer + 1]:
        inputs.append(x)
        x = forward([lyr], x, 0)
    r = signal
    for lyr, x_in in zip(reversed(layers[: layer + 1]), reversed(inputs), strict=True):
        if isinstance(lyr, ReLU):
            r = np.maximum(r, 0)
        elif isinstance(lyr, Conv):
            w = np.asarray(lyr.w)
            kh, kw, cin, cout = w.shape
            out = np.zeros(x_in.shape)
            s = lyr.stride
            for i in range(r.shape[0]):
                for j in range(r.shape[1]):
                    for k in range(cout):
                        out[i * s : i * s + kh, j * s : j * s + kw, :] += r[i, j, k] * w[..., k]
            r = out
        else:
            s = lyr.size
            out = np.zeros(x_in.shape)
            for i in range(r.shape[0]):
                for j in range(r.shape[1]):
                    for c in range(r.shape[2]):
                        win = x_in[i * s : (i + 1) * s, j * s : (j + 1) * s, c]
                        if lyr.kind == "max":
                            yy, xx = np.unravel_index(np.argmax(win), win.shape)
                            out[i * s + yy, j * s + xx, c] = r[i, j, c]
                        else:
                            out[i * s : (i + 1) * s, j * s : (j + 1) * s, c] = r[i, j, c] / s**2
            r = out
    return r
