"""Windowed Fourier and continuous wavelet transforms of the paper (eqs. 9-11), FFT based."""

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Num, Real

from scattering_jax._checks import check_int, check_numeric

WAVELETS = ("morlet", "ricker")
_MORLET_W0 = 6.0
# periodised copies of the dilated wavelet on the circle (enough while scales < length / 5)
_COPIES = 2


def _mother_wavelet(t: jax.Array, wavelet: str) -> jax.Array:
    if wavelet == "morlet":
        # admissible Morlet: pi^(-1/4) (e^{i w0 t} - e^{-w0^2/2}) e^{-t^2/2}
        return (
            math.pi**-0.25
            * (jnp.exp(1j * _MORLET_W0 * t) - math.exp(-(_MORLET_W0**2) / 2))
            * jnp.exp(-t * t / 2)
        )
    # Ricker / Mexican hat: 2 / (sqrt(3) pi^(1/4)) (1 - t^2) e^{-t^2/2}
    return (2 / (math.sqrt(3) * math.pi**0.25) * (1 - t * t) * jnp.exp(-t * t / 2)).astype(
        jnp.result_type(t.dtype, jnp.complex64)
    )


def _check_concrete_finite(name: str, value: jax.Array, positive: bool = False) -> None:
    """Raises on NaN/inf (and non-positive values) when ``value`` is concrete."""
    if isinstance(value, jax.core.Tracer):
        return
    arr = np.asarray(value)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite, got {arr}")
    if positive and not np.all(arr > 0):
        raise ValueError(f"{name} must be > 0, got {arr}")


def cwt(
    x: Num[ArrayLike, "*batch T"], scales: Real[ArrayLike, " S"], *, wavelet: str = "morlet"
) -> Complex[Array, "*batch S T"]:
    r"""Continuous wavelet transform on the circle (the paper's eqs. 10-11), by FFT.

    .. math::
        W x(s, u) = \sum_{n=0}^{T-1} x[n] \, \frac{1}{\sqrt{s}}
            \overline{\psi\Big(\frac{n - u}{s}\Big)}

    with ``n - u`` taken modulo ``T`` (the dilated wavelet is periodised on the circle). The
    mother wavelet is the admissible Morlet
    ``psi(t) = pi^{-1/4} (e^{6 i t} - e^{-18}) e^{-t^2/2}`` or the Ricker
    ``2 / (sqrt(3) pi^{1/4}) (1 - t^2) e^{-t^2/2}``. Differentiable in ``x`` and ``scales``.

    Args:
      x: real or complex signals, shape ``(..., T)``.
      scales: positive scales ``s``, shape ``(S,)`` (in samples; best ``1 <= s < T / 5``).
      wavelet: ``"morlet"`` or ``"ricker"``.

    Returns:
      Complex coefficients, shape ``(..., S, T)``.

    Examples:
      >>> t = jnp.arange(64.0)
      >>> w = cwt(jnp.cos(2 * jnp.pi * 8 * t / 64), jnp.array([2.0, 7.6]))
      >>> w.shape, bool(jnp.abs(w[1]).mean() > jnp.abs(w[0]).mean())
      ((2, 64), True)
    """
    if wavelet not in WAVELETS:
        raise ValueError(f"wavelet must be one of {WAVELETS}, got {wavelet!r}")
    x = jnp.asarray(check_numeric("x", x))
    if x.ndim < 1:
        raise ValueError(f"x must have rank >= 1 (..., T), got shape {tuple(x.shape)}")
    scales = jnp.asarray(check_numeric("scales", scales))
    if scales.ndim != 1 or scales.shape[0] < 1:
        raise ValueError(
            f"scales must have shape (S,) with S >= 1, got shape {tuple(scales.shape)}"
        )
    if jnp.issubdtype(scales.dtype, jnp.complexfloating):
        raise TypeError(f"scales must be real, got dtype {scales.dtype}")
    _check_concrete_finite("scales", scales, positive=True)
    real_dtype = jnp.result_type(
        x.dtype if jnp.issubdtype(x.dtype, jnp.inexact) else float,
        scales.dtype if jnp.issubdtype(scales.dtype, jnp.floating) else float,
    )
    real_dtype = jnp.finfo(real_dtype).dtype
    length = x.shape[-1]
    scales = scales.astype(real_dtype)
    # centred sample positions, plus the periodised copies
    n = jnp.arange(length, dtype=real_dtype)
    centred = n - length * jnp.round(n / length)
    shifts = length * jnp.arange(-_COPIES, _COPIES + 1, dtype=real_dtype)
    t = (centred[None, :] + shifts[:, None])[None] / scales[:, None, None]  # (S, copies, T)
    psi = _mother_wavelet(t, wavelet).sum(axis=1) / jnp.sqrt(scales)[:, None]  # (S, T)
    # correlation with the periodic wavelet: ifft(X * conj(fft(psi)))
    x_hat = jnp.fft.fft(x.astype(jnp.result_type(real_dtype, jnp.complex64)), axis=-1)
    psi_hat = jnp.conj(jnp.fft.fft(psi, axis=-1))
    psi_hat = psi_hat.reshape((1,) * (x.ndim - 1) + psi_hat.shape)
    return jnp.fft.ifft(x_hat[..., None, :] * psi_hat, axis=-1)


def windowed_fourier(
    x: Num[ArrayLike, "*batch T"], window: Num[ArrayLike, " W"], *, hop: int
) -> Complex[Array, "*batch F W"]:
    r"""Windowed Fourier transform (the paper's eq. 9), sampled on frames and DFT frequencies.

    .. math::
        S x(u_m, \xi_k) = \sum_{n=0}^{W-1} x[u_m + n] \, g[n] \, e^{-i \xi_k (u_m + n)},
        \quad u_m = m \cdot \mathrm{hop}, \ \xi_k = 2 \pi k / W,

    i.e. :math:`\int f(t) g(t - u) e^{-i\xi t} dt` with the window starting at ``u`` and the
    phase in absolute time as in eq. 9 (multiply by :math:`e^{i\xi_k u_m}` for the
    frame-local phase of an STFT; the modulus, the spectrogram, is the same).

    Args:
      x: real or complex signals, shape ``(..., T)``.
      window: the window ``g``, shape ``(W,)`` with ``W <= T``.
      hop: frame step, ``>= 1``.

    Returns:
      Complex ``(..., F, W)`` with ``F = (T - W) // hop + 1`` frames.

    Examples:
      >>> x = jnp.cos(2 * jnp.pi * 4 * jnp.arange(64) / 16)
      >>> s = windowed_fourier(x, jnp.ones(16), hop=8)
      >>> s.shape, int(jnp.argmax(jnp.abs(s[0, :8])))
      ((7, 16), 4)
    """
    hop = check_int("hop", hop, 1)
    x = jnp.asarray(check_numeric("x", x))
    window = jnp.asarray(check_numeric("window", window))
    if window.ndim != 1:
        raise ValueError(f"window must have shape (W,), got shape {tuple(window.shape)}")
    if x.ndim < 1:
        raise ValueError(f"x must have rank >= 1 (..., T), got shape {tuple(x.shape)}")
    width, length = window.shape[0], x.shape[-1]
    if width < 1 or width > length:
        raise ValueError(f"window length must be in [1, T={length}], got {width}")
    _check_concrete_finite("window", window)
    n_frames = (length - width) // hop + 1
    starts = hop * np.arange(n_frames)
    frames = x[..., starts[:, None] + np.arange(width)[None, :]]  # (..., F, W)
    dtype = jnp.result_type(frames.dtype, window.dtype, jnp.complex64)
    spectrum = jnp.fft.fft((frames * window[(None,) * (frames.ndim - 1)]).astype(dtype), axis=-1)
    # e^{-i xi_k u_m}: absolute-time phase of eq. 9
    k = np.arange(width)
    phase = np.exp(-2j * np.pi * ((starts[:, None] * k[None, :]) % width) / width)
    phase = jnp.asarray(phase, dtype).reshape((1,) * (frames.ndim - 2) + phase.shape)
    return spectrum * phase
