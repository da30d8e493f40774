"""Folding an inference batch norm into the Conv or Dense before it."""

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp

from cnn_layers._checks import as_real_float
from cnn_layers._layers import BatchNorm, Conv, Dense, Residual, _shape

__all__ = ["fold_batchnorm", "fold_batchnorms"]

_BN_FIELDS = ("scale", "offset", "mean", "var")


def fold_batchnorm(layer: Conv | Dense, bn: BatchNorm) -> Conv | Dense:
    """The Conv (or Dense) equal to ``layer`` followed by ``bn``.

    With ``g = gamma / sqrt(var + eps)``:

    .. math:: w'[\\dots, o] = g_o\\, w[\\dots, o], \\qquad b'_o = g_o (b_o - \\mu_o) + \\beta_o.

    Args:
      layer: a :class:`~cnn_layers.Conv` or :class:`~cnn_layers.Dense`.
      bn: a :class:`~cnn_layers.BatchNorm` over its output channels.

    Returns:
      A layer of the same type, stride and padding, with a bias.

    Raises:
      TypeError: ``layer`` is not a Conv or Dense, or ``bn`` not a BatchNorm; complex weights
        or statistics.
      ValueError: ``bn`` has a different number of channels than ``layer`` outputs.

    Examples:
      >>> import jax.numpy as jnp
      >>> from cnn_layers import BatchNorm, Conv
      >>> one = lambda v: jnp.array([v])
      >>> bn = BatchNorm(scale=one(2.0), offset=one(1.0), mean=one(0.5), var=one(1.0), eps=0.0)
      >>> c = fold_batchnorm(Conv(jnp.ones((1, 1, 1, 1)), jnp.array([3.0])), bn)
      >>> float(c.w[0, 0, 0, 0]), float(c.b[0])
      (2.0, 6.0)
    """
    if not isinstance(layer, Conv | Dense):
        raise TypeError(f"layer must be a Conv or Dense, got {type(layer).__name__}")
    if not isinstance(bn, BatchNorm):
        raise TypeError(f"bn must be a BatchNorm, got {type(bn).__name__}")
    out = _shape(layer.w)[-1]
    if bn.channels != out:
        raise ValueError(
            f"bn has {bn.channels} channels but the {type(layer).__name__} before it has {out} "
            f"outputs (w shape {_shape(layer.w)})"
        )
    for owner, obj, fields in (("layer", layer, ("w", "b")), ("bn", bn, _BN_FIELDS)):
        for field in fields:
            if getattr(obj, field) is not None:  # refuse complex weights or statistics
                as_real_float(getattr(obj, field), f"{owner}.{field}")
    dtype = jnp.result_type(layer.w, bn.mean, float)
    g, h = bn.gain_and_shift(dtype)
    w = jnp.asarray(layer.w, dtype)
    w = w * jnp.reshape(g, (1,) * (w.ndim - 1) + (-1,))
    b = h if layer.b is None else g * jnp.asarray(layer.b, dtype) + h
    return dataclasses.replace(layer, w=w, b=b)


def fold_batchnorms(layers: Sequence[Any]) -> list:
    """Folds every BatchNorm that directly follows a Conv or Dense in the same list (residual
    paths included); other BatchNorms stay.

    Raises:
      TypeError: ``layers`` is not a list.
    """
    if not isinstance(layers, list | tuple):
        raise TypeError(f"layers must be a list of layers, got {type(layers).__name__}")
    out = []
    for layer in layers:
        if isinstance(layer, Residual):
            layer = Residual(fold_batchnorms(layer.block), fold_batchnorms(layer.shortcut))
        if isinstance(layer, BatchNorm) and out and isinstance(out[-1], Conv | Dense):
            if _shape(out[-1].w)[-1] == layer.channels:
                out[-1] = fold_batchnorm(out[-1], layer)
                continue
        out.append(layer)
    return out
