"""The Zeiler-Fergus deconvnet projection, the image-dependent baseline for decoded filters."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from decoding_jax._network import (
    apply_layer,
    as_float_images,
    check_index,
    check_layers,
    layer_shapes,
)
from decoding_jax.layers import Layer, Pool, ReLU

__all__ = ["deconvnet", "DECONV_KEEP"]

DECONV_KEEP = ("map", "max")


def deconvnet(
    layers: Sequence[Layer],
    layer: int,
    image: Float[Array, "h w c"],
    *,
    keep: str = "map",
    signal: Float[Array, "s h2 w2 k"] | None = None,
) -> Float[Array, "s h w c"]:
    """Projects the activations of conv layer ``layer`` back to the image (Zeiler & Fergus).

    The image goes up the full network (biases, ReLUs, max pools, recording the switches, i.e.
    the location of each pooling maximum); then each top signal goes down:

    * Conv: transposed filters, :math:`r'[v, c] = \\sum_{s q + u = v} \\sum_k r[q, k] w[u, c, k]`
      (no bias);
    * max Pool: unpool with the switches (each value back to its window's argmax, zeros
      elsewhere); avg Pool: spread ``r / size**2`` over the window (its transpose);
    * ReLU: rectify the signal, :math:`r' = \\max(r, 0)`.

    For a network with no pooling and no ReLU this is the transpose of its Jacobian, i.e. the
    input gradient of ``<signal, response>``.

    Args:
      layers: the layer list.
      layer: 0-based index of a Conv in ``layers``.
      image: one image ``(H, W, C)``; ``vmap`` for a batch.
      keep: which activations form the top signals when ``signal`` is None: 'map' keeps the
        whole feature map of unit ``k`` for signal ``k`` (all other units zeroed); 'max' keeps
        only its largest activation.
      signal: optional explicit top signals ``(S, H', W', K)``, of the layer's response shape.

    Returns:
      Array ``(S, H, W, C)``: one projection per signal (``S = K`` units by default).

    Raises:
      ValueError: ``layer`` out of range or not a Conv, unknown ``keep``, a Pool that does not
        divide its map, mismatched channels, or ``signal`` of the wrong shape.

    Examples:
      >>> import jax.numpy as jnp
      >>> from decoding_jax.layers import Conv, Pool, ReLU
      >>> net = [Conv(jnp.ones((3, 3, 1, 4))), ReLU(), Pool(2), Conv(jnp.ones((2, 2, 4, 6)))]
      >>> deconvnet(net, 3, jnp.ones((8, 8, 1))).shape
      (6, 8, 8, 1)
    """
    check_layers(layers)
    check_index(layers, layer)
    if keep not in DECONV_KEEP:
        raise ValueError(f"keep must be one of {DECONV_KEEP}, got {keep!r}")
    image = jnp.asarray(image)
    if image.ndim != 3:
        raise ValueError(f"image must have shape (H, W, C), got shape {image.shape}")
    x = as_float_images(image[None])
    layer_shapes(layers, x.shape[1:], layer)
    inputs = []
    for lyr in layers[: layer + 1]:
        inputs.append(x)
        x = apply_layer(lyr, x)
    response = x[0]  # (H', W', K)
    if signal is None:
        n_units = response.shape[-1]
        eye = jnp.eye(n_units, dtype=response.dtype)
        signal = response[None] * eye[:, None, None, :]
        if keep == "max":
            flat = signal.reshape(n_units, -1)
            top = jnp.argmax(
                jnp.where(eye[:, None, None, :] > 0, signal, -jnp.inf).reshape(n_units, -1), axis=1
            )
            signal = (flat * jax.nn.one_hot(top, flat.shape[1], dtype=flat.dtype)).reshape(
                signal.shape
            )
    else:
        signal = jnp.asarray(signal)
        if signal.ndim != 4 or signal.shape[1:] != response.shape:
            raise ValueError(
                f"signal must have shape (S, {', '.join(map(str, response.shape))}) (the "
                f"response of layers[{layer}]), got shape {signal.shape}"
            )
        signal = signal.astype(response.dtype)

    def down(r: Array) -> Array:
        r = r[None]
        for lyr, x_in in zip(reversed(layers[: layer + 1]), reversed(inputs), strict=True):
            if isinstance(lyr, ReLU):
                r = jnp.maximum(r, 0)
            else:  # Conv (bias-free, so linear) or Pool: its transpose at the recorded input
                if isinstance(lyr, Pool):
                    _, pullback = jax.vjp(lambda z, lyr=lyr: apply_layer(lyr, z), x_in)
                else:
                    _, pullback = jax.vjp(
                        lambda z, lyr=lyr: apply_layer(lyr, z, bias=False), jnp.zeros_like(x_in)
                    )
                (r,) = pullback(r)
        return r[0]

    return jax.vmap(down)(signal)
