"""From a Flax NNX model to the layer vocabulary, in one call."""

import functools
import inspect
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from flax import nnx
from jax import lax

from cnn_layers._checks import check_bool
from cnn_layers._describe import describe
from cnn_layers._fast import conv_general_dilated, max_pool
from cnn_layers._fold import fold_batchnorms
from cnn_layers._forward import flatten, global_avg_pool
from cnn_layers._layers import (
    LAYER_TYPES,
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Pool,
    ReLU,
    Residual,
    Smooth,
    _is_int,
    normalize_padding,
)

__all__ = ["SMOOTH_FUNCTIONS", "from_nnx"]

SMOOTH_FUNCTIONS: tuple[Callable, ...] = (
    jnp.tanh,
    jax.nn.sigmoid,
    jax.nn.softplus,
    jax.nn.silu,
    jax.nn.gelu,
    jax.nn.log_sigmoid,
)
"""Activation functions :func:`from_nnx` turns into ``Smooth(fn)`` (infinitely differentiable;
also as ``functools.partial`` with keywords, e.g. ``partial(nnx.gelu, approximate=False)``)."""

_CONVS = (lax.conv_general_dilated, conv_general_dilated)  # the same values
_MAX_POOLS = (nnx.max_pool, max_pool)
_LISTS = (list, tuple, nnx.List)  # nnx.List: how Flax 0.12 holds a list of submodules
_SUPPORTED = (
    "nnx.Sequential, nnx.Conv (any padding but CIRCULAR/CAUSAL/REFLECT, isotropic stride, "
    "kernel dilation, feature groups; conv_general_dilated lax's or cnn_layers'), "
    "nnx.Linear (a 1x1 conv on a map, a Dense after a "
    "flatten), nnx.BatchNorm (inference statistics, axis -1), nnx.Dropout (dropped), "
    "nnx.relu, the smooth activations (tanh, sigmoid, softplus, silu/swish, gelu, log_sigmoid), "
    "functools.partial(nnx.max_pool | cnn_layers.max_pool | nnx.avg_pool, "
    "window_shape=(k, k), strides=(s, s), "
    "padding=...), cnn_layers.flatten, cnn_layers.global_avg_pool, cnn_layers layers "
    "(e.g. Smooth(fn) for another activation), lists (nnx.List too) of these, and any module "
    "with an as_layers() method that returns a list of these (Residual(block, shortcut) "
    "included)"
)


def _refuse(where: str, what: str, why: str = "") -> ValueError:
    why = f" ({why})" if why else ""
    return ValueError(
        f"from_nnx: {where} is {what}, which the layer vocabulary cannot express{why}. "
        f"Supported: {_SUPPORTED}."
    )


def _article(name: str) -> str:
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _value(variable):
    return None if variable is None else jnp.asarray(variable.get_value())


def _isotropic(value, where: str, what: str, name: str) -> int:
    vals = (value, value) if _is_int(value) else tuple(value)
    if len(vals) != 2 or vals[0] != vals[1] or not all(map(_is_int, vals)):
        raise _refuse(where, what, f"{name}={value!r}: only the same int on both axes is")
    return int(vals[0])


def _padding(padding, where: str, what: str):
    if isinstance(padding, str) and padding.upper() not in ("SAME", "VALID"):
        raise _refuse(where, what, f"padding={padding!r}")
    if isinstance(padding, list | tuple) and all(_is_int(p) for p in padding):
        padding = tuple((p, p) for p in padding)
    try:
        return normalize_padding(padding, "Conv")
    except ValueError as err:
        raise _refuse(where, what, f"padding={padding!r}") from err


def _conv(m: nnx.Conv, where: str, flat: bool):
    what = "an nnx.Conv"
    w = _value(m.kernel)
    if w.ndim != 4:
        raise _refuse(where, what, f"a {w.ndim - 2}-D convolution; only 2-D ones are")
    if _isotropic(m.input_dilation or 1, where, what, "input_dilation") != 1:
        raise _refuse(where, what, "input_dilation > 1 (a transposed convolution)")
    if m.conv_general_dilated not in _CONVS:
        raise _refuse(where, what, "a custom conv_general_dilated")
    if m.mask is not None:
        w = w * jnp.asarray(m.mask, w.dtype)
    groups = m.feature_group_count
    if groups > 1:  # the grouped conv as one conv with a block-diagonal kernel
        cin, cout = w.shape[2] * groups, w.shape[3]
        block = jnp.arange(cin)[:, None] // w.shape[2] == jnp.arange(cout)[None, :] // (
            cout // groups
        )
        w = jnp.tile(w, (1, 1, groups, 1)) * block[None, None].astype(w.dtype)
    d = _isotropic(m.kernel_dilation or 1, where, what, "kernel_dilation")
    if d > 1:  # a dilated kernel is the kernel with d - 1 zeros between taps
        kh, kw = w.shape[:2]
        w = (
            jnp.zeros(((kh - 1) * d + 1, (kw - 1) * d + 1) + w.shape[2:], w.dtype)
            .at[::d, ::d]
            .set(w)
        )
    stride = _isotropic(m.strides or 1, where, what, "strides")
    padding = _padding(m.padding, where, what)
    return [Conv(w, _value(m.bias), stride, padding)], flat


def _linear(m: nnx.Linear, flat: bool):
    w, b = _value(m.kernel), _value(m.bias)
    if flat:
        return [Dense(w, b)], True
    return [Conv(w[None, None], b)], False  # nnx.Linear on a map acts on each pixel


def _training_mode(where: str, what: str, setting: str) -> ValueError:
    return ValueError(
        f"from_nnx: {where} is {what} in training mode ({setting}), so model(x) is not the "
        f"inference network the layers describe; call model.eval() before from_nnx(model)"
    )


def _batchnorm(m: nnx.BatchNorm, where: str, flat: bool):
    if not m.use_running_average:
        raise _training_mode(where, "an nnx.BatchNorm", "use_running_average=False")
    if m.axis not in (-1,):
        raise _refuse(where, "an nnx.BatchNorm", f"axis={m.axis}; only the last axis (-1) is")
    bn = BatchNorm(_value(m.scale), _value(m.bias), _value(m.mean), _value(m.var), m.epsilon)
    return [bn], flat


def _pool(fn: functools.partial, where: str, flat: bool):
    what = f"functools.partial({fn.func.__name__}, ...)"
    try:
        args = inspect.signature(fn.func).bind(None, *fn.args, **fn.keywords).arguments
    except TypeError as err:
        raise _refuse(where, what, str(err)) from err
    window = _isotropic(args["window_shape"], where, what, "window_shape")
    stride = _isotropic(args.get("strides") or window, where, what, "strides")
    padding = _padding(args.get("padding", "VALID"), where, what)
    kind = "max" if fn.func in _MAX_POOLS else "avg"
    if kind == "avg" and padding != "VALID" and not args.get("count_include_pad", True):
        raise _refuse(where, what, "count_include_pad=False with padding is not linear")
    return [Pool(window, kind, stride, padding)], flat


def _function(fn, where: str, flat: bool):
    base = fn.func if isinstance(fn, functools.partial) else fn
    if base in _MAX_POOLS or base is nnx.avg_pool:
        if not isinstance(fn, functools.partial):
            raise _refuse(where, f"{base.__name__} without its window", "use functools.partial")
        return _pool(fn, where, flat)
    if fn is flatten:
        return [Flatten()], True
    if fn is global_avg_pool:
        return [GlobalAvgPool()], True
    if fn is jax.nn.relu:
        return [ReLU()], flat
    if fn is nnx.identity:
        return [], flat
    if any(base is f for f in SMOOTH_FUNCTIONS) and (base is fn or not fn.args):
        return [Smooth(fn)], flat
    name = getattr(base, "__name__", type(fn).__name__)
    raise _refuse(where, f"the function {name}", "wrap another activation as Smooth(fn)")


def _items(items, where: str, flat: bool):
    out = []
    for i, item in enumerate(items):
        layers, flat = _convert(item, f"{where}[{i}]", flat)
        out.extend(layers)
    return out, flat


def _convert(obj: Any, where: str, flat: bool) -> tuple[list, bool]:
    if isinstance(obj, Residual):
        block, block_flat = _items(obj.block, f"{where}.block", flat)
        shortcut, shortcut_flat = _items(obj.shortcut, f"{where}.shortcut", flat)
        return [Residual(block, shortcut)], block_flat or shortcut_flat  # paths that pool
    if isinstance(obj, LAYER_TYPES):
        return [obj], flat or isinstance(obj, Flatten | GlobalAvgPool | Dense)
    if isinstance(obj, _LISTS):
        return _items(obj, where, flat)
    as_layers = getattr(obj, "as_layers", None)
    if callable(as_layers):
        items = as_layers()
        if not isinstance(items, _LISTS):
            raise TypeError(
                f"from_nnx: {where}.as_layers() must return a list of layers, got "
                f"{type(items).__name__}"
            )
        return _items(items, f"{where}.as_layers()", flat)
    if isinstance(obj, nnx.Sequential):
        return _items(list(obj.layers), f"{where}.layers", flat)
    if isinstance(obj, nnx.Conv):
        return _conv(obj, where, flat)
    if isinstance(obj, nnx.Linear):
        return _linear(obj, flat)
    if isinstance(obj, nnx.BatchNorm):
        return _batchnorm(obj, where, flat)
    if isinstance(obj, nnx.Dropout):
        if obj.rate > 0 and not obj.deterministic:
            raise _training_mode(where, "an nnx.Dropout", f"rate={obj.rate}, deterministic=False")
        return [], flat
    if isinstance(obj, nnx.Module):
        raise _refuse(where, f"{_article(type(obj).__name__)} module")
    if callable(obj):
        return _function(obj, where, flat)
    raise _refuse(where, _article(type(obj).__name__))


def from_nnx(model: Any, *, fold_batchnorm: bool = True) -> list:
    """Converts a Flax NNX CNN into the layer list every lens reads.

    ``forward(from_nnx(model), x)`` equals ``model(x)`` with the model in inference mode
    (``model.eval()``: batch norms use their running statistics, dropout is off); a model
    still in training mode is refused. ``forward`` computes in the images' dtype (the model's
    ``dtype``/``param_dtype`` settings are not carried over).

    What converts: ``nnx.Sequential`` (recursively); ``nnx.Conv`` (VALID, SAME, explicit
    padding; isotropic strides; a kernel dilation becomes the kernel with zeros between taps
    and feature groups a block-diagonal kernel, both exact; its ``conv_general_dilated`` lax's
    or :func:`cnn_layers.conv_general_dilated`); ``nnx.Linear`` (on a map it acts
    on each pixel: a 1x1 Conv; after a flatten or global pooling: a Dense); ``nnx.BatchNorm``
    (its running statistics); ``nnx.Dropout`` (dropped); ``nnx.relu``; the smooth activations
    of :data:`SMOOTH_FUNCTIONS`; ``functools.partial(nnx.max_pool | cnn_layers.max_pool |
    nnx.avg_pool, ...)``;
    :func:`cnn_layers.flatten` and :func:`cnn_layers.global_avg_pool`; layer objects of the
    vocabulary as they are.

    The protocol for your own modules: give the module an ``as_layers()`` method that returns a
    list (or ``nnx.List``) of any of the above, e.g. its submodules in call order, or a
    ``Residual(block=[...], shortcut=[...])`` whose paths hold submodules. ``from_nnx`` converts
    those items in place, so a ``nnx.Linear`` inside is read with the right context (after a
    flatten or not).

    Args:
      model: an NNX module (or a list of items as above).
      fold_batchnorm: fold each BatchNorm into the Conv or Dense right before it
        (:func:`cnn_layers.fold_batchnorms`); False keeps them as layers.

    Returns:
      A list of layers.

    Raises:
      ValueError: a module or function the vocabulary cannot express (named by where it sits
        in the model, e.g. ``model.layers[3]``, with the list of what is supported); layers
        whose channels do not chain.

    Examples:
      >>> from functools import partial
      >>> from flax import nnx
      >>> import cnn_layers
      >>> rngs = nnx.Rngs(0)
      >>> model = nnx.Sequential(
      ...     nnx.Conv(1, 8, (3, 3), rngs=rngs), nnx.BatchNorm(8, rngs=rngs), nnx.relu,
      ...     partial(nnx.max_pool, window_shape=(2, 2), strides=(2, 2)),
      ...     cnn_layers.global_avg_pool, nnx.Linear(8, 10, rngs=rngs))
      >>> model.eval()  # batch norms on their running statistics, dropout off
      >>> [type(layer).__name__ for layer in from_nnx(model)]
      ['Conv', 'ReLU', 'Pool', 'GlobalAvgPool', 'Dense']
    """
    check_bool("fold_batchnorm", fold_batchnorm)
    layers, _ = _convert(model, "model", False)
    if not layers:
        raise ValueError("from_nnx: the model converts to no layers at all")
    if fold_batchnorm:
        layers = fold_batchnorms(layers)
    describe(layers)
    return layers
