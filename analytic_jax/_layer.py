"""AnalyticConv: a Flax NNX drop-in for ``nnx.Conv`` whose kernel is a mosaic of families."""

from collections.abc import Sequence

import jax.numpy as jnp
import numpy as np
from flax import nnx
from jaxtyping import Array, ArrayLike, Float, Real

import cnn_layers
from analytic_jax._mosaic import MosaicSpec, init_mosaic, mosaic_kernels, parse_mosaic
from cnn_layers._checks import as_real_float, check_int
from cnn_layers._layers import normalize_padding


def _pair(value, name):
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        value = (value, value)
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    return tuple(check_int(name, v, 1) for v in value)


class AnalyticConv(nnx.Module):
    """2-D convolution (cross-correlation, NHWC/HWIO) with an analytic mosaic kernel.

    The kernel is rebuilt by :func:`mosaic_kernels` from the AKP tables inside every traced
    forward pass, so gradients reach every analytic kernel parameter. Each family's raw AKP table
    is the ``nnx.Param`` attribute ``akp_<code>`` (e.g. ``akp_G`` of shape ``(30, 6)``).

    .. math:: y = W(\\mathrm{akp}) \\star x + b

    Args:
      in_features: input channels ``I``.
      out_features: output channels ``O``.
      kernel_size: ``k`` or ``(k, k)`` (square kernels only).
      strides: int or pair.
      padding: ``"SAME"``, ``"VALID"``, an int, or pairs ``((lo, hi), (lo, hi))``.
      use_bias: add a learnable bias (zeros at init).
      mosaic: an arrangement string (``"(IxO)G30..."``, prefix optional), a
        :class:`MosaicSpec`, or None for an all-plain kernel.
      dtype: dtype of the AKPs and bias.
      rngs: ``nnx.Rngs`` (its ``params`` stream initialises the AKPs).

    Examples:
      >>> import jax.numpy as jnp
      >>> from flax import nnx
      >>> conv = AnalyticConv(1, 4, 5, mosaic="G1Lg1Tf1P1", rngs=nnx.Rngs(0))
      >>> conv(jnp.ones((2, 8, 8, 1))).shape
      (2, 8, 8, 4)
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        kernel_size: int | Sequence[int],
        strides: int | Sequence[int] | None = 1,
        *,
        padding: str | int | Sequence[tuple[int, int]] = "SAME",
        use_bias: bool = True,
        mosaic: str | MosaicSpec | None = None,
        dtype=jnp.float32,
        rngs: nnx.Rngs,
    ):
        in_features = check_int("in_features", in_features, 1)
        out_features = check_int("out_features", out_features, 1)
        if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
            raise TypeError(f"dtype must be a real floating dtype, got {jnp.dtype(dtype)}")
        kh, kw = _pair(kernel_size, "kernel_size")
        if kh != kw:
            raise ValueError(f"kernel_size must be square, got {(kh, kw)}")
        if mosaic is None:
            mosaic = f"P{in_features * out_features}"
        if isinstance(mosaic, str):
            spec = parse_mosaic(
                mosaic, kernel_size=kh, in_features=in_features, out_features=out_features
            )
        elif isinstance(mosaic, MosaicSpec):
            spec = mosaic
            want = (in_features, out_features, kh)
            if (spec.in_features, spec.out_features, spec.kernel_size) != want:
                raise ValueError(
                    f"mosaic spec is for (in_features, out_features, kernel_size) = "
                    f"{(spec.in_features, spec.out_features, spec.kernel_size)}, layer is {want}"
                )
        else:
            raise TypeError(f"mosaic must be a str, MosaicSpec or None, got {type(mosaic)}")
        self.spec = spec
        self.in_features, self.out_features = in_features, out_features
        self.strides = _pair(1 if strides is None else strides, "strides")
        self.padding = normalize_padding(padding, "AnalyticConv")
        for code, table in init_mosaic(rngs.params(), spec, dtype=dtype).items():
            setattr(self, f"akp_{code}", nnx.Param(table))
        self.bias = nnx.Param(jnp.zeros((out_features,), dtype)) if use_bias else None

    def akp_tables(self) -> dict[str, Array]:
        """Current raw AKP tables ``{code: (n, p)}`` (the input of :func:`mosaic_kernels`)."""
        return {c: getattr(self, f"akp_{c}")[...] for c in self.spec.family_order}

    def kernel(self) -> Float[Array, "k k i o"]:
        """The current ``(k, k, I, O)`` kernel."""
        return mosaic_kernels(self.akp_tables(), self.spec)

    def as_layers(self) -> list[cnn_layers.Conv]:
        """The layer for :func:`cnn_layers.from_nnx`: the current mosaic kernel as one Conv.

        ``[cnn_layers.Conv(kernel(), bias, stride, padding)]``, the same cross-correlation as
        :meth:`__call__` (lax's padding: ``'SAME'``, ``'VALID'`` or explicit pairs).

        Returns:
          A one-element list; the Conv's ``w`` is ``(k, k, I, O)``, its ``b`` ``(O,)`` or None.

        Raises:
          ValueError: different strides along the two axes (a Conv has one stride).

        Examples:
          >>> import jax.numpy as jnp
          >>> from flax import nnx
          >>> import cnn_layers
          >>> conv = AnalyticConv(1, 4, 5, strides=2, mosaic="G1Lg1Tf1P1", rngs=nnx.Rngs(0))
          >>> [layer] = conv.as_layers()
          >>> layer.w.shape, layer.stride, layer.padding
          ((5, 5, 1, 4), 2, 'SAME')
          >>> x = jnp.ones((1, 9, 9, 1))
          >>> bool(jnp.allclose(cnn_layers.forward([layer], x), conv(x), atol=1e-6))
          True
        """
        sh, sw = self.strides
        if sh != sw:
            raise ValueError(
                f"AnalyticConv.as_layers: strides {self.strides} differ between the two axes; "
                "a cnn_layers.Conv has one stride for both"
            )
        bias = None if self.bias is None else self.bias[...]
        return [cnn_layers.Conv(self.kernel(), bias, sh, self.padding)]

    def __call__(self, x: Real[ArrayLike, "*b h w i"]) -> Float[Array, "*b h2 w2 o"]:
        x = as_real_float(x, "x")
        if x.ndim < 3 or x.shape[-1] != self.in_features:
            raise ValueError(f"x must have shape (..., H, W, {self.in_features}), got {x.shape}")
        kernel = self.kernel()
        batch = x.shape[:-3]
        x4 = x.reshape((-1, *x.shape[-3:]))
        dtype = jnp.result_type(x4.dtype, kernel.dtype)
        y = cnn_layers.conv_general_dilated(
            x4.astype(dtype),
            kernel.astype(dtype),
            window_strides=self.strides,
            padding=self.padding,
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
        )
        if self.bias is not None:
            y = y + self.bias[...].astype(dtype).reshape(1, 1, 1, -1)
        return y.reshape((*batch, *y.shape[1:]))
