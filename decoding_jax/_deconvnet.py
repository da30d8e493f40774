"""The Zeiler-Fergus deconvnet projection, the image-dependent baseline for decoded filters."""

from collections.abc import Sequence

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from cnn_layers import Flatten, Poly, ReLU, Residual, Smooth, describe
from cnn_layers._checks import as_real_float
from cnn_layers._forward import apply
from cnn_layers._geometry import chain
from cnn_layers._layers import Layer

__all__ = ["deconvnet", "DECONV_KEEP"]

DECONV_KEEP = ("map", "max")


def _up(infos, x):
    """The input of every layer on the way up (a Residual's paths nested)."""
    inputs = []
    for info in infos:
        if isinstance(info.layer, Residual):
            inputs.append((x, _up(info.block, x)[0], _up(info.shortcut, x)[0]))
        else:
            inputs.append(x)
        x = apply(info, x)
    return inputs, x


def _down(infos, inputs, r):
    for info, x_in in zip(reversed(infos), reversed(inputs), strict=True):
        if isinstance(info.layer, ReLU):
            r = jnp.maximum(r, 0)
        elif isinstance(info.layer, Residual):
            x, block_in, shortcut_in = x_in
            r = _down(info.block, block_in, r) + _down(info.shortcut, shortcut_in, r)
        elif not isinstance(info.layer, Smooth | Poly):
            # Conv (bias-free, so linear), BatchNorm's gain, pools (max: at the recorded input,
            # i.e. through its switches), GlobalAvgPool, Flatten, Dense: the transpose
            _, pullback = jax.vjp(lambda z, info=info: apply(info, z, bias=False), x_in)
            (r,) = pullback(r)
    return r


def deconvnet(
    layers: Sequence[Layer],
    layer: int,
    image: Real[ArrayLike, "h w c"],
    *,
    keep: str = "map",
    signal: Real[ArrayLike, "s h2 w2 k"] | None = None,
) -> Float[Array, "s h w c"]:
    """Projects the activations of conv layer ``layer`` back to the image (Zeiler & Fergus).

    The image goes up the full network (biases, ReLUs, max pools, recording the switches, i.e.
    the location of each pooling maximum); then each top signal goes down:

    * Conv: transposed filters, :math:`r'[v, c] = \\sum_{s q + u = v} \\sum_k r[q, k] w[u, c, k]`
      (no bias);
    * max Pool: unpool with the switches (each value back to its window's argmax, zeros
      elsewhere); avg Pool: spread ``r / window**2`` over the window (its transpose);
    * BatchNorm, GlobalAvgPool, Flatten, Dense: their (bias-free) transpose;
    * Residual: the sum of the projections down both paths;
    * ReLU: rectify the signal, :math:`r' = \\max(r, 0)`; Smooth and Poly pass it through.

    For a network with no pooling and no ReLU this is the transpose of its Jacobian, i.e. the
    input gradient of ``<signal, response>``.

    Args:
      layers: the layer list.
      layer: index or path (e.g. ``(3, 'block', 1)``) of the layer whose units to project.
      image: one image ``(H, W, C)``; ``vmap`` for a batch.
      keep: which activations form the top signals when ``signal`` is None: 'map' keeps the
        whole feature map of unit ``k`` for signal ``k`` (all other units zeroed); 'max' keeps
        only its largest activation.
      signal: optional explicit top signals ``(S, H', W', K)`` (``(S, K)`` after a flatten),
        of the layer's response shape.

    Returns:
      Array ``(S, H, W, C)``: one projection per signal (``S = K`` units by default).

    Raises:
      ValueError: ``layer`` out of range or a Flatten, unknown ``keep``, a layer that does not
        fit its map, mismatched channels, or ``signal`` of the wrong shape.

    Examples:
      >>> import jax.numpy as jnp
      >>> from decoding_jax.layers import Conv, Pool, ReLU
      >>> net = [Conv(jnp.ones((3, 3, 1, 4))), ReLU(), Pool(2), Conv(jnp.ones((2, 2, 4, 6)))]
      >>> deconvnet(net, 3, jnp.ones((8, 8, 1))).shape
      (6, 8, 8, 1)
    """
    if keep not in DECONV_KEEP:
        raise ValueError(f"keep must be one of {DECONV_KEEP}, got {keep!r}")
    image = as_real_float(image, "image")
    if image.ndim != 3:
        raise ValueError(f"image must have shape (H, W, C), got shape {image.shape}")
    sub = chain(describe(layers, image.shape), layer)
    if isinstance(sub[-1].layer, Flatten):
        raise ValueError(f"layer {layer!r} is a Flatten; project the layer before it")
    inputs, x = _up(sub, image[None])
    response = x[0]  # (H', W', K), or (K,) after a flatten
    n_units = response.shape[-1]
    if signal is None:
        eye = jnp.eye(n_units, dtype=response.dtype)
        expand = (slice(None),) + (None,) * (response.ndim - 1) + (slice(None),)
        mask = eye[expand]
        signal = response[None] * mask
        if keep == "max":
            flat = signal.reshape(n_units, -1)
            top = jnp.argmax(jnp.where(mask > 0, signal, -jnp.inf).reshape(n_units, -1), axis=1)
            signal = (flat * jax.nn.one_hot(top, flat.shape[1], dtype=flat.dtype)).reshape(
                signal.shape
            )
    else:
        signal = as_real_float(signal, "signal")
        if signal.ndim != response.ndim + 1 or signal.shape[1:] != response.shape:
            raise ValueError(
                f"signal must have shape (S, {', '.join(map(str, response.shape))}) (the "
                f"response of {sub[-1].name}), got shape {signal.shape}"
            )
        signal = signal.astype(response.dtype)
    return jax.vmap(lambda r: _down(sub, inputs, r[None])[0])(signal)
