"""One-dimensional Tao General Difference (TGD) operators on a finite interval.

TGD (Tao et al., "A Theory of General Difference in Continuous and Discrete Domain",
arXiv 2305.08098; "Applications of Tao General Difference in Discrete Domain", arXiv 2401.15287)
replaces the infinitesimal derivative by a difference over a finite interval, weighted by a
decreasing *kernel function* (here the Gaussian one, :math:`g_\\sigma(s) = e^{-s^2/2\\sigma^2}`).
A sequence enters the continuous operator as the step function built from its samples, so the
discrete weight at a pixel centred at offset :math:`u` is the operator integrated over the pixel
cell :math:`[u - 1/2, u + 1/2]`. This makes every weight a smooth function of a (rotated,
non-integer) offset, which the oriented families and their gradients need.

The exact normalising constants :math:`C_1, C_2` of the papers are not reproduced: the 2-D
families renormalise on the sampled grid (unit response to a ramp or a quadratic), and each
kernel carries a learnable amplitude anyway. Each operator is one small function so that a
different kernel function or construction can replace it in one place.
"""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import erf
from jaxtyping import Array, ArrayLike, Float

from cnn_layers._checks import as_real_float, check_real, dtype_of


def _check_sigma(sigma):
    """``sigma`` as a real array; a ValueError for a concrete ``sigma <= 0``. A traced one
    cannot be read: :func:`_positive` turns the weights to NaN where it is not positive."""
    kind = dtype_of(sigma)
    if not (jnp.issubdtype(kind, jnp.floating) or jnp.issubdtype(kind, jnp.integer)):
        raise TypeError(f"sigma must be a real number (or array), got dtype {kind}")
    if not isinstance(sigma, jax.core.Tracer):
        values = np.asarray(sigma)
        if not np.all(values > 0):  # NaN fails too
            raise ValueError(f"sigma must be > 0 (the scale of the Gaussian), got {values}")
    return sigma


def _positive(weights, sigma):
    return jnp.where(jnp.asarray(sigma) > 0, weights, jnp.nan)


def _gauss_mass(a: Float[Array, "..."], sigma: Float[ArrayLike, "..."]) -> Float[Array, "..."]:
    # \int_0^a exp(-s^2 / 2 sigma^2) ds, odd in a.
    return sigma * math.sqrt(math.pi / 2) * erf(a / (sigma * math.sqrt(2.0)))


def tgd_first_order(
    u: Float[ArrayLike, "..."], sigma: Float[ArrayLike, "..."]
) -> Float[Array, "..."]:
    """First-order TGD weight of the pixel centred at offset ``u`` (odd in ``u``).

    Continuous operator: the Gaussian-weighted difference between the right and the left half of
    the interval, :math:`T(s) = \\operatorname{sign}(s)\\, g_\\sigma(|s|)`, so that
    :math:`(T \\star f)(x) = \\int_0^h g_\\sigma(s)\\,[f(x+s) - f(x-s)]\\,ds`. Discretised by the
    step-function construction (integral over the pixel cell):

    .. math::
        T_\\sigma(u) = A(u + \\tfrac12) - A(u - \\tfrac12), \\qquad
        A(s) = \\int_0^{|s|} g_\\sigma = \\sigma\\sqrt{\\pi/2}\\,
        \\operatorname{erf}\\!\\big(|s| / \\sigma\\sqrt2\\big).

    The interval is the kernel window itself (the caller samples ``u`` only inside it).

    Args:
      u: pixel-centre offsets along the difference direction, any shape.
      sigma: positive scale of the Gaussian kernel function (a scalar, or an array that
        broadcasts against ``u``); a ValueError when concrete and not positive, NaN weights
        when traced and not positive.

    Returns:
      Weights with the shape of ``u``; positive for ``u > 0``, zero at ``u = 0``.

    Examples:
      >>> import jax.numpy as jnp
      >>> w = tgd_first_order(jnp.arange(-2.0, 3.0), 1.0)
      >>> bool(jnp.allclose(w, -w[::-1])), bool(w[3] > 0)
      (True, True)
    """
    u, sigma = as_real_float(u, "u"), _check_sigma(sigma)
    w = _gauss_mass(jnp.abs(u + 0.5), sigma) - _gauss_mass(jnp.abs(u - 0.5), sigma)
    return _positive(w, sigma)


def tgd_second_order(
    u: Float[ArrayLike, "..."], sigma: Float[ArrayLike, "..."], half_width: float
) -> Float[Array, "..."]:
    """Second-order TGD weight of the pixel centred at offset ``u`` (even in ``u``).

    Continuous operator: the Gaussian-weighted symmetric second difference over the interval
    :math:`[-h, h]`, :math:`(R \\star f)(x) = \\int_{-h}^{h} g_\\sigma(s)\\,[f(x+s) - f(x)]\\,ds`,
    i.e. :math:`R(s) = g_\\sigma(s) - M\\,\\delta(s)` with :math:`M = \\int_{-h}^{h} g_\\sigma`.
    It annihilates constants and odd functions and returns a positive multiple of
    :math:`f''` on quadratics. Discretised by cell integration for :math:`g_\\sigma` and by linear
    interpolation (a unit tent) for the point mass, so the weights stay continuous in ``u``:

    .. math::
        R_\\sigma(u) = \\int_{u-1/2}^{u+1/2} g_\\sigma(s)\\,ds - M \\max(0, 1 - |u|).

    On an axis-aligned grid of ``2h`` pixels the weights sum exactly to zero.

    Args:
      u: pixel-centre offsets, any shape.
      sigma: positive scale of the Gaussian kernel function, as in :func:`tgd_first_order`.
      half_width: ``h > 0``, half the interval length in pixels (``k / 2`` for a k-pixel
        window); a Python number (static).

    Returns:
      Weights with the shape of ``u``: negative at the centre, positive around it.

    Examples:
      >>> import jax.numpy as jnp
      >>> w = tgd_second_order(jnp.arange(-2.0, 3.0), 1.0, 2.5)
      >>> bool(abs(w.sum()) < 1e-6), bool(w[2] < 0 < w[1])
      (True, True)
    """
    u, sigma = as_real_float(u, "u"), _check_sigma(sigma)
    half_width = check_real("half_width", half_width, 0.0, strict=True)
    cell = _gauss_mass(u + 0.5, sigma) - _gauss_mass(u - 0.5, sigma)
    total = 2.0 * _gauss_mass(jnp.asarray(half_width, u.dtype), sigma)
    return _positive(cell - total * jnp.maximum(0.0, 1.0 - jnp.abs(u)), sigma)
