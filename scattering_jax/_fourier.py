"""Fourier-domain building blocks: safe modulus, real-FFT tricks, fused filter-and-subsample.

XLA's CPU real FFTs are several times faster than its complex ones, so every transform of the
2D scattering is written with real FFTs, and spectra are carried as (real, imaginary) pairs.
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


def ifft2_modulus_halves(z: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``|ifft2(z[0] + i z[1])|`` from real FFTs, as two half planes.

    For real ``X``, ``ifft2(X) = conj(fft2(X)) / (P Q)``, so with ``A = fft2(z[0])``,
    ``B = fft2(z[1])``: ``|u| P Q = |(A_r + B_i) + i (B_r - A_i)|``, and at ``-n`` the same with
    the imaginary parts negated (Hermitian symmetry of ``A`` and ``B``).

    Args:
      z: real and imaginary parts stacked on the first axis, shape ``(2, ..., P, Q)``.

    Returns:
      ``(pos, neg)``, each ``(..., P, Q // 2 + 1)``: ``pos[r, c] = |u[r, c]|`` and
      ``neg[r, c] = |u[-r, -c]|`` (indices mod ``(P, Q)``).
    """
    p, q = z.shape[-2:]
    spectra = jnp.fft.rfft2(z)
    scale = 1.0 / (p * q)
    ar, ai = spectra[0].real * scale, spectra[0].imag * scale
    br, bi = spectra[1].real * scale, spectra[1].imag * scale
    return hypot(ar + bi, br - ai), hypot(ar - bi, br + ai)


def assemble_halves(pos: jax.Array, neg: jax.Array, q: int) -> jax.Array:
    """The full ``(..., P, q)`` array from the two halves of :func:`ifft2_modulus_halves`."""
    return jnp.concatenate([pos, mirror_tail(neg, q)], axis=-1)


def filter_fold(spectrum: tuple[jax.Array, jax.Array], filters: jax.Array, k: int) -> jax.Array:
    """Filters spectra and subsamples by ``k`` in one pass: the mean over ``k x k`` blocks of
    ``u_hat[..., None, ..., :, :] * filters`` (periodising the spectrum = subsampling in space).

    With ``z = filter_fold((u_hat.real, u_hat.imag), f, k)``,
    ``ifft2(z[0] + 1j * z[1]) == ifft2(u_hat * f)[..., ::k, ::k]``.

    Args:
      spectrum: real and imaginary parts of the spectra, each of shape ``(*S, P, Q)``.
      filters: real filters, shape ``(*F, P, Q)``.
      k: subsampling factor dividing ``P`` and ``Q``.

    Returns:
      Real and imaginary parts stacked, ``(2, *S, *F, P // k, Q // k)``. Written as a sum of
      ``k**2`` block products, which XLA fuses into one loop: the full-size product of every
      filter is never materialised, and the real filter never gets promoted to complex.
    """
    re, im = spectrum
    n_lead, n_filt = re.ndim - 2, filters.ndim - 2
    expand = (slice(None),) * n_lead + (None,) * n_filt
    filters = filters[(None,) * n_lead]
    re, im = re[expand], im[expand]
    p, q = re.shape[-2] // k, re.shape[-1] // k
    acc = None
    for i in range(k):
        for m in range(k):
            block = (..., slice(i * p, (i + 1) * p), slice(m * q, (m + 1) * q))
            f = filters[block]
            term = jnp.stack([re[block] * f, im[block] * f])
            acc = term if acc is None else acc + term
    return acc * (1.0 / (k * k))
