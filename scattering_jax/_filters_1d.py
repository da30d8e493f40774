"""Kymatio-compatible 1D Morlet filter bank (``Scattering1D(J, shape, Q)``), host float64."""

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from scattering_jax._checks import check_bank_size, check_float_dtype, check_int

# Kymatio 0.3.0 defaults of Scattering1D.
_R_PSI = math.sqrt(0.5)
_SIGMA0 = 0.1
_ALPHA = 5.0


@dataclasses.dataclass(frozen=True)
class FilterBank1D:
    """Fourier-domain filters of the 1D scattering transform (a pytree).

    Attributes:
      phi: low-pass at subsamplings ``0 .. log2_T``; ``phi[k]`` has length ``n_pad // 2**k``.
      psi1: first-order wavelets at full resolution, shape ``(n1, n_pad)``.
      psi2: second-order wavelets; ``psi2[k]`` is every wavelet periodised to subsampling
        ``k``, shape ``(n2, n_pad // 2**k)``.
      length: unpadded signal length (static); the other static fields are Kymatio's
        ``J``, ``Q``, ``log2_T``, the padding, the crop ``[start, end)`` at the output
        resolution and the maximal subsampling ``j`` of each wavelet.
    """

    phi: tuple[Array, ...]
    psi1: Array
    psi2: tuple[Array, ...]
    length: int
    J: int
    Q: int
    log2_T: int
    pad_left: int
    pad_right: int
    start: int
    end: int
    j1: tuple[int, ...]
    j2: tuple[int, ...]
    xi1: tuple[float, ...]
    xi2: tuple[float, ...]

    @property
    def padded_length(self) -> int:
        return int(self.psi1.shape[-1])


jax.tree_util.register_dataclass(
    FilterBank1D,
    data_fields=["phi", "psi1", "psi2"],
    meta_fields=[
        "length",
        "J",
        "Q",
        "log2_T",
        "pad_left",
        "pad_right",
        "start",
        "end",
        "j1",
        "j2",
        "xi1",
        "xi2",
    ],
)


def _morlet_1d(n: int, xi: float, sigma: float) -> np.ndarray:
    """Kymatio's ``morlet_1d`` (``xi=0``: the Gaussian low-pass), L1-normalised in time."""
    # number of frequency periods summed so that the Gaussian tail is below 1e-7
    periods = min(int(math.ceil(math.sqrt(-2 * sigma**2 * math.log(1e-7)) + 1)), 5)
    freqs = np.arange((1 - periods) * n, periods * n, dtype=float) / float(n)
    freqs_low = np.fft.fftfreq(n) if periods == 1 else freqs
    low = np.exp(-(freqs_low**2) / (2 * sigma**2)).reshape(2 * periods - 1, n).mean(axis=0)
    if xi:
        gabor = np.exp(-((freqs - xi) ** 2) / (2 * sigma**2))
        gabor = gabor.reshape(2 * periods - 1, n).mean(axis=0)
        filt = gabor - (gabor[0] / low[0]) * low
    else:
        filt = low
    return filt / np.abs(np.fft.ifft(filt)).sum()


def _periodise(h: np.ndarray, k: int) -> np.ndarray:
    return h.reshape(k, h.shape[-1] // k).mean(axis=0)


def _sigma_psi(xi: float, Q: int) -> float:
    factor = 1.0 / 2 ** (1.0 / Q)
    return xi * (1 - factor) / (1 + factor) / math.sqrt(2 * math.log(1.0 / _R_PSI))


def _max_subsampling(xi: float, sigma: float) -> int:
    return int(math.floor(-math.log2(min(xi + _ALPHA * sigma, 0.5))) - 1)


def filter_params_1d(J: int, Q: int) -> tuple[list[float], list[float], list[int]]:
    """Centre frequencies, widths and maximal subsamplings of Kymatio's wavelets."""
    sigma_min = _SIGMA0 / 2**J
    xi_max = max(1.0 / (1.0 + 2 ** (3.0 / Q)), 0.35)
    sigma_max = _sigma_psi(xi_max, Q)
    if sigma_max <= sigma_min:
        xis, sigmas, elbow = [], [], sigma_max
    else:
        xis, sigmas = [xi_max], [sigma_max]
        while sigmas[-1] > sigma_min * 2 ** (1 / Q):
            xis.append(xis[-1] / 2 ** (1 / Q))
            sigmas.append(sigmas[-1] / 2 ** (1 / Q))
        elbow = xis[-1]
    for q in range(1, Q):
        xis.append(elbow - q / Q * elbow)
        sigmas.append(sigma_min)
    return xis, sigmas, [_max_subsampling(x, s) for x, s in zip(xis, sigmas, strict=True)]


def _temporal_support(h_hat: np.ndarray, criterion: float = 1e-3) -> int:
    h = np.abs(np.fft.ifft(h_hat))[: h_hat.shape[0] // 2]
    tail = np.cumsum(h[::-1])[::-1]  # L1 norm of h[n:half]
    below = np.nonzero(tail <= criterion)[0]
    return int(below[0]) + 1 if below.size else h_hat.shape[0] // 2


def filter_bank_1d(length: int, *, J: int, Q: int = 1, dtype=None) -> FilterBank1D:
    r"""Builds the Fourier-domain filters of Kymatio 0.3.0's ``Scattering1D(J, length, Q)``.

    Morlet wavelets built in Fourier (Gaussians in frequency summed over a few periods, made
    zero-mean with a Gaussian low-pass and L1-normalised in time):

    .. math::
        \hat\psi(\omega) \propto \sum_p e^{-(\omega + p - \xi)^2 / 2\sigma^2}
            - \kappa \sum_p e^{-(\omega + p)^2 / 2\sigma^2},

    with ``xi`` decreasing by octaves from 0.35 (``Q`` per octave) and ``sigma`` set by
    ``r_psi = sqrt(1/2)``; the low-pass has ``sigma = 0.1 / 2**J`` (``T = 2**J``). The signal
    is reflect-padded to a power of two (Kymatio's rule).

    Args:
      length: signal length ``T_in``.
      J: log2 of the averaging scale, ``>= 1``.
      Q: wavelets per octave at the first order (the second order uses 1), ``>= 1``.
      dtype: real floating filter dtype; defaults to JAX's default float (an integer dtype
        would round every filter to zero: a TypeError).

    Returns:
      A :class:`FilterBank1D` pytree.

    Examples:
      >>> fb = filter_bank_1d(256, J=4)
      >>> fb.padded_length, fb.psi1.shape[0]
      (512, 5)
    """
    length = check_int("length", length, 1)
    J = check_int("J", J, 1)
    Q = check_int("Q", Q, 1)
    if 2**J > length:
        raise ValueError(
            f"J too large for the signal: need 2**J <= length, got J={J} "
            f"(2**J={2**J}) and length={length}"
        )
    dtype = check_float_dtype(dtype)
    # the padded length is at most 4 * length; J * Q + J + 2 filters of that length
    check_bank_size(4 * length * (J * Q + J + 2) * 8.0, f"length={length}, J={J}, Q={Q}")
    T = 2**J
    log2_T = J
    min_to_pad = 3 * _temporal_support(_morlet_1d(length, 0.0, _SIGMA0 / T))
    j_pad = min(
        int(np.ceil(np.log2(length + 2 * min_to_pad))), int(np.floor(np.log2(3 * length - 2)))
    )
    n_pad = 2**j_pad
    pad_left = (n_pad - length) // 2
    pad_right = n_pad - length - pad_left
    if max(pad_left, pad_right) >= length:
        raise ValueError(
            f"length={length} is too short for J={J}: the reflect padding "
            f"({pad_left}, {pad_right}) would exceed the signal"
        )
    start, end = pad_left, pad_left + length
    for _ in range(log2_T):
        start, end = start // 2 + start % 2, end // 2 + end % 2

    xi1, sigma1, j1 = filter_params_1d(J, Q)
    xi2, sigma2, j2 = filter_params_1d(J, 1)
    psi1 = np.stack([_morlet_1d(n_pad, x, s) for x, s in zip(xi1, sigma1, strict=True)])
    psi2_full = np.stack([_morlet_1d(n_pad, x, s) for x, s in zip(xi2, sigma2, strict=True)])
    max_k1 = min(max(j1), log2_T)
    psi2 = [np.stack([_periodise(h, 2**k) for h in psi2_full]) for k in range(max_k1 + 1)]
    phi_full = _morlet_1d(n_pad, 0.0, _SIGMA0 / T)
    phi = [_periodise(phi_full, 2**k) for k in range(log2_T + 1)]
    return FilterBank1D(
        phi=tuple(jnp.asarray(h, dtype) for h in phi),
        psi1=jnp.asarray(psi1, dtype),
        psi2=tuple(jnp.asarray(h, dtype) for h in psi2),
        length=length,
        J=J,
        Q=Q,
        log2_T=log2_T,
        pad_left=pad_left,
        pad_right=pad_right,
        start=start,
        end=end,
        j1=tuple(j1),
        j2=tuple(j2),
        xi1=tuple(xi1),
        xi2=tuple(xi2),
    )
