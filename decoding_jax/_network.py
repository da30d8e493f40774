"""The forward pass of a layer list, its strides, and the checks every entry point shares."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jax import lax
from jaxtyping import Array, Float

from decoding_jax.layers import Conv, Layer, Pool, ReLU

__all__ = ["forward", "total_stride"]

_DIMS = ("NHWC", "HWIO", "NHWC")


def check_layers(layers: Sequence[Layer]) -> None:
    """Every element is a Conv, Pool or ReLU and conv channel counts chain."""
    if not isinstance(layers, list | tuple):
        raise TypeError(f"layers must be a list of Conv/Pool/ReLU, got {type(layers).__name__}")
    channels = None
    for i, lyr in enumerate(layers):
        if not isinstance(lyr, Conv | Pool | ReLU):
            raise TypeError(f"layers[{i}] must be a Conv, Pool or ReLU, got {type(lyr).__name__}")
        if isinstance(lyr, Conv):
            kh, kw, cin, cout = lyr.w.shape
            if channels is not None and cin != channels:
                raise ValueError(
                    f"layers[{i}] (Conv) expects {cin} input channels but the layers below it "
                    f"produce {channels} channels (mismatched channel counts)"
                )
            channels = cout


def check_index(layers: Sequence[Layer], layer: int, *, name: str = "layer", conv=True) -> None:
    """``layer`` is a valid 0-based index into ``layers`` (naming a Conv when ``conv``)."""
    if isinstance(layer, bool) or not isinstance(layer, int):
        raise TypeError(f"{name} must be an int index into layers, got {type(layer).__name__}")
    if not 0 <= layer < len(layers):
        raise ValueError(
            f"{name} must be a 0-based index in [0, {len(layers) - 1}] of the {len(layers)} "
            f"layers, got {layer}"
        )
    if conv and not isinstance(layers[layer], Conv):
        raise ValueError(
            f"{name} must index a Conv layer, got layers[{layer}] = {type(layers[layer]).__name__}"
        )


def layer_shapes(
    layers: Sequence[Layer], input_shape: tuple[int, int, int], upto: int
) -> list[tuple[int, int, int]]:
    """The (H, W, C) after each of ``layers[:upto + 1]``, checking each layer fits its input."""
    if len(input_shape) != 3:
        raise ValueError(f"the input must have shape (H, W, C), got shape {tuple(input_shape)}")
    h, w, c = input_shape
    shapes = []
    for i, lyr in enumerate(layers[: upto + 1]):
        if isinstance(lyr, Conv):
            kh, kw, cin, cout = lyr.w.shape
            if cin != c:
                raise ValueError(
                    f"layers[{i}] (Conv) expects {cin} input channels, got a map with {c} "
                    f"channels (mismatched channel counts)"
                )
            if kh > h or kw > w:
                raise ValueError(
                    f"layers[{i}] (Conv) kernel {kh}x{kw} is larger than its {h}x{w} map"
                )
            h, w, c = (h - kh) // lyr.stride + 1, (w - kw) // lyr.stride + 1, cout
        elif isinstance(lyr, Pool):
            if h % lyr.size or w % lyr.size:
                raise ValueError(
                    f"layers[{i}] (Pool) size {lyr.size} does not divide its {h}x{w} input map"
                )
            h, w = h // lyr.size, w // lyr.size
        shapes.append((h, w, c))
    return shapes


def apply_layer(lyr: Layer, x: Array, *, bias: bool = True, relu: bool = True) -> Array:
    """One layer on a batch ``(N, H, W, C)``."""
    if isinstance(lyr, Conv):
        w = lyr.w.astype(x.dtype)
        y = lax.conv_general_dilated(
            x, w, (lyr.stride, lyr.stride), "VALID", dimension_numbers=_DIMS
        )
        if bias and lyr.b is not None:
            y = y + lyr.b.astype(x.dtype)[None, None, None, :]
        return y
    if isinstance(lyr, Pool):
        window = (1, lyr.size, lyr.size, 1)
        if lyr.kind == "max":
            return lax.reduce_window(x, -jnp.inf, lax.max, window, window, "VALID")
        return lax.reduce_window(x, 0.0, lax.add, window, window, "VALID") / lyr.size**2
    return jnp.maximum(x, 0) if relu else x


def as_float_images(images: Array, name: str = "images") -> Array:
    images = jnp.asarray(images)
    if images.ndim != 4:
        raise ValueError(f"{name} must have shape (N, H, W, C), got shape {images.shape}")
    if not jnp.issubdtype(images.dtype, jnp.floating):
        images = images.astype(jax.dtypes.canonicalize_dtype(jnp.float64))
    return images


def forward(
    layers: Sequence[Layer],
    images: Float[Array, "n h w c"],
    *,
    upto: int | None = None,
    bias: bool = True,
    relu: bool = True,
) -> Float[Array, "n h2 w2 k"]:
    """Runs ``layers[0], ..., layers[upto]`` on a batch of images.

    Conv is VALID cross-correlation ``y[p, k] = sum_{u, c} w[u, c, k] x[s p + u, c] + b[k]``,
    Pool is non-overlapping max or mean over ``size x size`` windows, ReLU is ``max(x, 0)``.

    Args:
      layers: the layer list.
      images: images of shape ``(N, H, W, C)``.
      upto: 0-based index of the last layer to run (any layer type); None runs them all.
      bias: add the conv biases; ``bias=False`` gives the bias-free network that decoded
        filters describe.
      relu: apply the ReLUs; ``relu=False`` skips them (with average pools the network is then
        linear).

    Returns:
      The response after ``layers[upto]``, of shape ``(N, H', W', K)``.

    Raises:
      ValueError: ``upto`` out of range, a Pool that does not divide its map, a kernel larger
        than its map, or channel counts that do not chain.

    Examples:
      >>> import jax.numpy as jnp
      >>> from decoding_jax.layers import Conv, Pool
      >>> net = [Conv(jnp.ones((3, 3, 1, 2))), Pool(2, "avg")]
      >>> forward(net, jnp.ones((1, 6, 6, 1))).shape
      (1, 2, 2, 2)
    """
    check_layers(layers)
    upto = len(layers) - 1 if upto is None else upto
    check_index(layers, upto, name="upto", conv=False)
    images = as_float_images(images)
    layer_shapes(layers, images.shape[1:], upto)
    x = images
    for lyr in layers[: upto + 1]:
        x = apply_layer(lyr, x, bias=bias, relu=relu)
    return x


def total_stride(layers: Sequence[Layer], layer: int) -> int:
    """The input-pixel step between neighbouring outputs of ``layers[layer]``.

    .. math:: S = \\prod_{l \\le \\mathrm{layer}} s_l

    with ``s_l`` the stride of a Conv, the size of a Pool and 1 for a ReLU. It is the stride at
    which to correlate images with the decoded filters of that layer
    (:func:`decoding_jax.decoded_response`).

    Args:
      layers: the layer list.
      layer: 0-based index of any layer.

    Returns:
      A python int.

    Examples:
      >>> import jax.numpy as jnp
      >>> from decoding_jax.layers import Conv, Pool
      >>> total_stride([Conv(jnp.ones((5, 5, 1, 4))), Pool(2), Conv(jnp.ones((5, 5, 4, 8)))], 2)
      2
    """
    check_layers(layers)
    check_index(layers, layer, conv=False)
    stride = 1
    for lyr in layers[: layer + 1]:
        if isinstance(lyr, Conv):
            stride *= lyr.stride
        elif isinstance(lyr, Pool):
            stride *= lyr.size
    return stride
