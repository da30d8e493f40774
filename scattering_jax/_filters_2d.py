"""Kymatio-compatible 2D Morlet filter bank, built vectorised in float64 on the host."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from scattering_jax._checks import check_bank_size, check_float_dtype, check_int

# Kymatio 0.3.0 normalises its Gabor filters with this literal, not with pi.
_KYMATIO_PI = 3.1415
# Periodised copies whose Gaussian envelope is below exp(-_ENVELOPE_CUTOFF) everywhere are
# skipped: they change the filter by less than 1e-34 of its peak, far below float64 eps.
_ENVELOPE_CUTOFF = 80.0


@dataclasses.dataclass(frozen=True)
class FilterBank2D:
    """Fourier-domain filters of the 2D scattering transform (a pytree).

    Attributes:
      phi: ``J`` arrays; ``phi[r]`` is the low-pass filter cropped to resolution ``r``, shape
        ``(P // 2**r, Q // 2**r)`` where ``(P, Q)`` is the padded shape.
      psi: ``max(J - 1, 1)`` arrays; ``psi[r]`` holds the Morlet wavelets of scales
        ``j = r, ..., J - 1`` at resolution ``r``, shape ``(J - r, L, P // 2**r, Q // 2**r)``.
      lowpass_rows: ``J`` matrices; ``lowpass_rows[r]`` of shape ``(P // 2**J - 2, P // 2**r)``
        applies the (separable) low-pass at resolution ``r`` along rows in space, subsamples by
        ``2**(J - r)`` and drops the border row on each side: the space form of
        ``phi[r]``, used by the transform instead of an FFT.
      lowpass_cols: the same along columns, shape ``(Q // 2**J - 2, Q // 2**r)``.
      shape: the unpadded input shape ``(M, N)`` (static).
      J: number of scales (static).
      L: number of orientations (static).
    """

    phi: tuple[Array, ...]
    psi: tuple[Array, ...]
    lowpass_rows: tuple[Array, ...]
    lowpass_cols: tuple[Array, ...]
    shape: tuple[int, int]
    J: int
    L: int

    @property
    def padded_shape(self) -> tuple[int, int]:
        """The padded shape ``(P, Q)`` on which the filters live."""
        return tuple(int(d) for d in self.phi[0].shape)


jax.tree_util.register_dataclass(
    FilterBank2D,
    data_fields=["phi", "psi", "lowpass_rows", "lowpass_cols"],
    meta_fields=["shape", "J", "L"],
)


def padded_shape_2d(shape: tuple[int, int], J: int) -> tuple[int, int]:
    """Kymatio's padded size ``((M // 2**J) + 2) * 2**J`` along each axis."""
    return tuple((d // 2**J + 2) * 2**J for d in shape)


def check_shape_2d(shape, J: int) -> tuple[int, int]:
    """Validates an image shape ``(M, N)`` against ``J``; returns it as a tuple of ints."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"shape must be a pair (M, N) of ints, got {shape!r}") from None
    if len(dims) != 2:
        raise ValueError(f"shape must be a pair (M, N), got {shape!r}")
    dims = tuple(check_int("shape", d, 1) for d in dims)
    if 2**J > min(dims):
        raise ValueError(
            f"J too large for the image: need 2**J <= min(M, N), got J={J} (2**J={2**J}) "
            f"and shape {dims}"
        )
    return dims


def _fold_axis(values: np.ndarray, start: int, period: int, axis: int) -> np.ndarray:
    """Sums ``values`` (indexed from coordinate ``start``) into one period along ``axis``."""
    values = np.moveaxis(values, axis, -1)
    n = values.shape[-1]
    reps = -(-n // period)
    padded = np.zeros(values.shape[:-1] + (reps * period,), values.dtype)
    padded[..., :n] = values
    folded = padded.reshape(values.shape[:-1] + (reps, period)).sum(axis=-2)
    return np.moveaxis(np.roll(folded, start % period, axis=-1), -1, axis)


def _window(sigma: float, slant: float, period: int) -> tuple[int, int]:
    """Coordinates ``[lo, hi]`` where the envelope matters, inside Kymatio's 5 copies."""
    lam_min = min(1.0, slant * slant) / (2.0 * sigma * sigma)
    radius = int(np.ceil(np.sqrt(_ENVELOPE_CUTOFF / lam_min)))
    return max(-radius, -2 * period), min(radius, 3 * period - 1)


def _gabor_or_morlet(
    P: int, Q: int, sigma: float, thetas: np.ndarray, xi: float, slant: float, morlet: bool
) -> np.ndarray:
    """Space-domain periodised Gabor (``morlet=False``) or Morlet filters, shape (T, P, Q).

    Kymatio's ``gabor_2d`` / ``morlet_2d`` in float64, with the negligible periodised copies
    left out. One angle at a time and ``P`` window rows at a time, each block folded into the
    period at once, so memory stays a few ``P x window`` blocks for any ``J``; the Morlet's
    zero-mean correction is linear, so it is applied to the folded Gabor and envelope.
    """
    x_lo, x_hi = _window(sigma, slant, P)
    y_lo, y_hi = _window(sigma, slant, Q)
    ys = np.arange(y_lo, y_hi + 1, dtype=np.float64)[None, :]
    out = np.empty((len(thetas), P, Q), np.complex128)
    for t, theta in enumerate(thetas):
        cos, sin = np.cos(theta), np.sin(theta)
        # curv = R diag(1, slant^2) R^T / (2 sigma^2)
        c00 = (cos * cos + slant * slant * sin * sin) / (2 * sigma * sigma)
        c11 = (sin * sin + slant * slant * cos * cos) / (2 * sigma * sigma)
        c01 = (cos * sin * (1.0 - slant * slant)) / (2 * sigma * sigma)
        phase_y = np.exp(1j * xi * sin * ys)
        gabor = np.zeros((P, Q), np.complex128)
        envelope = np.zeros((P, Q), np.float64)
        gabor_sum, envelope_sum = 0.0, 0.0
        for x0 in range(x_lo, x_hi + 1, P):
            xs = np.arange(x0, min(x0 + P, x_hi + 1), dtype=np.float64)[:, None]
            env = np.exp(-(c00 * xs * xs + 2.0 * c01 * xs * ys + c11 * ys * ys))
            envelope += _fold_axis(_fold_axis(env, y_lo, Q, axis=1), x0, P, axis=0)
            envelope_sum += env.sum()
            if xi:
                gab = env * np.exp(1j * xi * cos * xs) * phase_y
                gabor += _fold_axis(_fold_axis(gab, y_lo, Q, axis=1), x0, P, axis=0)
                gabor_sum += gab.sum()
        if not xi:
            gabor = envelope.astype(np.complex128)
        elif morlet:
            # zero mean: subtract K * (same Gabor at xi = 0)
            gabor = gabor - (gabor_sum / envelope_sum) * envelope
        out[t] = gabor / (2 * _KYMATIO_PI * sigma * sigma / slant)
    return out


def _crop_indices(size: int, res: int) -> np.ndarray:
    """Frequencies kept when a spectrum of ``size`` is cropped to resolution ``res``."""
    half = size // 2 ** (res + 1)
    return np.concatenate([np.arange(half), np.arange(size - half, size)])


def _spectral_crop(filters: np.ndarray, res: int) -> np.ndarray:
    """Kymatio's ``periodize_filter_fft``: keeps the low band of size ``(P, Q) / 2**res``."""
    P, Q = filters.shape[-2:]
    rows, cols = _crop_indices(P, res), _crop_indices(Q, res)
    return filters[..., rows[:, None], cols[None, :]]


def _gaussian_1d_fourier(size: int, sigma: float) -> np.ndarray:
    """Real DFT of the periodised 1D Gaussian ``exp(-x^2 / (2 sigma^2))`` on ``size`` points.

    The isotropic low-pass of Kymatio (slant 1, xi 0) is the outer product of two of these.
    """
    lo, hi = _window(sigma, 1.0, size)
    xs = np.arange(lo, hi + 1, dtype=np.float64)
    g = _fold_axis(np.exp(-xs * xs / (2 * sigma * sigma)), lo, size, axis=0)
    return np.fft.fft(g).real


def _lowpass_matrix(g_hat: np.ndarray, res: int, J: int) -> np.ndarray:
    """Space form of the cropped 1D low-pass: rows ``1 .. n - 2`` of subsample(conv)."""
    g_res = np.fft.ifft(g_hat[_crop_indices(g_hat.shape[0], res)]).real
    size, k = g_res.shape[0], 2 ** (J - res)
    rows = np.arange(1, size // k - 1)[:, None]
    return g_res[(k * rows - np.arange(size)[None, :]) % size]


def morlet_filters_2d_numpy(
    padded_shape: tuple[int, int], J: int, L: int
) -> tuple[np.ndarray, np.ndarray, list, list]:
    """Full-resolution Fourier filters in float64.

    Returns:
      ``phi`` (P, Q), ``psi`` (J, L, P, Q), and the space-domain low-pass matrices per
      resolution along rows and columns (see :class:`FilterBank2D`).
    """
    P, Q = padded_shape
    thetas = (int(L - L / 2 - 1) - np.arange(L)) * np.pi / L
    psi = np.empty((J, L, P, Q), np.float64)
    for j in range(J):
        space = _gabor_or_morlet(
            P, Q, 0.8 * 2**j, thetas, 3.0 / 4.0 * np.pi / 2**j, 4.0 / L, morlet=True
        )
        psi[j] = np.fft.fft2(space).real
    sigma = 0.8 * 2 ** (J - 1)
    g_rows = _gaussian_1d_fourier(P, sigma) / (2 * _KYMATIO_PI * sigma * sigma)
    g_cols = _gaussian_1d_fourier(Q, sigma)
    phi = g_rows[:, None] * g_cols[None, :]
    rows = [_lowpass_matrix(g_rows, r, J) for r in range(J)]
    cols = [_lowpass_matrix(g_cols, r, J) for r in range(J)]
    return phi, psi, rows, cols


def filter_bank_2d(shape: tuple[int, int], *, J: int, L: int = 8, dtype=None) -> FilterBank2D:
    r"""Builds the Fourier-domain Morlet filter bank of the 2D scattering transform.

    Identical to Kymatio 0.3.0's ``filter_bank(P, Q, J, L)`` on the padded grid
    ``P = (M // 2**J + 2) * 2**J`` (same for ``Q``): the Morlet wavelet of scale ``j`` and
    angle index ``theta`` is

    .. math::
        \psi_{j,\theta}(u) = \frac{\mathrm{slant}}{2 \cdot 3.1415\,\sigma^2}
            \sum_{k \in \mathbb{Z}^2} e^{-u_k^\top C u_k}\,(e^{i \xi \langle u_k, e_\theta\rangle}
            - \kappa), \quad u_k = u + (kP, kQ),

    with ``sigma = 0.8 * 2**j``, ``xi = 3 pi / (4 * 2**j)``, ``slant = 4 / L``,
    ``C = R_\theta diag(1, slant^2) R_\theta^T / (2 sigma^2)``, angle
    ``(int(L - L/2 - 1) - theta) * pi / L``, and ``kappa`` making the filter zero-mean; the
    stored filter is the real part of its DFT. The low-pass ``phi`` is the Gabor with
    ``sigma = 0.8 * 2**(J-1)``, ``xi = 0``, ``slant = 1``. Lower resolutions are spectral crops.
    Built in float64 with NumPy (vectorised over angles) and cast once to ``dtype``.

    Args:
      shape: the input image size ``(M, N)``.
      J: number of scales, ``2**J <= min(M, N)``.
      L: number of orientations, ``>= 1``.
      dtype: dtype of the stored filters; defaults to JAX's default float (float32, or
        float64 under ``jax.enable_x64``).

    Returns:
      A :class:`FilterBank2D` pytree.

    Examples:
      >>> fb = filter_bank_2d((32, 32), J=2, L=4)
      >>> fb.padded_shape, fb.psi[0].shape, fb.phi[1].shape
      ((40, 40), (2, 4, 40, 40), (20, 20))
    """
    J = check_int("J", J, 1)
    L = check_int("L", L, 1)
    shape = check_shape_2d(shape, J)
    dtype = check_float_dtype(dtype)
    p_rows, p_cols = padded_shape_2d(shape, J)
    # J * L + 1 complex128 filters on the padded grid (and a few temporaries of one scale)
    check_bank_size(p_rows * p_cols * (J * L + 1) * 16.0 * 2, f"shape={shape}, J={J}, L={L}")
    phi, psi, rows, cols = morlet_filters_2d_numpy(padded_shape_2d(shape, J), J, L)
    if not (np.all(np.isfinite(phi)) and np.all(np.isfinite(psi))):
        raise ValueError(f"filter bank is not finite for shape={shape}, J={J}, L={L}")
    phi_levels = tuple(jnp.asarray(_spectral_crop(phi, r), dtype) for r in range(J))
    psi_levels = tuple(jnp.asarray(_spectral_crop(psi[r:], r), dtype) for r in range(max(J - 1, 1)))
    return FilterBank2D(
        phi=phi_levels,
        psi=psi_levels,
        lowpass_rows=tuple(jnp.asarray(a, dtype) for a in rows),
        lowpass_cols=tuple(jnp.asarray(a, dtype) for a in cols),
        shape=shape,
        J=J,
        L=L,
    )
