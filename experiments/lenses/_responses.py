"""The response engine of the decoding experiments: network responses at several layers,
decoded responses of several filter banks, and deconvnet estimates, each over a test set in
padded batches so that every function compiles once."""

import functools
from collections.abc import Callable, Sequence

import jax
import jax.numpy as jnp
import numpy as np

import decoding_jax as dj


def batched(fn: Callable, images: np.ndarray, batch_size: int):
    """``fn`` (arrays or a pytree of arrays out) over ``images`` in padded batches of
    ``batch_size``, so that it compiles once; the outputs are concatenated on the host."""
    n = len(images)
    batch_size = max(1, min(batch_size, n))
    out = []
    for start in range(0, n, batch_size):
        chunk = images[start : start + batch_size]
        keep = len(chunk)
        if keep < batch_size:
            pad = np.zeros((batch_size - keep, *chunk.shape[1:]), chunk.dtype)
            chunk = np.concatenate([chunk, pad])
        out.append(jax.tree.map(lambda a: np.asarray(a)[:keep], fn(chunk)))  # noqa: B023
    return jax.tree.map(lambda *parts: np.concatenate(parts), *out)


@functools.partial(jax.jit, static_argnames=("upto",))
def forward_at(layers, images, *, upto):
    return dj.forward(layers, images, upto=upto)


@functools.partial(jax.jit, static_argnames=("stride",))
def _decoded_response(images, decoded, *, stride):
    return dj.decoded_response(images, decoded, stride=stride)


@functools.partial(jax.jit, static_argnames=("normalize",))
def response_error(net_response, decoded_response, *, normalize):
    return dj.response_error(net_response, decoded_response, normalize=normalize)


@functools.partial(jax.jit, static_argnames=("methods", "indices"))
def decode_all(layers, *, methods, indices):
    """``{method: {layer index: decoded filters}}`` in one compiled program."""
    return {m: {i: dj.decode(layers, i, unpool=m) for i in indices} for m in methods}


@functools.partial(jax.jit, static_argnames=("uptos",))
def _forward_many(layers, images, *, uptos):
    return tuple(dj.forward(layers, images, upto=i) for i in uptos)  # XLA shares the prefix


def network_responses(
    layers, images: np.ndarray, uptos: Sequence[int], batch_size: int
) -> dict[int, np.ndarray]:
    """The real network's responses at ``layers[i]`` for ``i`` in ``uptos`` (with biases, the
    pools and the ReLUs below ``i``)."""
    uptos = tuple(sorted(set(uptos)))
    out = batched(lambda x: _forward_many(layers, x, uptos=uptos), images, batch_size)
    return dict(zip(uptos, out, strict=True))


def decoded_responses(
    images: np.ndarray, decoded: dict[str, np.ndarray], stride: int, batch_size: int
) -> dict[str, np.ndarray]:
    """The decoded responses of several filter banks of one layer (one correlation)."""
    names = list(decoded)
    bank = np.concatenate([decoded[m] for m in names])
    out = batched(lambda x: _decoded_response(x, bank, stride=stride), images, batch_size)
    splits = np.cumsum([len(decoded[m]) for m in names])[:-1]
    return dict(zip(names, np.split(out, splits, axis=-1), strict=True))


def _deconvnet_estimate(layers, layer: int, rf: tuple[int, int], image):
    """One image's deconvnet estimate of the response at ``layer`` (see the module docstring)."""
    response = dj.forward(layers, image[None], upto=layer)[0]
    hh, ww, k = response.shape
    stride = dj.total_stride(layers, layer)
    pos = jnp.argmax(response.reshape(hh * ww, k), axis=0)  # strongest position of each unit
    impulse = jax.nn.one_hot(pos, hh * ww, dtype=response.dtype)  # (K, P)
    eye = jnp.eye(k, dtype=response.dtype)
    signal = (impulse[:, :, None] * eye[:, None, :]).reshape(k, hh, ww, k)
    proj = dj.deconvnet(layers, layer, image, signal=signal)  # (K, H, W, C)

    def cut(p, q):
        start = (stride * (q // ww), stride * (q % ww), 0)
        return jax.lax.dynamic_slice(p, start, (*rf, p.shape[-1]))

    filters = jax.vmap(cut)(proj, pos)  # (K, h, w, C)
    return dj.decoded_response(image[None], filters, stride=stride)[0]


@functools.partial(jax.jit, static_argnames=("layer_rfs",))
def _deconvnet_batch(layers, images, *, layer_rfs):
    return tuple(
        jax.vmap(functools.partial(_deconvnet_estimate, layers, layer, rf))(images)
        for layer, rf in layer_rfs
    )


def deconvnet_responses(
    layers, layer_rfs: Sequence[tuple[int, tuple[int, int]]], images, batch_size: int
) -> dict[int, np.ndarray]:
    """The deconvnet estimates of the responses of ``images`` at each ``(layer, rf)``."""
    layer_rfs = tuple((int(i), tuple(int(v) for v in rf)) for i, rf in layer_rfs)
    out = batched(lambda x: _deconvnet_batch(layers, x, layer_rfs=layer_rfs), images, batch_size)
    return {i: o for (i, _), o in zip(layer_rfs, out, strict=True)}


def place_at_receptive_field(
    filters: np.ndarray, image_shape: Sequence[int], out_shape: Sequence[int], stride: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """Blank images ``(K, H, W, C)`` holding each filter at the centre output's receptive field."""
    k, h, w, c = filters.shape
    p0 = (out_shape[0] // 2, out_shape[1] // 2)
    canvas = np.zeros((k, *image_shape), filters.dtype)
    y, x = stride * p0[0], stride * p0[1]
    canvas[:, y : y + h, x : x + w, :] = filters
    return canvas, p0


def layer_shape(layers, image_shape: Sequence[int], layer: int) -> tuple[int, ...]:
    x = jax.ShapeDtypeStruct((1, *image_shape), jnp.float32)
    return jax.eval_shape(lambda z: dj.forward(layers, z, upto=layer), x).shape[1:]
