"""Layer lists for `from_layers`: polynomial and smooth activations, and the receptive field.

Convolutions and pooling are duck typed: any object with ``.w`` (HWIO kernel), optional ``.b``
and ``.stride`` is a convolution (e.g. ``decoding_jax.layers.Conv``); any object with ``.size``
and ``.kind == 'avg'`` is a non-overlapping average pooling (e.g. ``decoding_jax.layers.Pool``).
"""

from collections.abc import Sequence
from typing import Any, NamedTuple

from cnn_layers import Poly, Smooth


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


def layer_kind(layer, index: int) -> str:
    """'conv', 'pool', 'poly' or 'smooth'; TypeError/ValueError for anything else."""
    if isinstance(layer, Poly):
        return "poly"
    if isinstance(layer, Smooth):
        return "smooth"
    if hasattr(layer, "w"):
        shape = getattr(layer.w, "shape", None)
        if shape is None or len(shape) != 4:
            raise ValueError(
                f"layers[{index}].w must have shape (kh, kw, c_in, c_out), got {shape}"
            )
        stride = getattr(layer, "stride", 1)
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f"layers[{index}].stride must be a positive int, got {stride!r}")
        b = getattr(layer, "b", None)
        if b is not None and tuple(b.shape) != (shape[3],):
            raise ValueError(f"layers[{index}].b must have shape ({shape[3]},), got {b.shape}")
        return "conv"
    if hasattr(layer, "size") and hasattr(layer, "kind"):
        if layer.kind != "avg":
            raise ValueError(
                f"layers[{index}] is a {layer.kind!r} pooling; only 'avg' pooling "
                "is a Volterra (polynomial) layer"
            )
        if not isinstance(layer.size, int) or layer.size < 1:
            raise ValueError(f"layers[{index}].size must be a positive int, got {layer.size!r}")
        return "pool"
    raise TypeError(
        f"layers[{index}] must be a conv (.w, .b, .stride), an average pool (.size, .kind), "
        f"Poly or Smooth, got {type(layer).__name__}"
    )


def receptive_field(layers: Sequence[Any]) -> ReceptiveField:
    """Receptive field and total stride of a stack of conv / avg-pool / activation layers.

    .. math:: k \\leftarrow k + S (a - 1), \\qquad S \\leftarrow S s

    for each conv or pool of size ``a`` and stride ``s``, from ``k = 1, S = 1``.

    Args:
      layers: the layer list, input first; it must contain a conv (it fixes the channels).

    Returns:
      ``ReceptiveField(kh, kw, channels, stride)``; ``.shape`` gives ``(kh, kw, channels)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from decoding_jax.layers import Conv, Pool
      >>> receptive_field([Conv(jnp.ones((5, 5, 1, 4))), Pool(2, "avg"),
      ...                  Conv(jnp.ones((3, 3, 4, 2)), stride=2)])
      ReceptiveField(kh=10, kw=10, channels=1, stride=4)
    """
    if not isinstance(layers, (list, tuple)) or not layers:
        raise ValueError(f"layers must be a non-empty list of layers, got {layers!r}")
    kh = kw = stride = 1
    channels = None
    for i, layer in enumerate(layers):
        kind = layer_kind(layer, i)
        if kind == "conv":
            a, b, cin, cout = layer.w.shape
            if channels is None:
                channels = cin
            s = getattr(layer, "stride", 1)
            kh, kw, stride = kh + stride * (a - 1), kw + stride * (b - 1), stride * s
        elif kind == "pool":
            q = layer.size
            kh, kw, stride = kh + stride * (q - 1), kw + stride * (q - 1), stride * q
    if channels is None:
        raise ValueError("layers must contain a convolution to fix the input channels")
    return ReceptiveField(kh, kw, channels, stride)


__all__ = ["Poly", "ReceptiveField", "Smooth", "receptive_field"]
