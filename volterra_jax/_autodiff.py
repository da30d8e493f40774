"""White-box kernels by automatic differentiation, and Taylor coefficients of activations."""

import math
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Real

from cnn_layers._checks import as_real_float, check_int
from volterra_jax._kernels import VolterraKernels, check_rf_shape, symmetrize


def _check_order(order, *, minimum=0) -> int:
    return check_int("order", order, minimum)


def taylor_coefficients(
    fn: Callable[[Any], Any], order: int, at: ArrayLike = 0.0
) -> Float[Array, "..."]:
    """Taylor coefficients ``c_k = fn^{(k)}(at) / k!`` of an elementwise function.

    .. math:: fn(at + u) = \\sum_{k=0}^{order} c_k u^k + O(u^{order + 1})

    Derivatives are exact (nested forward-mode autodiff, ``2^k`` evaluations for order ``k``,
    which also works for functions ``jax.experimental.jet`` has no rule for, e.g. softplus).

    Args:
      fn: elementwise scalar function (``jnp.tanh``, ``jax.nn.sigmoid``, a polynomial...).
      order: highest coefficient, >= 0.
      at: expansion point(s), any shape (e.g. one operating point per channel).

    Returns:
      Array of shape ``(order + 1,) + shape(at)``.

    Examples:
      >>> import jax
      >>> c = taylor_coefficients(jax.nn.sigmoid, 5)
      >>> [round(float(v), 6) for v in c * 480]
      [240.0, 120.0, 0.0, -10.0, 0.0, 1.0]
    """
    _check_order(order)
    if not callable(fn):
        raise TypeError(f"fn must be callable, got {type(fn).__name__}")
    at = as_real_float(at, "at")

    derivs = [fn]
    for _ in range(order):
        prev = derivs[-1]
        derivs.append(lambda u, prev=prev: jax.jvp(prev, (u,), (jnp.ones_like(u),))[1])
    return jnp.stack(
        [jnp.broadcast_to(d(at), at.shape) / math.factorial(k) for k, d in enumerate(derivs)]
    )


def _float_dtype(params, at):
    if at is not None:
        return jnp.asarray(at).dtype
    leaves = [
        leaf
        for leaf in jax.tree.leaves(params)
        if jnp.issubdtype(jnp.result_type(leaf), jnp.inexact)
    ]
    return jnp.result_type(*leaves) if leaves else jnp.result_type(float)


def proxy_kernels(
    apply_fn: Callable[[Any, Array], Array],
    params: Any,
    rf_shape: Sequence[int],
    *,
    order: int = 2,
    at: Real[ArrayLike, "kh kw c"] | None = None,
) -> VolterraKernels:
    """White-box proxy kernels: Taylor coefficients of one output pixel by autodiff.

    ``apply_fn(params, x)`` maps an NHWC batch to an NHWC batch with VALID padding; it is
    evaluated on a single input of exactly the receptive-field shape, so its output is
    ``1 x 1 x O`` and with ``f(z) = apply_fn(params, z[None])[0, 0, 0]``:

    .. math:: h_0 = f(a), \\quad h_n = \\frac{1}{n!} D^n f(a)

    with slots ``(kh, kw, C)`` and the output channel last. ``h1`` comes from one batched
    reverse pass (``jacrev``, all ``O`` outputs at once); order ``n >= 2`` adds ``n - 1``
    forward passes on top (forward-over-reverse, the cost of a dense Hessian of the crop); for
    big nets prefer `from_layers`, which uses the layer structure.

    Args:
      apply_fn: ``apply_fn(params, x)``, NHWC to NHWC.
      params: its parameters (any pytree).
      rf_shape: ``(kh, kw, C)``, the receptive field (see `receptive_field`).
      order: highest order N >= 0.
      at: expansion point of shape ``rf_shape`` (default zeros: the network's Volterra
        kernels; a real input gives a local proxy, e.g. for ReLU networks).

    Returns:
      `VolterraKernels` ``(h0, ..., hN)``, symmetrised.

    Raises:
      ValueError: when ``rf_shape`` does not give a ``1 x 1 x O`` output, or on bad order/at.

    Examples:
      >>> import jax.numpy as jnp
      >>> from jax import lax
      >>> def net(w, x):
      ...     y = lax.conv_general_dilated(x, w, (1, 1), "VALID",
      ...                                  dimension_numbers=("NHWC", "HWIO", "NHWC"))
      ...     return y + y ** 2
      >>> k = proxy_kernels(net, jnp.ones((2, 2, 1, 1)), (2, 2, 1))
      >>> k.h2.shape, float(k.h2.sum())
      ((2, 2, 1, 2, 2, 1, 1), 16.0)
    """
    _check_order(order)
    if not callable(apply_fn):
        raise TypeError(f"apply_fn must be callable, got {type(apply_fn).__name__}")
    rf_shape = check_rf_shape(rf_shape)
    if at is not None:
        at = as_real_float(at, "at")
    dtype = _float_dtype(params, at)
    if at is None:
        at = jnp.zeros(rf_shape, dtype)
    if tuple(getattr(at, "shape", ())) != rf_shape:
        raise ValueError(f"at must have shape rf_shape {rf_shape}, got {jnp.shape(at)}")
    out = jax.eval_shape(lambda z: apply_fn(params, z[None]), at)
    out_shape = tuple(getattr(out, "shape", ()))
    if len(out_shape) != 4 or out_shape[:3] != (1, 1, 1):
        raise ValueError(
            f"rf_shape {rf_shape} must give a 1x1xO output of apply_fn, got output shape "
            f"{out_shape}; use receptive_field(layers).shape"
        )

    @jax.jit
    def all_terms(params, at):
        def f(z):
            return apply_fn(params, z[None])[0, 0, 0]

        terms = [f(at)]
        deriv = jax.jacrev(f)
        for n in range(1, order + 1):
            if n > 1:
                deriv = jax.jacfwd(deriv)
            h = jnp.moveaxis(deriv(at), 0, -1) / math.factorial(n)
            terms.append(symmetrize(h))
        return VolterraKernels(*terms)

    return all_terms(params, at)


__all__ = ["proxy_kernels", "taylor_coefficients"]
