"""Order-n Volterra convolution of NHWC images, the whole series, and per-order perturbations."""

import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float, Real

from cnn_layers._checks import as_real_float, check_int
from volterra_jax._kernels import VolterraKernels, check_rf_shape, kernel_order

_HIGHEST = lax.Precision.HIGHEST


def _check_image(x, rf_shape, stride, *, name="x"):
    as_real_float(x, name)
    shape = getattr(x, "shape", None)
    if shape is None or len(shape) != 4:
        raise ValueError(f"{name} must be an NHWC batch of shape (N, H, W, C), got shape {shape}")
    kh, kw, c = rf_shape
    if shape[3] != c:
        raise ValueError(f"{name} must have {c} channels to match the kernels, got shape {shape}")
    if shape[1] < kh or shape[2] < kw:
        raise ValueError(f"{name} of shape {shape} is smaller than the receptive field {(kh, kw)}")
    check_int("stride", stride, 1)


def _is_int(v) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _pad_image(x, padding, name="padding"):
    """``x`` zero-padded by ``((top, bottom), (left, right))`` (negative values crop)."""
    if padding is None:
        return x
    ok = (
        isinstance(padding, tuple | list)
        and len(padding) == 2
        and all(isinstance(p, tuple | list) and len(p) == 2 for p in padding)
        and all(_is_int(v) for p in padding for v in p)
    )
    if not ok:
        raise ValueError(
            f"{name} must be ((top, bottom), (left, right)) ints (e.g. cnn_layers.geometry(...)"
            f".padding), got {padding!r}"
        )
    if getattr(x, "ndim", None) != 4:
        raise ValueError(f"x must be an NHWC batch of shape (N, H, W, C), got shape {jnp.shape(x)}")
    (top, bottom), (left, right) = ((int(lo), int(hi)) for lo, hi in padding)
    zero = jnp.zeros((), x.dtype)
    return lax.pad(x, zero, ((0, 0, 0), (top, bottom, 0), (left, right, 0), (0, 0, 0)))


def patches(
    x: Real[ArrayLike, "n h w c"], rf_shape: tuple[int, int, int], *, stride: int = 1
) -> Float[Array, "n p q kh kw c"]:
    """Receptive-field patches ``out[n, p, q] = x[n, s*p : s*p + kh, s*q : s*q + kw, :]``.

    Args:
      x: NHWC batch.
      rf_shape: ``(kh, kw, C)``.
      stride: the stride ``s`` of the output grid.

    Returns:
      Patches of shape ``(N, P, Q, kh, kw, C)`` with ``P = (H - kh) // s + 1`` (VALID).

    Examples:
      >>> import jax.numpy as jnp
      >>> patches(jnp.arange(4.0).reshape(1, 4, 1, 1), (2, 1, 1), stride=2)[0, :, 0, :, 0, 0]
      Array([[0., 1.],
             [2., 3.]], dtype=float32)
    """
    rf_shape = check_rf_shape(rf_shape)
    _check_image(x, rf_shape, stride)
    x = as_real_float(x, "x")
    kh, kw, c = rf_shape
    n, height, width, _ = x.shape
    if (height - kh) // stride == 0 and (width - kw) // stride == 0:
        # One output position (the receptive field covers the image, as for a whole-net
        # proxy): a slice, whose gradient is a pad; the patch convolution's transpose is slow.
        return x[:, None, None, :kh, :kw, :]
    p = lax.conv_general_dilated_patches(
        x,
        (kh, kw),
        (stride, stride),
        "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
        precision=_HIGHEST,
    )
    n, ph, pw, _ = p.shape
    return jnp.moveaxis(p.reshape(n, ph, pw, c, kh, kw), 3, 5)


def volterra_conv(
    x: Real[ArrayLike, "n h w c"],
    h: Real[ArrayLike, "..."],
    *,
    order: int,
    stride: int = 1,
    padding: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> Float[Array, "n p q o"]:
    """Order-n Volterra convolution (VALID cross-correlation, no flip, channels, stride).

    .. math::
       y[n, p, o] = \\sum_{u_1, c_1, \\dots, u_n, c_n} H[u_1, c_1, \\dots, u_n, c_n, o]
       \\prod_{k=1}^{n} x[n, s p + u_k, c_k]

    Order 1 is ``lax.conv_general_dilated``; higher orders contract the receptive-field patches
    ``n`` times with ``H``. ``H`` need not be symmetric.

    Args:
      x: NHWC batch of shape ``(N, H, W, C)``.
      h: order-n kernel of shape ``(kh, kw, C) * n + (O,)``.
      order: n >= 1 (must match ``h``); the order-0 term has no spatial extent, see `series`.
      stride: stride ``s`` of the output grid.
      padding: ``((top, bottom), (left, right))`` zeros added around ``x`` first (negative
        values crop), e.g. ``cnn_layers.geometry(layers, input_shape=...).padding`` for the
        kernels of a padded network; None (default) for none.

    Returns:
      ``(N, P, Q, O)`` with ``P = (H - kh) // s + 1``, ``Q = (W - kw) // s + 1`` (``H``, ``W``
      after padding).

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.arange(3.0).reshape(1, 3, 1, 1)
      >>> h2 = jnp.ones((2, 1, 1, 2, 1, 1, 1))       # (x0 + x1)^2
      >>> volterra_conv(x, h2, order=2)[0, :, 0, 0]
      Array([1., 9.], dtype=float32)
    """
    check_int("order", order, 0)
    if order == 0:
        raise ValueError("order 0 has no spatial extent: add h0 with `series`, got order=0")
    n = kernel_order(h, name="h")
    if n != order:
        raise ValueError(
            f"h of shape {h.shape} is an order-{n} kernel but order={order} was requested"
        )
    rf = tuple(h.shape[:3])
    h = as_real_float(h, "h")
    x = _pad_image(x, padding)
    _check_image(x, rf, stride)
    dtype = jnp.result_type(as_real_float(x, "x"), h)
    x, h = x.astype(dtype), h.astype(dtype)
    if order == 1:
        return lax.conv_general_dilated(
            x,
            h,
            (stride, stride),
            "VALID",
            dimension_numbers=("NHWC", "HWIO", "NHWC"),
            precision=_HIGHEST,
        )
    p = patches(x, rf, stride=stride)
    lead = p.shape[:3]
    d = rf[0] * rf[1] * rf[2]
    p = p.reshape(-1, d)
    out = h.shape[-1]
    t = jnp.dot(p, h.reshape(d, -1), precision=_HIGHEST)  # contracts the first slot
    for k in range(order - 1, 0, -1):
        t = jnp.einsum("md,mdr->mr", p, t.reshape(-1, d, d ** (k - 1) * out), precision=_HIGHEST)
    return t.reshape(*lead, out)


def _check_kernels(kernels, name="kernels"):
    if not isinstance(kernels, VolterraKernels):
        raise TypeError(f"{name} must be VolterraKernels, got {type(kernels).__name__}")
    if kernels.order < 1:
        raise ValueError(f"{name} must have order >= 1 to define a receptive field, got only h0")


def series(
    x: Real[ArrayLike, "n h w c"],
    kernels: VolterraKernels,
    *,
    stride: int = 1,
    padding: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> Float[Array, "n p q o"]:
    """The truncated Volterra series ``y = h0 + sum_{n>=1} H_n * x^n`` (see `volterra_conv`).

    .. math:: y[n, p, o] = h_0[o] + \\sum_{k=1}^{N} (H_k * x^k)[n, p, o]

    Args:
      x: NHWC batch ``(N, H, W, C)``.
      kernels: `VolterraKernels` of order >= 1 with receptive field ``(kh, kw, C)``.
      stride: stride of the output grid (the total stride of the network they describe).
      padding: zeros added around ``x`` first, ``((top, bottom), (left, right))`` (negative
        values crop): ``cnn_layers.geometry(layers, input_shape=x.shape[1:]).padding`` gives
        the network's output map from `from_layers` kernels (see its border rule).

    Returns:
      ``(N, P, Q, O)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> k = VolterraKernels(jnp.ones(1), jnp.full((2, 1, 1, 1), 2.0))
      >>> series(jnp.ones((1, 3, 1, 1)), k)[0, :, 0, 0]
      Array([5., 5.], dtype=float32)
    """
    _check_kernels(kernels)
    x = _pad_image(x, padding)
    y = None
    for n in range(1, kernels.order + 1):
        term = volterra_conv(x, kernels[n], order=n, stride=stride)
        y = term if y is None else y + term
    return y + kernels.h0.reshape(1, 1, 1, -1)


def perturbation(
    kernels: VolterraKernels,
    x: Real[ArrayLike, "n h w c"],
    delta: Real[ArrayLike, "n h w c"],
    *,
    stride: int = 1,
    padding: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> Float[Array, "order n p q o"]:
    """The output change that each order of the series predicts for ``x -> x + delta``.

    .. math:: \\Delta_n = H_n * (x + \\delta)^n - H_n * x^n, \\qquad \\Delta_0 = 0

    so ``sum(out, axis=0) == series(x + delta) - series(x)``.

    Args:
      kernels: `VolterraKernels` of order N >= 1.
      x: NHWC batch ``(N, H, W, C)``.
      delta: perturbation of the same shape.
      stride: stride of the output grid.
      padding: zeros added around ``x`` and ``delta`` first, as in `series`.

    Returns:
      ``(N_order + 1, N, P, Q, O)``: entry n is the change predicted by order n (entry 0 is 0).

    Examples:
      >>> import jax.numpy as jnp
      >>> k = VolterraKernels(jnp.ones(1), jnp.ones((1, 1, 1, 1)), jnp.ones((1, 1, 1, 1, 1, 1, 1)))
      >>> x = jnp.ones((1, 1, 1, 1))
      >>> perturbation(k, x, 0.5 * x)[:, 0, 0, 0, 0]
      Array([0.  , 0.5 , 1.25], dtype=float32)
    """
    _check_kernels(kernels)
    as_real_float(x, "x")
    as_real_float(delta, "delta")
    if getattr(delta, "shape", None) != getattr(x, "shape", None):
        raise ValueError(
            f"delta must have the shape of x {getattr(x, 'shape', None)}, got "
            f"{getattr(delta, 'shape', None)}"
        )
    x, xd = _pad_image(x, padding), _pad_image(x + delta, padding)
    changes = [
        volterra_conv(xd, kernels[n], order=n, stride=stride)
        - volterra_conv(x, kernels[n], order=n, stride=stride)
        for n in range(1, kernels.order + 1)
    ]
    return jnp.stack([jnp.zeros_like(changes[0])] + changes)


__all__ = ["patches", "perturbation", "series", "volterra_conv"]
