"""Fourier-domain building blocks: safe modulus, the full spectrum of a real array from its
real FFT, fused filter-and-subsample.

Spectra that get multiplied by real filters are carried as (real, imaginary) pairs, so the
products stay real arithmetic; the inverse transforms are complex FFTs (in cache, XLA's CPU
complex FFT costs no more than two real ones).
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


def mirror_tail(half: jax.Array, q: int) -> jax.Array:
    """Entries of ``half`` (columns ``0..q//2``) at ``(-r, q - c)`` for ``c = q//2+1 .. q-1``."""
    tail = half[..., 1 : q - q // 2][..., ::-1]
    return jnp.roll(tail[..., ::-1, :], 1, axis=-2)


def fft2_real(u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Real and imaginary parts of the full 2D DFT of a real array, from its real FFT.

    The columns the real FFT leaves out follow from Hermitian symmetry,
    ``X[r, c] = conj(X[-r, q - c])``.
    """
    q = u.shape[-1]
    half = jnp.fft.rfft2(u)
    re = jnp.concatenate([half.real, mirror_tail(half.real, q)], axis=-1)
    im = jnp.concatenate([half.imag, -mirror_tail(half.imag, q)], axis=-1)
    return re, im


def filter_fold(spectrum: tuple[jax.Array, jax.Array], filters: jax.Array, k: int) -> jax.Array:
    """Filters spectra and subsamples by ``k`` in one pass: the mean over ``k x k`` blocks of
    ``u_hat * filters`` (periodising the spectrum = subsampling in space).

    With ``z = filter_fold((u_hat.real, u_hat.imag), f, k)`` for spectra of shape
    ``(B, *S, P, Q)``, ``ifft2(z[b, l]) == ifft2(u_hat[b] * f[l])[..., ::k, ::k]``.

    Args:
      spectrum: real and imaginary parts of the spectra, each of shape ``(B, *S, P, Q)``.
      filters: real filters, shape ``(F, P, Q)``.
      k: subsampling factor dividing ``P`` and ``Q``.

    Returns:
      Complex ``(B, F, *S, P // k, Q // k)``: the filter axis right after the batch axis, so
      XLA's fused loop reads each filter once for all the spectra ``S`` of a batch entry,
      which keeps it in cache. Written as a sum of ``k**2`` block products fused into one
      loop: the full-size product of every filter is never materialised, and the real filter
      is never promoted to complex.
    """
    re, im = spectrum
    n_inner = re.ndim - 3
    filters = filters.reshape(1, filters.shape[0], *(1,) * n_inner, *filters.shape[-2:])
    p, q = re.shape[-2] // k, re.shape[-1] // k
    acc_re = acc_im = None
    for i in range(k):
        for m in range(k):
            block = (..., slice(i * p, (i + 1) * p), slice(m * q, (m + 1) * q))
            f = filters[block]
            term_re, term_im = re[block][:, None] * f, im[block][:, None] * f
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
