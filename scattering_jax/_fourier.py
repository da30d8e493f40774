"""Fourier-domain building blocks: safe modulus, fused filter-and-subsample.

Spectra that get multiplied by real filters are carried as (real, imaginary) pairs, so the
products stay real arithmetic.
"""

import jax
import jax.numpy as jnp


@jax.custom_jvp
def hypot(x: jax.Array, y: jax.Array) -> jax.Array:
    """``sqrt(x**2 + y**2)`` (the modulus of ``x + iy``) with derivative 0, not NaN, at 0."""
    return jnp.sqrt(x * x + y * y)


@hypot.defjvp
def _hypot_jvp(primals, tangents):
    (x, y), (dx, dy) = primals, tangents
    r = jnp.sqrt(x * x + y * y)
    nonzero = r > 0
    safe_r = jnp.where(nonzero, r, 1.0)
    dr = (x * dx + y * dy) / safe_r
    return r, jnp.where(nonzero, dr, 0.0)


def filter_fold(
    spectrum: tuple[jax.Array, jax.Array], filters: jax.Array, k: int, filters_first: bool = False
) -> jax.Array:
    """Filters spectra and subsamples by ``k`` in one pass: the mean over ``k x k`` blocks of
    ``u_hat * filters`` (periodising the spectrum = subsampling in space).

    With ``z = filter_fold((u_hat.real, u_hat.imag), f, k)`` for spectra of shape
    ``(B, *S, P, Q)``, ``ifft2(z[b, l]) == ifft2(u_hat[b] * f[l])[..., ::k, ::k]``.

    Args:
      spectrum: real and imaginary parts of the spectra, each of shape ``(B, *S, P, Q)``.
      filters: real filters, shape ``(F, P, Q)``.
      k: subsampling factor dividing ``P`` and ``Q``.
      filters_first: put the filter axis first instead of second.

    Returns:
      Complex ``(B, F, *S, P // k, Q // k)``, or ``(F, B, *S, P // k, Q // k)`` with
      ``filters_first``. XLA's fused loop follows the output's axis order, so the filter is
      read from memory once per entry of the axes before it: once per step with
      ``filters_first``, the better choice when the filters outweigh one spectrum. Written as a
      sum of ``k**2`` block products fused into one loop: the full-size product of every filter
      is never materialised, and the real filter is never promoted to complex.
    """
    re, im = spectrum
    n_inner = re.ndim - 3
    axis = 0 if filters_first else 1  # where the filter axis goes
    filters = jnp.expand_dims(filters.reshape(-1, *(1,) * n_inner, *filters.shape[-2:]), 1 - axis)
    p, q = re.shape[-2] // k, re.shape[-1] // k
    acc_re = acc_im = None
    for i in range(k):
        for m in range(k):
            block = (..., slice(i * p, (i + 1) * p), slice(m * q, (m + 1) * q))
            f = filters[block]
            spec_re, spec_im = jnp.expand_dims(re[block], axis), jnp.expand_dims(im[block], axis)
            term_re, term_im = spec_re * f, spec_im * f
            acc_re = term_re if acc_re is None else acc_re + term_re
            acc_im = term_im if acc_im is None else acc_im + term_im
    scale = 1.0 / (k * k)
    return jax.lax.complex(acc_re * scale, acc_im * scale)


@jax.custom_jvp
def modulus(z: jax.Array) -> jax.Array:
    """``|z|`` of a complex array, with derivative 0, not NaN, where ``z == 0``."""
    return jnp.abs(z)


@modulus.defjvp
def _modulus_jvp(primals, tangents):
    (z,), (dz,) = primals, tangents
    r = jnp.abs(z)
    nonzero = r > 0
    safe_r = jnp.where(nonzero, r, 1.0)
    dr = (z.real * dz.real + z.imag * dz.imag) / safe_r
    return r, jnp.where(nonzero, dr, 0.0)
