"""Layer lists for the Volterra lens: the receptive field, and the checks `from_layers` runs.

The layers are those of :mod:`cnn_layers` (``Conv``, ``BatchNorm``, ``Pool``, ``GlobalAvgPool``,
``Flatten``, ``Dense``, ``Poly``, ``Smooth``, ``Residual``; ``ReLU`` and max pools only for the
receptive field); shapes, paddings, windows and offsets come from :func:`cnn_layers.describe`
and :func:`cnn_layers.geometry`.
"""

import dataclasses
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from cnn_layers import (
    BatchNorm,
    Conv,
    Dense,
    GlobalAvgPool,
    LayerInfo,
    Poly,
    Pool,
    ReLU,
    Residual,
    Smooth,
    describe,
    geometry,
)


class ReceptiveField(NamedTuple):
    """Receptive field of a layer stack: ``(kh, kw, channels, stride)``; ``.shape`` is the
    ``rf_shape = (kh, kw, channels)`` that `proxy_kernels` expects."""

    kh: int
    kw: int
    channels: int
    stride: int

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.kh, self.kw, self.channels)


def walk(infos: Sequence[LayerInfo], *, inside: bool = False) -> Iterator[tuple[LayerInfo, bool]]:
    """Every walked layer, nested ones included (a Residual after its paths), with whether it
    sits inside a residual path."""
    for info in infos:
        if isinstance(info.layer, Residual):
            yield from walk(info.block, inside=True)
            yield from walk(info.shortcut, inside=True)
        yield info, inside


def _kind(info: LayerInfo) -> str:
    return type(info.layer).__name__


def input_channels(infos: Sequence[LayerInfo]) -> int:
    """The channels of the network input: from ``input_shape``, else from the first Conv or
    BatchNorm that sees the input."""
    if infos[0].in_shape.c is not None:
        return infos[0].in_shape.c
    for info, _ in walk(infos):
        if isinstance(info.layer, Conv):
            return int(info.layer.w.shape[2])
        if isinstance(info.layer, BatchNorm):
            return int(info.layer.channels)
        if isinstance(info.layer, Dense):
            break
    raise ValueError(
        "layers must contain a convolution (or a BatchNorm) before any Dense to fix the input "
        "channels, or pass input_shape=(H, W, C)"
    )


def receptive_field(
    layers: Sequence[Any], *, input_shape: tuple[int, int, int] | None = None
) -> ReceptiveField:
    """Receptive field and total stride of a layer list: `cnn_layers.geometry`'s size.

    .. math:: k \\leftarrow k + S (a - 1), \\qquad S \\leftarrow S s

    for each layer of window ``a`` and stride ``s``, from ``k = 1, S = 1``; a Residual takes
    the union of its two paths' fields, a GlobalAvgPool or Dense the whole map below it (the
    frame of its kernels is then the whole image padded by ``geometry(...).padding``).

    Args:
      layers: the layer list, input first (any layer of `cnn_layers`).
      input_shape: ``(H, W, C)`` of the network input; needed when the net has a
        GlobalAvgPool or Dense, or SAME padding with stride > 1 inside a residual block.

    Returns:
      ``ReceptiveField(kh, kw, channels, stride)``; ``.shape`` gives ``(kh, kw, channels)``.

    Raises:
      ValueError: a malformed layer list (see `cnn_layers.describe`), a missing
        ``input_shape``, or no layer that fixes the input channels.

    Examples:
      >>> import jax.numpy as jnp
      >>> from cnn_layers import Conv, Pool
      >>> receptive_field([Conv(jnp.ones((5, 5, 1, 4))), Pool(2, "avg"),
      ...                  Conv(jnp.ones((3, 3, 4, 2)), stride=2)])
      ReceptiveField(kh=10, kw=10, channels=1, stride=4)
    """
    g = geometry(layers, input_shape=input_shape)
    channels = input_channels(describe(layers, input_shape))
    return ReceptiveField(g.size[0], g.size[1], channels, g.stride)


def _needs_input_shape(info: LayerInfo, why: str) -> ValueError:
    return ValueError(
        f"{info.name} ({_kind(info)}): {why}; pass input_shape=(H, W, C) of the network input "
        "to from_layers"
    )


def check_network(layers: Sequence[Any], input_shape) -> tuple[LayerInfo, ...]:
    """`describe` plus the checks of the Volterra lens: every layer a polynomial or smooth
    map at 0, and every size the kernels depend on known."""
    infos = describe(layers, input_shape)
    for info, inside in walk(infos):
        layer = info.layer
        if isinstance(layer, ReLU) or (isinstance(layer, Pool) and layer.kind == "max"):
            what = "a ReLU" if isinstance(layer, ReLU) else "a max pooling"
            raise ValueError(
                f"{info.name} ({_kind(info)}) is {what}, which has no Taylor series at 0, so the "
                "network has no Volterra kernels; replace it by Smooth(fn) / Pool(kind='avg'), "
                "or take local proxy kernels at an input x with "
                "proxy_kernels(apply_fn, params, rf_shape, at=x)"
            )
        if isinstance(layer, GlobalAvgPool | Dense) and info.window is None:
            raise _needs_input_shape(info, "it reads its whole input map, whose size is unknown")
        if inside and not isinstance(layer, Residual) and info.pads is None:
            raise _needs_input_shape(
                info,
                f"its SAME padding with stride {info.stride} inside a residual block depends on "
                "the parity of its input map, and so does the alignment of the block's two paths",
            )
    return infos


def _arrays(info: LayerInfo) -> Iterator[tuple[str, Any]]:
    if isinstance(info.layer, Residual):
        return
    for f in dataclasses.fields(info.layer):
        value = getattr(info.layer, f.name)
        if not f.metadata.get("static") and value is not None:
            yield f.name, value


def weights_dtype(infos: Sequence[LayerInfo]):
    """The float dtype the kernels are computed in: the promoted dtype of the float weights
    (integer weights promoted explicitly to it, or to the default float when no weight is a
    float); TypeError for complex or non-numeric weights."""
    floats = []
    for info, _ in walk(infos):
        for name, value in _arrays(info):
            dtype = jnp.result_type(value)
            if jnp.issubdtype(dtype, jnp.complexfloating):
                raise TypeError(
                    f"{info.name}.{name} ({_kind(info)}) must be real, got the complex dtype "
                    f"{dtype}; Volterra kernels of complex networks are not supported"
                )
            if jnp.issubdtype(dtype, jnp.bool_) or not jnp.issubdtype(dtype, jnp.number):
                raise TypeError(
                    f"{info.name}.{name} ({_kind(info)}) must be a real number array, got dtype "
                    f"{dtype}"
                )
            if jnp.issubdtype(dtype, jnp.floating):
                floats.append(dtype)
    if floats:
        return jnp.result_type(*floats)
    return jax.dtypes.canonicalize_dtype(jnp.float64)


__all__ = ["Poly", "ReceptiveField", "Smooth", "receptive_field"]
