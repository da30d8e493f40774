"""The walk over a layer list that every lens shares: checks, map shapes, paddings, geometry.

:func:`describe` visits every layer (nested residual paths included) with the shape of the map
it receives, checks that it fits (channels chain, windows fit, residual paths agree), resolves
its padding to explicit pixels and records its window and stride. Map sizes may be unknown
(``input_shape=None``); whatever depends on them is then None and a lens that needs it asks
for ``input_shape``.
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

from cnn_layers._layers import (
    LAYER_TYPES,
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Poly,
    Pool,
    Residual,
    _is_int,
    _shape,
)

__all__ = ["LayerInfo", "MapShape", "describe", "layer_name", "type_names"]


class MapShape(NamedTuple):
    """The map between two layers: ``(h, w, c)`` (None where unknown) and whether it has been
    flattened to a vector (by Flatten, GlobalAvgPool or Dense)."""

    h: int | None
    w: int | None
    c: int | None
    flat: bool = False

    def __str__(self) -> str:
        dims = "x".join("?" if d is None else str(d) for d in (self.h, self.w, self.c))
        return f"{dims}{' (flattened)' if self.flat else ''}"


class LayerInfo(NamedTuple):
    """One layer as the walk saw it.

    Attributes:
      layer: the layer.
      name: where it sits, e.g. ``'layers[3]'`` or ``'layers[3].block[1]'``.
      path: its path, e.g. ``(3,)`` or ``(3, 'block', 1)``.
      in_shape, out_shape: the :class:`MapShape` it receives and gives.
      window: ``(kh, kw)`` input pixels one output unit reads (kernel, pool window, whole map
        for GlobalAvgPool and Dense); ``(1, 1)`` for pointwise layers; None when unknown.
      stride: its stride (1 for pointwise layers).
      pads: ``((top, bottom), (left, right))`` resolved padding; None when unknown (SAME with
        stride > 1 on a map of unknown size).
      block, shortcut: the walks of a Residual's paths (None for other layers).
    """

    layer: Any
    name: str
    path: tuple
    in_shape: MapShape
    out_shape: MapShape
    window: tuple[int, int] | None
    stride: int
    pads: tuple[tuple[int, int], tuple[int, int]] | None
    block: tuple | None = None
    shortcut: tuple | None = None


def type_names() -> str:
    return ", ".join(t.__name__ for t in LAYER_TYPES)


def layer_name(prefix: str, path: tuple) -> str:
    name = prefix
    for p in path:
        name += f".{p}" if isinstance(p, str) else f"[{p}]"
    return name


def _pads_1d(padding, axis: int, size: int | None, k: int, s: int):
    """Explicit ``(lo, hi)`` of one axis, as ``lax.padtype_to_pads``."""
    if padding == "VALID":
        return (0, 0)
    if padding == "SAME":
        if s == 1:
            return ((k - 1) // 2, k - 1 - (k - 1) // 2)
        if size is None:
            return None
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        return (total // 2, total - total // 2)
    return padding[axis]


def _windowed(info_name, kind, in_shape, k, s, padding):
    pads = tuple(
        _pads_1d(padding, a, n, kk, s)
        for a, (n, kk) in enumerate(zip(in_shape[:2], k, strict=True))
    )
    out = []
    for n, kk, p in zip(in_shape[:2], k, pads, strict=True):
        if n is None or p is None:
            out.append(None)
            continue
        if n + p[0] + p[1] < kk:
            raise ValueError(
                f"{info_name} ({kind}): its {k[0]}x{k[1]} window is larger than its "
                f"{in_shape.h}x{in_shape.w} input map (padding {padding!r})"
            )
        out.append((n + p[0] + p[1] - kk) // s + 1)
    return (None if None in pads else pads), out


def _check_channels(name, kind, expected, got):
    if got is not None and expected != got:
        raise ValueError(
            f"{name} ({kind}) expects {expected} input channels but the layers below it give "
            f"{got} (mismatched channel counts)"
        )


def _walk(layers, in_shape: MapShape, prefix: str, base: tuple) -> tuple[tuple, MapShape]:
    if not isinstance(layers, list | tuple):
        raise TypeError(
            f"{layer_name(prefix, base) if base else prefix} must be a list of layers, got "
            f"{type(layers).__name__}"
        )
    infos, shape = [], in_shape
    for i, layer in enumerate(layers):
        path = base + (i,)
        name = layer_name(prefix, path)
        info = _step(layer, shape, name, path, prefix)
        infos.append(info)
        shape = info.out_shape
    return tuple(infos), shape


# The array fields of each layer type: (field, required). The constructors accept any leaf
# (JAX rebuilds layers with placeholder leaves); the walk insists on arrays.
_ARRAY_FIELDS = {
    Conv: (("w", True), ("b", False)),
    Dense: (("w", True), ("b", False)),
    BatchNorm: (("mean", True), ("var", True), ("scale", False), ("offset", False)),
    Poly: (("coeffs", True),),
}


def _check_arrays(layer, name: str, kind: str) -> None:
    for field, required in _ARRAY_FIELDS.get(type(layer), ()):
        value = getattr(layer, field)
        if _shape(value) is None and (required or value is not None):
            what = "an array" if required else "None or an array"
            raise TypeError(
                f"{name} ({kind}): {field} must be {what} (jax or numpy), got "
                f"{type(value).__name__}"
            )


def _step(layer, shape: MapShape, name: str, path: tuple, prefix: str) -> LayerInfo:
    kind = type(layer).__name__
    if not isinstance(layer, LAYER_TYPES):
        raise TypeError(f"{name} must be one of the layer types {type_names()}; got {kind}")
    _check_arrays(layer, name, kind)
    # Flatten on a vector is the identity (PyTorch's habit: global pool, flatten, linear)
    spatial = isinstance(layer, Conv | Pool | GlobalAvgPool | Residual)
    if spatial and shape.flat:
        raise ValueError(
            f"{name} ({kind}) needs a spatial map, but the layers below it flattened the map "
            f"to a vector ({shape})"
        )
    if isinstance(layer, Conv):
        kh, kw, cin, cout = _shape(layer.w)
        _check_channels(name, kind, cin, shape.c)
        pads, (h, w) = _windowed(name, kind, shape, (kh, kw), layer.stride, layer.padding)
        return LayerInfo(
            layer, name, path, shape, MapShape(h, w, cout), (kh, kw), layer.stride, pads
        )
    if isinstance(layer, Pool):
        k = (layer.window, layer.window)
        pads, (h, w) = _windowed(name, kind, shape, k, layer.stride, layer.padding)
        return LayerInfo(layer, name, path, shape, MapShape(h, w, shape.c), k, layer.stride, pads)
    if isinstance(layer, GlobalAvgPool):
        window = None if None in (shape.h, shape.w) else (shape.h, shape.w)
        out = MapShape(1, 1, shape.c, True)
        return LayerInfo(layer, name, path, shape, out, window, 1, ((0, 0), (0, 0)))
    if isinstance(layer, Flatten):
        out = shape._replace(flat=True)
        return LayerInfo(layer, name, path, shape, out, (1, 1), 1, ((0, 0), (0, 0)))
    if isinstance(layer, Dense):
        d, o = _shape(layer.w)
        window = None if None in (shape.h, shape.w) else (shape.h, shape.w)
        known = None not in (shape.h, shape.w, shape.c)
        if known and shape.h * shape.w * shape.c != d:
            raise ValueError(
                f"{name} (Dense) has {d} input features but the map below it has "
                f"{shape.h}*{shape.w}*{shape.c} = {shape.h * shape.w * shape.c} values ({shape})"
            )
        if not known and shape.c is not None and d % shape.c:
            raise ValueError(
                f"{name} (Dense) has {d} input features, not a multiple of the {shape.c} "
                f"channels below it"
            )
        out = MapShape(1, 1, o, True)
        return LayerInfo(layer, name, path, shape, out, window, 1, ((0, 0), (0, 0)))
    if isinstance(layer, BatchNorm):
        if shape.flat and (shape.h, shape.w) != (1, 1):  # e.g. a BatchNorm1d over H W C
            raise ValueError(
                f"{name} (BatchNorm) follows a Flatten of a {shape} map: its features are "
                f"positions, not channels; put the BatchNorm before the Flatten"
            )
        _check_channels(name, kind, layer.channels, shape.c)
        c = layer.channels if shape.c is None else shape.c
        out = shape._replace(c=c)
        return LayerInfo(layer, name, path, shape, out, (1, 1), 1, ((0, 0), (0, 0)))
    if isinstance(layer, Residual):
        block, b_out = _walk(layer.block, shape, prefix, path + ("block",))
        shortcut, s_out = _walk(layer.shortcut, shape, prefix, path + ("shortcut",))
        mismatch = [
            f
            for f, x, y in zip(("h", "w", "c", "flat"), b_out, s_out, strict=True)
            if x is not None and y is not None and x != y
        ]
        if mismatch:
            raise ValueError(
                f"{name} (Residual): its block gives a {b_out} map but its shortcut gives "
                f"{s_out}; both paths must give the same shape"
            )
        out = MapShape(*(x if x is not None else y for x, y in zip(b_out, s_out, strict=True)))
        return LayerInfo(layer, name, path, shape, out, None, 1, None, block, shortcut)
    return LayerInfo(layer, name, path, shape, shape, (1, 1), 1, ((0, 0), (0, 0)))


def _input_map(input_shape) -> MapShape:
    if input_shape is None:
        return MapShape(None, None, None)
    shape = tuple(input_shape)
    if len(shape) != 3 or not all(_is_int(d) and d >= 1 for d in shape):
        raise ValueError(f"input_shape must be (H, W, C) of positive ints, got {input_shape!r}")
    return MapShape(*map(int, shape))


def describe(
    layers: Sequence[Any], input_shape: tuple[int, int, int] | None = None
) -> tuple[LayerInfo, ...]:
    """Walks a layer list and checks it: map shapes, resolved paddings, windows, strides.

    Args:
      layers: the layer list (input first).
      input_shape: ``(H, W, C)`` of the network input, or None (sizes then stay unknown
        where they depend on it).

    Returns:
      One :class:`LayerInfo` per top-level layer (a Residual's carries its paths' walks).

    Raises:
      TypeError: an element that is not a layer of the vocabulary, or a layer whose weights
        or statistics are not arrays.
      ValueError: channels that do not chain, a window larger than its map, a Dense whose
        input size is not the map's, a layer that needs a map after a flatten, residual paths
        of different shapes, a bad ``input_shape``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from cnn_layers import Conv, Pool
      >>> infos = describe([Conv(jnp.ones((3, 3, 1, 4)), padding="SAME"), Pool(2)], (28, 28, 1))
      >>> [str(i.out_shape) for i in infos], infos[0].pads
      (['28x28x4', '14x14x4'], ((1, 1), (1, 1)))
    """
    if not isinstance(layers, list | tuple) or not layers:
        got = repr(layers) if isinstance(layers, list | tuple) else f"a {type(layers).__name__}"
        raise ValueError(f"layers must be a non-empty list of layers, got {got}")
    infos, _ = _walk(layers, _input_map(input_shape), "layers", ())
    return infos
