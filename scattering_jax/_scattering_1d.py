"""The 1D scattering transform (Kymatio 0.3.0 ``Scattering1D`` with ``T = 2**J``)."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from scattering_jax._checks import check_max_order, check_real_signal, check_transform_args
from scattering_jax._filters_1d import FilterBank1D
from scattering_jax._fourier import hypot


class Paths1D(NamedTuple):
    """Per-channel order and wavelet indices ``n1``, ``n2`` (``-1`` where not applicable)."""

    order: np.ndarray
    n1: np.ndarray
    n2: np.ndarray


def paths_1d(filters: FilterBank1D, max_order: int = 2) -> Paths1D:
    """Channels of :func:`scattering1d` in Kymatio's order: ``S0``, then every first-order
    wavelet ``n1``, then pairs ``(n1, n2)`` with ``j2 > j1`` (``n1`` outermost)."""
    if not isinstance(filters, FilterBank1D):
        raise TypeError(
            f"filters must be a FilterBank1D from filter_bank_1d, got {type(filters).__name__}"
        )
    max_order = check_max_order(max_order)
    rows = [(0, -1, -1)] + [(1, n1, -1) for n1 in range(len(filters.j1))]
    if max_order == 2:
        rows += [
            (2, n1, n2)
            for n1, ja in enumerate(filters.j1)
            for n2, jb in enumerate(filters.j2)
            if jb > ja
        ]
    return Paths1D(*np.asarray(rows, dtype=np.int32).T)


def _fold(z: jax.Array, k: int) -> jax.Array:
    """Periodises the last axis by ``k`` (mean over ``k`` blocks): subsampling in time."""
    if k == 1:
        return z
    return z.reshape(*z.shape[:-1], k, z.shape[-1] // k).mean(axis=-2)


def _modulus(z: jax.Array) -> jax.Array:
    return hypot(z.real, z.imag)


@functools.partial(jax.jit, static_argnames=("max_order",))
def _scattering1d_batch(x: jax.Array, filters: FilterBank1D, max_order: int) -> jax.Array:
    """(B, T) -> (B, K, T_out), following Kymatio's ``scattering1d`` core step by step."""
    dtype = x.dtype
    phi = [f.astype(dtype) for f in filters.phi]
    psi1 = filters.psi1.astype(dtype)
    psi2 = [f.astype(dtype) for f in filters.psi2]
    log2_T, start, end = filters.log2_T, filters.start, filters.end

    def low_pass(u_hat, k):
        h = phi[k].reshape((1,) * (u_hat.ndim - 1) + phi[k].shape)
        s = jnp.fft.ifft(_fold(u_hat * h, 2 ** (log2_T - k))).real
        return s[..., start:end]

    u0 = jnp.pad(x, ((0, 0), (filters.pad_left, filters.pad_right)), mode="reflect")
    u0_hat = jnp.fft.fft(u0)
    out = [low_pass(u0_hat, 0)[:, None]]
    order2 = []
    # first-order wavelets sharing a subsampling are filtered together
    k1s = [min(j, log2_T) for j in filters.j1]
    for k1 in sorted(set(k1s)):
        n1s = [n for n, k in enumerate(k1s) if k == k1]
        u1 = _modulus(jnp.fft.ifft(_fold(u0_hat[:, None] * psi1[np.asarray(n1s)][None], 2**k1)))
        u1_hat = jnp.fft.fft(u1)
        out.append((n1s, low_pass(u1_hat, k1)))
        if max_order < 2:
            continue
        for i, n1 in enumerate(n1s):
            n2s = [n2 for n2, j2 in enumerate(filters.j2) if j2 > filters.j1[n1]]
            k2s = [max(min(filters.j2[n2], log2_T) - k1, 0) for n2 in n2s]
            # second-order wavelets sharing a subsampling are filtered together
            for k2 in sorted(set(k2s)):
                group = [n2 for n2, k in zip(n2s, k2s, strict=True) if k == k2]
                z = _fold(u1_hat[:, i, None] * psi2[k1][np.asarray(group)][None], 2**k2)
                s2 = low_pass(jnp.fft.fft(_modulus(jnp.fft.ifft(z))), k1 + k2)
                order2 += [((n1, n2), s2[:, g]) for g, n2 in enumerate(group)]
    order1 = [None] * len(k1s)
    for n1s, s in out[1:]:
        for i, n1 in enumerate(n1s):
            order1[n1] = s[:, i]
    order2 = [s for _, s in sorted(order2, key=lambda item: item[0])]
    return jnp.concatenate(
        [out[0], jnp.stack(order1, axis=1), *([jnp.stack(order2, axis=1)] if order2 else [])],
        axis=1,
    )


def scattering1d(
    x: Real[ArrayLike, "*batch T"], filters: FilterBank1D, *, J: int, max_order: int = 2
) -> Float[Array, "*batch K t"]:
    r"""1D scattering transform, numerically identical to Kymatio 0.3.0's ``Scattering1D``.

    .. math::
        S_0 x = x \star \phi_J, \quad S_1 x = |x \star \psi_{\lambda_1}| \star \phi_J, \quad
        S_2 x = ||x \star \psi_{\lambda_1}| \star \psi_{\lambda_2}| \star \phi_J \ (j_2 > j_1),

    sampled every ``2**J`` samples, on the reflect-padded signal, with each modulus subsampled
    by the wavelet's maximal alias-free factor (Kymatio's rule, ``oversampling=0``).

    Args:
      x: real signals, shape ``(..., T)`` with ``T == filters.length``.
      filters: from ``filter_bank_1d(T, J=J, Q=Q)``.
      J: must equal ``filters.J``.
      max_order: 1 or 2.

    Returns:
      ``(..., K, t)`` with ``t`` about ``T / 2**J``; channel order of :func:`paths_1d`.

    Examples:
      >>> from scattering_jax import filter_bank_1d
      >>> fb = filter_bank_1d(256, J=4)
      >>> scattering1d(jnp.ones((2, 256)), fb, J=4).shape
      (2, 13, 16)
    """
    J, max_order = check_transform_args(filters, FilterBank1D, "filter_bank_1d", J, max_order)
    x = check_real_signal("x", x, 1)
    if x.shape[-1] != filters.length:
        raise ValueError(
            f"x must have length {filters.length} (the length the filters were "
            f"built for), got x.shape={tuple(x.shape)}"
        )
    batch = x.shape[:-1]
    out = _scattering1d_batch(x.reshape(-1, x.shape[-1]), filters, max_order=max_order)
    return out.reshape(*batch, *out.shape[1:])
