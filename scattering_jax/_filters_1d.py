"""Kymatio-compatible 1D Morlet filter bank (``Scattering1D(J, shape, Q, T)``), host float64."""

import dataclasses
import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from scattering_jax._checks import check_bank_size, check_float_dtype, check_int, check_static

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
        ``J``, ``Q = (Q1, Q2)``, ``T`` (the averaging scale; ``2**J`` when the bank was built
        with ``T=0``), ``average`` (False for ``T=0``: no low-pass), ``log2_T``, the padding,
        the crops ``[starts[k], ends[k])`` of the signal at subsampling ``2**k`` and the
        maximal subsampling ``j`` and centre frequency ``xi`` of each wavelet.
    """

    phi: tuple[Array, ...]
    psi1: Array
    psi2: tuple[Array, ...]
    length: int
    J: int
    Q: tuple[int, int]
    T: float
    average: bool
    log2_T: int
    pad_left: int
    pad_right: int
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    j1: tuple[int, ...]
    j2: tuple[int, ...]
    xi1: tuple[float, ...]
    xi2: tuple[float, ...]
    sigma1: tuple[float, ...]
    sigma2: tuple[float, ...]

    @property
    def padded_length(self) -> int:
        return int(self.psi1.shape[-1])

    @property
    def start(self) -> int:
        """First kept sample at the default output resolution ``2**-log2_T``."""
        return self.starts[self.log2_T]

    @property
    def end(self) -> int:
        """End (excluded) of the kept samples at resolution ``2**-log2_T``."""
        return self.ends[self.log2_T]


jax.tree_util.register_dataclass(
    FilterBank1D,
    data_fields=["phi", "psi1", "psi2"],
    meta_fields=[
        "length",
        "J",
        "Q",
        "T",
        "average",
        "log2_T",
        "pad_left",
        "pad_right",
        "starts",
        "ends",
        "j1",
        "j2",
        "xi1",
        "xi2",
        "sigma1",
        "sigma2",
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


def check_Q(Q) -> tuple[int, int]:
    """Kymatio's ``Q``: an int ``Q1`` (then ``Q2 = 1``) or a tuple ``(Q1,)`` or ``(Q1, Q2)``."""
    if isinstance(Q, (tuple, list)):
        if not 1 <= len(Q) <= 2:
            raise ValueError(
                f"Q must be an int or a tuple (Q1,) or (Q1, Q2) (wavelets per octave at orders "
                f"1 and 2), got a sequence of length {len(Q)}: {Q!r}"
            )
        q = tuple(check_int(f"Q[{i}]", v, 1) for i, v in enumerate(Q))
        return q if len(q) == 2 else (q[0], 1)
    return check_int("Q", Q, 1), 1


def check_T(T, J: int, length: int) -> tuple[float, bool]:
    """Kymatio's ``T``: ``None`` (``2**J``), ``0`` (no averaging) or a scale in ``[1, length]``.

    Returns the averaging scale (``2**J`` for ``T=0``, whose padding Kymatio keeps) and
    whether the output is averaged."""
    T = check_static("T", T)
    if T is None:
        if 2**J > length:
            raise ValueError(
                f"J too large for the signal: the default averaging scale T = 2**J must not "
                f"exceed the length, got J={J} (2**J={2**J}) and length={length}; pass a "
                f"smaller J or an explicit T <= {length}"
            )
        return 2**J, True
    if isinstance(T, bool) or not isinstance(T, numbers.Real) or not math.isfinite(T):
        raise TypeError(f"T must be None, 0 or a number >= 1 (the averaging scale), got {T!r}")
    if T == 0:
        return 2**J, False
    if T < 1:
        raise ValueError(f"T must be 0 (no averaging) or >= 1, got T={T}")
    if T > length:
        raise ValueError(
            f"T must not exceed the signal length (the low-pass would be wider than the "
            f"signal), got T={T} and length={length}"
        )
    return (int(T) if float(T).is_integer() else float(T)), True


def filter_bank_1d(length: int, *, J: int, Q=1, T=None, dtype=None) -> FilterBank1D:
    r"""Builds the Fourier-domain filters of Kymatio 0.3.0's ``Scattering1D(J, length, Q, T)``.

    Morlet wavelets built in Fourier (Gaussians in frequency summed over a few periods, made
    zero-mean with a Gaussian low-pass and L1-normalised in time):

    .. math::
        \hat\psi(\omega) \propto \sum_p e^{-(\omega + p - \xi)^2 / 2\sigma^2}
            - \kappa \sum_p e^{-(\omega + p)^2 / 2\sigma^2},

    with ``xi`` decreasing by octaves from 0.35 (``Q1`` per octave at order 1, ``Q2`` at
    order 2) down to the width ``sigma = 0.1 / 2**J`` and ``sigma`` set by
    ``r_psi = sqrt(1/2)``; the low-pass has ``sigma = 0.1 / T``. The signal is
    reflect-padded to a power of two (Kymatio's rule, set by ``T``).

    Args:
      length: signal length ``N``.
      J: log2 of the largest wavelet scale, ``>= 1`` (a static Python int).
      Q: wavelets per octave: an int ``Q1`` (the second order then has 1) or ``(Q1, Q2)``.
      T: the averaging scale (temporal support of the low-pass): ``None`` for ``2**J``, any
        number in ``[1, length]`` (it need not be a power of two; the output is subsampled by
        ``2**floor(log2 T)``), or ``0`` for no averaging (outputs of several lengths: use
        :func:`scattering1d_coefficients` or ``Scattering1D(..., out_type='list')``).
      dtype: real floating filter dtype; defaults to JAX's default float (an integer dtype
        would round every filter to zero: a TypeError).

    Returns:
      A :class:`FilterBank1D` pytree.

    Examples:
      >>> fb = filter_bank_1d(256, J=4)
      >>> fb.padded_length, fb.psi1.shape[0]
      (512, 5)
      >>> fb = filter_bank_1d(500, J=5, Q=(8, 2), T=100)
      >>> fb.Q, fb.log2_T, len(fb.j1), len(fb.j2)
      ((8, 2), 6, 30, 11)
    """
    length = check_int("length", length, 1)
    J = check_int("J", J, 1)
    Q1, Q2 = check_Q(Q)
    T, average = check_T(T, J, length)
    dtype = check_float_dtype(dtype)
    # the padded length is at most 4 * length; about J * (Q1 + Q2) + 2 filters of that length
    # (order-2 filters at every subsampling: twice their size)
    check_bank_size(
        4 * length * (J * (Q1 + 2 * Q2) + 4) * 8.0, f"length={length}, J={J}, Q={(Q1, Q2)}"
    )
    log2_T = int(math.floor(math.log2(T)))
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

    xi1, sigma1, j1 = filter_params_1d(J, Q1)
    xi2, sigma2, j2 = filter_params_1d(J, Q2)
    # subsampling k of the crops: up to every level a field can reach
    starts, ends = [pad_left], [pad_left + length]
    for _ in range(max(log2_T, J, *j1, *j2)):
        starts.append(starts[-1] // 2 + starts[-1] % 2)
        ends.append(ends[-1] // 2 + ends[-1] % 2)
    psi1 = np.stack([_morlet_1d(n_pad, x, s) for x, s in zip(xi1, sigma1, strict=True)])
    psi2_full = np.stack([_morlet_1d(n_pad, x, s) for x, s in zip(xi2, sigma2, strict=True)])
    # order-1 fields reach subsampling min(j1, log2_T) when averaged (j1 when not)
    max_k1 = min(max(j1), log2_T) if average else max(j1)
    max_k1 = min(max_k1, j_pad)
    psi2 = [np.stack([_periodise(h, 2**k) for h in psi2_full]) for k in range(max_k1 + 1)]
    phi_full = _morlet_1d(n_pad, 0.0, _SIGMA0 / T)
    phi = [_periodise(phi_full, 2**k) for k in range(min(log2_T, j_pad) + 1)]
    return FilterBank1D(
        phi=tuple(jnp.asarray(h, dtype) for h in phi),
        psi1=jnp.asarray(psi1, dtype),
        psi2=tuple(jnp.asarray(h, dtype) for h in psi2),
        length=length,
        J=J,
        Q=(Q1, Q2),
        T=T,
        average=average,
        log2_T=log2_T,
        pad_left=pad_left,
        pad_right=pad_right,
        starts=tuple(starts),
        ends=tuple(ends),
        j1=tuple(j1),
        j2=tuple(j2),
        xi1=tuple(xi1),
        xi2=tuple(xi2),
        sigma1=tuple(sigma1),
        sigma2=tuple(sigma2),
    )
