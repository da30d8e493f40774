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


def _order2_pairs(filters: FilterBank1D, n1s: list[int], k1: int) -> list[tuple]:
    """``(index of n1 in n1s, n1, n2, level)`` for the order-2 paths from the order-1 fields
    ``n1s`` at level ``k1``: ``j2 > j1``, reaching level ``max(min(j2, log2_T), k1)``."""
    return [
        (i, n1, n2, max(min(j2, filters.log2_T), k1))
        for i, n1 in enumerate(n1s)
        for n2, j2 in enumerate(filters.j2)
        if j2 > filters.j1[n1]
    ]


@functools.partial(jax.jit, static_argnames=("max_order",))
def _scattering1d_batch(x: jax.Array, filters: FilterBank1D, max_order: int) -> jax.Array:
    """(B, T) -> (B, K, T_out), Kymatio's ``scattering1d`` core, one step per level.

    Level ``k`` is the resolution ``2**-k``. At each level the same few operations run on all
    the fields of that level at once, so the program grows by a constant per level, not per
    path: the order-1 fields of the level and the order-2 products that reach it are inverse
    transformed, their moduli transformed again and low-passed; the order-2 products of the
    level's order-1 fields with every later wavelet are formed at once and, like the products
    still waiting, folded by 2 on to the next level (a fold by ``2**k2`` is ``k2`` folds by 2).
    """
    dtype = x.dtype
    phi = [f.astype(dtype) for f in filters.phi]
    psi1 = filters.psi1.astype(dtype)
    psi2 = [f.astype(dtype) for f in filters.psi2]
    log2_T, start, end = filters.log2_T, filters.start, filters.end

    def low_pass(u_hat, k):
        h = phi[k].reshape((1,) * (u_hat.ndim - 1) + phi[k].shape)
        s = jnp.fft.ifft(_fold(u_hat * h, 2 ** (log2_T - k))).real
        return s[..., start:end]

    def transform(z, k):
        """Low-passed moduli and spectra of the moduli of spectra ``z`` at level ``k``."""
        u_hat = jnp.fft.fft(_modulus(jnp.fft.ifft(z)))
        return low_pass(u_hat, k), u_hat

    u0 = jnp.pad(x, ((0, 0), (filters.pad_left, filters.pad_right)), mode="reflect")
    u0_hat = jnp.fft.fft(u0)
    outputs, labels = [low_pass(u0_hat, 0)[:, None]], [(0,)]
    k1s = [min(j, log2_T) for j in filters.j1]
    pending, waiting = None, []  # products on their way, (B, items, N_k); their (n1, n2, level)
    for k in range(max(k1s) + 1 if max_order < 2 else log2_T + 1):
        n1s = [n for n, k1 in enumerate(k1s) if k1 == k]
        parts = []
        if n1s:  # order-1 fields of this level, folded from the full resolution at once
            parts.append(_fold(u0_hat[:, None] * psi1[np.asarray(n1s)][None], 2**k))
        ready = [i for i, item in enumerate(waiting) if item[2] == k]
        if ready:
            parts.append(jnp.take(pending, np.asarray(ready), axis=1))
        if not parts:
            continue
        s, u_hat = transform(jnp.concatenate(parts, axis=1), k)
        outputs.append(s)
        labels += [(1, n1) for n1 in n1s] + [(2, *waiting[i][:2]) for i in ready]
        if max_order < 2:
            continue
        pairs = _order2_pairs(filters, n1s, k)
        later = [i for i, item in enumerate(waiting) if item[2] > k]
        new = [p for p in pairs if p[3] > k]
        here = [p for p in pairs if p[3] == k]  # only at level log2_T: no subsampling left
        if here:
            z = u_hat[:, [p[0] for p in here]] * psi2[k][np.asarray([p[2] for p in here])][None]
            outputs.append(transform(z, k)[0])
            labels += [(2, p[1], p[2]) for p in here]
        carried = []
        if later:
            carried.append(_fold(jnp.take(pending, np.asarray(later), axis=1), 2))
        if new:
            z = u_hat[:, [p[0] for p in new]] * psi2[k][np.asarray([p[2] for p in new])][None]
            carried.append(_fold(z, 2))
        waiting = [waiting[i] for i in later] + [p[1:] for p in new]
        pending = jnp.concatenate(carried, axis=1) if carried else None
    # channels in Kymatio's order: S0, order 1 by n1, order 2 by (n1, n2)
    order = sorted(range(len(labels)), key=lambda i: labels[i])
    return jnp.take(jnp.concatenate(outputs, axis=1), np.asarray(order), axis=1)


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
