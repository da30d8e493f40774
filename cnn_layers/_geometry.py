"""Paths to nested layers, and the receptive field of a unit: size, stride, offset."""

from collections.abc import Sequence
from typing import Any, NamedTuple

from cnn_layers._describe import LayerInfo, MapShape, describe, layer_name
from cnn_layers._layers import LAYER_TYPES, Residual, _is_int

__all__ = ["Geometry", "chain", "geometry", "layer_paths", "normalize_path"]


class Geometry(NamedTuple):
    """Where one output unit of a layer looks in the network input.

    Unit ``p`` of the layer reads the input pixels ``[stride p - offset, stride p - offset +
    size)`` along each axis (the input zero-padded where that range leaves the image).

    Attributes:
      size: ``(R_h, R_w)``, the receptive field (the frame of a decoded filter or kernel).
      stride: the total stride ``S``.
      offset: ``(O_h, O_w)``, the total padding above/left of unit 0; None when unknown.
      in_shape: the network input's :class:`~cnn_layers.MapShape`.
      out_shape: the layer's output :class:`~cnn_layers.MapShape`.
    """

    size: tuple[int, int]
    stride: int
    offset: tuple[int, int] | None
    in_shape: MapShape
    out_shape: MapShape

    @property
    def padding(self) -> tuple[tuple[int, int], tuple[int, int]] | None:
        """``((top, bottom), (left, right))``: padding the image by this and correlating it
        with a ``size`` filter at ``stride`` (VALID) gives exactly the layer's output map; a
        negative value crops. None when a size or the offset is unknown."""
        ins, outs = self.in_shape, self.out_shape
        if self.offset is None or None in (ins.h, ins.w, outs.h, outs.w):
            return None
        pads = []  # a flattened map keeps its (h, w); GlobalAvgPool and Dense give (1, 1)
        for n, m, r, o in zip(
            (ins.h, ins.w), (outs.h, outs.w), self.size, self.offset, strict=True
        ):
            pads.append((o, (m - 1) * self.stride + r - n - o))
        return tuple(pads)


def normalize_path(path, name: str = "layer") -> tuple:
    """``3`` -> ``(3,)``; a tuple of ints and ``'block'`` / ``'shortcut'`` stays a tuple
    (``name``: the argument, for the error)."""
    if _is_int(path):
        return (int(path),)
    ok = (
        isinstance(path, tuple | list)
        and len(path) % 2 == 1
        and all(
            (_is_int(p) if i % 2 == 0 else p in ("block", "shortcut")) for i, p in enumerate(path)
        )
    )
    if not ok:
        raise TypeError(
            f"{name} must be an int index into layers or a path into residual blocks such as "
            f"(3, 'block', 1) or (3, 'shortcut', 0); got {path!r}"
        )
    return tuple(int(p) if _is_int(p) else p for p in path)


def chain(infos: Sequence[LayerInfo], path, *, name: str = "layer") -> tuple[LayerInfo, ...]:
    """The layers that compute ``path``'s output, input first, ending with that layer: the
    layers before it and, for a layer inside a residual path, the layers before the Residual
    followed by that path's layers up to it."""
    if not isinstance(infos, tuple | list) or not all(isinstance(i, LayerInfo) for i in infos):
        raise TypeError(
            f"infos must be the LayerInfo tuple of cnn_layers.describe(layers), got "
            f"{type(infos).__name__} of {sorted({type(i).__name__ for i in infos})}"
            if isinstance(infos, tuple | list)
            else f"infos must be the LayerInfo tuple of cnn_layers.describe(layers), got "
            f"{type(infos).__name__}"
        )
    path = normalize_path(path, name)
    out, level, where = [], tuple(infos), "layers"
    for depth in range(0, len(path), 2):
        i = path[depth]
        if not 0 <= i < len(level):
            raise ValueError(
                f"{name} must be a 0-based index in [0, {len(level) - 1}] of the "
                f"{len(level)} layers of {where}, got {i} (path {path!r})"
            )
        if depth + 1 == len(path):
            return tuple(out) + level[: i + 1]
        info = level[i]
        if not isinstance(info.layer, Residual):
            raise ValueError(
                f"{name} path {path!r} goes into {info.name}, which is a "
                f"{type(info.layer).__name__}, not a Residual"
            )
        out.extend(level[:i])
        level = info.block if path[depth + 1] == "block" else info.shortcut
        where = layer_name("layers", path[: depth + 2])
        if not level:
            raise ValueError(f"{name} path {path!r}: {where} is empty (the identity)")
    raise AssertionError("unreachable")


def layer_paths(layers: Sequence[Any], types: Sequence[type] | None = None) -> list[tuple]:
    """The path of every layer (of ``types``, default all), nested ones included, in the order
    they run: a Residual's block, then its shortcut, then the Residual itself.

    Examples:
      >>> import jax.numpy as jnp
      >>> from cnn_layers import Conv, ReLU, Residual
      >>> c = Conv(jnp.ones((3, 3, 2, 2)), padding="SAME")
      >>> layer_paths([c, Residual([c, ReLU(), c]), ReLU()], types=(Conv,))
      [(0,), (1, 'block', 0), (1, 'block', 2)]
    """
    if types is None:
        types = LAYER_TYPES
    elif not isinstance(types, tuple | list) or not all(t in LAYER_TYPES for t in types):
        raise TypeError(
            f"types must be a tuple of layer classes ({', '.join(t.__name__ for t in LAYER_TYPES)})"
            f", got {types!r}"
        )
    types = tuple(types)
    out = []

    def visit(level, base):
        for i, layer in enumerate(level):
            path = base + (i,)
            if isinstance(layer, Residual):
                visit(layer.block, path + ("block",))
                visit(layer.shortcut, path + ("shortcut",))
            if isinstance(layer, types):
                out.append(path)

    if not isinstance(layers, list | tuple):
        raise TypeError(f"layers must be a list of layers, got {type(layers).__name__}")
    visit(layers, ())
    return out


def _needs(info: LayerInfo, what: str) -> ValueError:
    return ValueError(
        f"{info.name} ({type(info.layer).__name__}): its {what} depends on the size of its "
        f"input map; pass input_shape=(H, W, C) of the network input"
    )


def _field(infos: Sequence[LayerInfo]):
    """``(R, S, O)``: R and O per axis (O entries may be None), S the total stride."""
    r, s, o = [1, 1], 1, [0, 0]
    for info in infos:
        if isinstance(info.layer, Residual):
            (rb, sb, ob), (rs, ss, os_) = _field(info.block), _field(info.shortcut)
            if sb != ss:
                raise ValueError(
                    f"{info.name} (Residual): its block has stride {sb} but its shortcut "
                    f"{ss}; both paths must have the same stride"
                )
            step_r, step_o = [], []
            for a in range(2):
                if ob[a] is None or os_[a] is None:
                    if (ob[a], rb[a]) != (os_[a], rs[a]):
                        raise _needs(info, "alignment of the two paths")
                    step_r.append(rb[a])
                    step_o.append(None)
                    continue
                top = max(ob[a], os_[a])
                step_r.append(top + max(rb[a] - ob[a], rs[a] - os_[a]))
                step_o.append(top)
            step_s = sb
        else:
            if info.window is None:
                raise _needs(info, "window")
            step_r, step_s = list(info.window), info.stride
            step_o = [None, None] if info.pads is None else [info.pads[0][0], info.pads[1][0]]
        for a in range(2):
            o[a] = None if o[a] is None or step_o[a] is None else o[a] + s * step_o[a]
            r[a] = r[a] + s * (step_r[a] - 1)
        s *= step_s
    return r, s, o


def field(infos: Sequence[LayerInfo]) -> tuple[tuple[int, int], int, tuple[int, int] | None]:
    """``(size, stride, offset)`` of the last layer of a chain of walked layers."""
    r, s, o = _field(infos)
    return tuple(r), s, (None if None in o else tuple(o))


def geometry(
    layers: Sequence[Any], layer=None, *, input_shape: tuple[int, int, int] | None = None
) -> Geometry:
    """The receptive field of one unit of ``layer``: size, total stride and offset.

    Per axis, from ``R = 1, S = 1, O = 0`` at the input, a layer with window ``k``, stride
    ``s`` and top padding ``lo`` gives

    .. math:: R \\leftarrow R + S (k - 1), \\quad O \\leftarrow O + S\\, lo, \\quad
       S \\leftarrow S s,

    and a Residual gives the union of its two paths' fields (their offsets aligned). Dense and
    GlobalAvgPool read their whole input map. With SAME or explicit padding the field of a
    unit near the border reaches outside the image, where the lenses see zeros (see
    :func:`decoding_jax.decode`).

    Args:
      layers: the layer list.
      layer: an index or path (see :func:`chain`); None for the last layer.
      input_shape: ``(H, W, C)`` of the input; needed for a Dense or GlobalAvgPool below the
        layer, for SAME padding with stride > 1, and for :attr:`Geometry.padding`.

    Returns:
      A :class:`Geometry`.

    Examples:
      >>> import jax.numpy as jnp
      >>> from cnn_layers import Conv, Pool
      >>> same = Conv(jnp.ones((3, 3, 1, 4)), padding="SAME")
      >>> net = [same, Pool(2), Conv(jnp.ones((3, 3, 4, 8)))]
      >>> g = geometry(net, input_shape=(28, 28, 1))
      >>> g.size, g.stride, g.offset, g.padding
      ((8, 8), 2, (1, 1), ((1, 1), (1, 1)))
    """
    infos = describe(layers, input_shape)
    sub = infos if layer is None else chain(infos, layer)
    size, stride, offset = field(sub)
    return Geometry(size, stride, offset, infos[0].in_shape, sub[-1].out_shape)
