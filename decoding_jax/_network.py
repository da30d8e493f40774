"""The forward pass of a layer list (from :mod:`cnn_layers`) and its total stride."""

from collections.abc import Sequence

from cnn_layers import forward, geometry
from cnn_layers._layers import Layer

__all__ = ["forward", "total_stride"]


def total_stride(
    layers: Sequence[Layer], layer, *, input_shape: tuple[int, int, int] | None = None
) -> int:
    """The input-pixel step between neighbouring outputs of ``layer``.

    .. math:: S = \\prod_{l \\le \\mathrm{layer}} s_l

    with ``s_l`` the stride of a Conv or Pool (1 for other layers); a Residual's paths share
    theirs. It is the stride at which to correlate images with the decoded filters of that
    layer (:func:`decoding_jax.decoded_response`); ``cnn_layers.geometry`` gives the padding
    too.

    Args:
      layers: the layer list.
      layer: index or path of any layer.
      input_shape: ``(H, W, C)``; needed below a Dense or GlobalAvgPool.

    Returns:
      A python int.

    Examples:
      >>> import jax.numpy as jnp
      >>> from cnn_layers import Conv, Pool
      >>> total_stride([Conv(jnp.ones((5, 5, 1, 4))), Pool(2), Conv(jnp.ones((5, 5, 4, 8)))], 2)
      2
    """
    return geometry(layers, layer, input_shape=input_shape).stride
