"""The small layer list that describes a plain CNN to decoding_jax (and, by duck typing, to
volterra_jax): convolutions with HWIO weights, 2-D pooling and ReLU.

The layers are pytrees whose arrays are leaves and whose settings (stride, pool size and kind)
are static, so a whole layer list can be passed through ``jax.jit``.
"""

import dataclasses

import jax
from jaxtyping import Array, Float

__all__ = ["Conv", "Pool", "ReLU", "Layer"]

_POOL_KINDS = ("max", "avg")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Conv:
    """VALID cross-correlation ``y = x * w + b``.

    Attributes:
      w: kernel of shape ``(kh, kw, c_in, c_out)`` (HWIO).
      b: bias of shape ``(c_out,)`` or None.
      stride: the same stride along both spatial axes.
    """

    w: Float[Array, "kh kw cin cout"]
    b: Float[Array, " cout"] | None = None
    stride: int = dataclasses.field(default=1, metadata={"static": True})

    def __post_init__(self):
        shape = getattr(self.w, "shape", None)
        if shape is not None and len(shape) != 4:
            raise ValueError(f"Conv.w must have shape (kh, kw, c_in, c_out), got shape {shape}")
        bshape = getattr(self.b, "shape", None)
        if shape is not None and bshape is not None and tuple(bshape) != (shape[3],):
            raise ValueError(f"Conv.b must have shape ({shape[3]},) to match w, got {bshape}")
        if not isinstance(self.stride, int) or self.stride < 1:
            raise ValueError(f"Conv.stride must be a positive int, got {self.stride!r}")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Pool:
    """Non-overlapping ``size x size`` pooling with stride ``size``: ``kind`` is 'max' or 'avg'."""

    size: int = dataclasses.field(default=2, metadata={"static": True})
    kind: str = dataclasses.field(default="max", metadata={"static": True})

    def __post_init__(self):
        if not isinstance(self.size, int) or self.size < 1:
            raise ValueError(f"Pool.size must be a positive int, got {self.size!r}")
        if self.kind not in _POOL_KINDS:
            raise ValueError(f"Pool.kind must be one of {_POOL_KINDS}, got {self.kind!r}")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class ReLU:
    """Rectified linear unit, ``max(x, 0)``."""


Layer = Conv | Pool | ReLU
