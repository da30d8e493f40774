"""Kymatio-compatible 2D Morlet filter bank, built vectorised in float64 on the host."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from scattering_jax._checks import check_bank_size, check_bool, check_float_dtype, check_int

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
      coarse_psi: the inputs of the transform's coarse loop, which runs the resolutions
        ``r = coarse_start .. J - 1`` with every field kept at the size
        ``(Pc, Qc) = (P, Q) // 2**coarse_start`` (a field of resolution ``r`` repeated
        ``t = 2**(r - coarse_start)`` times per axis, its spectrum on every ``t``-th
        frequency): shape ``(J - coarse_start, J - 1 - coarse_start, L, Pc, Qc)``, entry
        ``[r - coarse_start, i]`` the wavelets of scale ``r + 1 + i`` at resolution ``r`` on
        that grid (zero past scale ``J - 1``, and zero off the grid); an empty array when
        ``coarse_start == J``.
      coarse_lowpass: the low-pass of the loop's resolutions as one linear map each, shape
        ``(J - coarse_start, Pc, Qc, m, n)`` with ``(m, n) = (P, Q) // 2**J - 2``: entry
        ``[r - coarse_start, p, q, a, b]`` is ``lowpass_rows[r][a, p] lowpass_cols[r][b, q]``
        on the first period of a tiled field, zero elsewhere.
      shape: the unpadded input shape ``(M, N)`` (static).
      J: number of scales (static).
      L: number of orientations (static).
      coarse_start: the first resolution of the coarse loop, ``J`` when there is none
        (static; see :func:`coarse_start_2d`).
    """

    phi: tuple[Array, ...]
    psi: tuple[Array, ...]
    lowpass_rows: tuple[Array, ...]
    lowpass_cols: tuple[Array, ...]
    coarse_psi: Array
    coarse_lowpass: Array
    shape: tuple[int, int]
    J: int
    L: int
    coarse_start: int

    @property
    def padded_shape(self) -> tuple[int, int]:
        """The padded shape ``(P, Q)`` on which the filters live."""
        return tuple(int(d) for d in self.phi[0].shape)


jax.tree_util.register_dataclass(
    FilterBank2D,
    data_fields=["phi", "psi", "lowpass_rows", "lowpass_cols", "coarse_psi", "coarse_lowpass"],
    meta_fields=["shape", "J", "L", "coarse_start"],
)

# The transform runs its coarsest resolutions in one loop, one step per scale, so that its
# program stops growing with J. The loop keeps every field at the size of its first resolution,
# and so wastes work on the later ones; it starts where fields are small (at most
# _COARSE_PIXELS, and at most 1 / _COARSE_FRACTION of the padded image: the loop's steps then
# cost a few percent of the finer ones'), and only where it replaces at least _MIN_LOOP_STEPS
# unrolled steps (each costs ~50 ms of compile on a 2-core CPU; the loop body ~150 ms).
_COARSE_PIXELS = 64 * 64
_COARSE_FRACTION = 64
_MIN_LOOP_STEPS = 4


def coarse_start_2d(padded_shape: tuple[int, int], J: int) -> int:
    """The first resolution whose padded fields have at most 4096 pixels and at most 1/64 of
    the padded image's, where the 2D transform's coarse loop starts; ``J`` (no loop) if that
    leaves fewer than 4 scales.

    Examples:
      >>> coarse_start_2d((512, 512), 7), coarse_start_2d((288, 288), 4)
      (3, 4)
    """
    P, Q = padded_shape
    for r in range(1, J):
        pixels = (P >> r) * (Q >> r)
        if pixels <= _COARSE_PIXELS and pixels * _COARSE_FRACTION <= P * Q:
            return r if J - r >= _MIN_LOOP_STEPS else J
    return J


def _coarse_tables(psi_levels, rows, cols, shape, J, L, start):
    """The coarse loop's inputs (see :class:`FilterBank2D`) from the per-resolution filters."""
    P, Q = shape
    Pc, Qc = P >> start, Q >> start
    steps, slots = J - start, max(J - 1 - start, 0)
    psi = np.zeros((steps, slots, L, Pc, Qc))
    for r in range(start, J - 1):
        t = 2 ** (r - start)
        psi[r - start, : J - 1 - r, :, ::t, ::t] = psi_levels[r][1:]
    m, n = rows[0].shape[0], cols[0].shape[0]
    lowpass = np.zeros((steps, Pc, Qc, m, n))
    for r in range(start, J):
        block = np.einsum("ap,bq->pqab", rows[r], cols[r])
        lowpass[r - start, : P >> r, : Q >> r] = block
    return psi, lowpass


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


def filter_bank_2d(
    shape: tuple[int, int], *, J: int, L: int = 8, dtype=None, coarse_loop: bool = True
) -> FilterBank2D:
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
      coarse_loop: let the transform run the coarsest resolutions as one loop step each
        where :func:`coarse_start_2d` finds them (``J >= 7`` on large images): its compile
        time then stays flat in ``J``, for a steady state about a quarter slower at those
        ``J`` (measured at (1, 256, 256) J=7 on a 2-core CPU: compile 0.66 s against 0.8 s,
        a call 0.17 s against 0.14 s). ``False`` unrolls every resolution.

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
    coarse_loop = check_bool("coarse_loop", coarse_loop)
    p_rows, p_cols = padded_shape_2d(shape, J)
    # J * L + 1 complex128 filters on the padded grid (and a few temporaries of one scale)
    check_bank_size(p_rows * p_cols * (J * L + 1) * 16.0 * 2, f"shape={shape}, J={J}, L={L}")
    phi, psi, rows, cols = morlet_filters_2d_numpy(padded_shape_2d(shape, J), J, L)
    if not (np.all(np.isfinite(phi)) and np.all(np.isfinite(psi))):
        raise ValueError(f"filter bank is not finite for shape={shape}, J={J}, L={L}")
    phi_levels = tuple(_spectral_crop(phi, r) for r in range(J))
    psi_levels = tuple(_spectral_crop(psi[r:], r) for r in range(max(J - 1, 1)))
    start = coarse_start_2d((p_rows, p_cols), J) if coarse_loop else J
    coarse = _coarse_tables(psi_levels, rows, cols, (p_rows, p_cols), J, L, start)
    as_jax = lambda arrays: tuple(jnp.asarray(a, dtype) for a in arrays)
    return FilterBank2D(
        phi=as_jax(phi_levels),
        psi=as_jax(psi_levels),
        lowpass_rows=as_jax(rows),
        lowpass_cols=as_jax(cols),
        coarse_psi=jnp.asarray(coarse[0], dtype),
        coarse_lowpass=jnp.asarray(coarse[1], dtype),
        shape=shape,
        J=J,
        L=L,
        coarse_start=start,
    )
