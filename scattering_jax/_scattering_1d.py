"""The 1D scattering transform: Kymatio 0.3.0 `Scattering1D`, any `Q`, `T` and oversampling."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from scattering_jax._checks import (
    check_int,
    check_max_order,
    check_real_signal,
    check_transform_args,
)
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


class _Levels(NamedTuple):
    """Subsampling levels of Kymatio's 1D tree for one ``oversampling``: level ``k`` is the
    resolution ``2**-k``. ``out`` is the level of every averaged output (None without
    averaging), ``first[n1]`` the level of order-1 field ``n1``; :meth:`second` that of the
    order-2 field ``(n1, n2)``."""

    out: int | None
    first: tuple[int, ...]
    cap: int
    oversampling: int

    def second(self, n1: int, j2: int) -> int:
        return max(min(j2, self.cap) - self.oversampling, self.first[n1])


def _levels(filters: FilterBank1D, oversampling: int) -> _Levels:
    # averaged, Kymatio subsamples by min(j, log2_T) less the oversampling; unaveraged by j
    cap = filters.log2_T if filters.average else max(*filters.j1, *filters.j2)
    out = max(filters.log2_T - oversampling, 0) if filters.average else None
    first = tuple(max(min(j, cap) - oversampling, 0) for j in filters.j1)
    return _Levels(out, first, cap, oversampling)


def _order2_pairs(filters: FilterBank1D, levels: _Levels, n1s: list[int]) -> list[tuple]:
    """``(index of n1 in n1s, n1, n2, level)`` for the order-2 paths from the order-1 fields
    ``n1s``: ``j2 > j1``, each reaching its own level."""
    return [
        (i, n1, n2, levels.second(n1, j2))
        for i, n1 in enumerate(n1s)
        for n2, j2 in enumerate(filters.j2)
        if j2 > filters.j1[n1]
    ]


@functools.partial(jax.jit, static_argnames=("max_order", "oversampling"))
def _scattering1d_batch(
    x: jax.Array, filters: FilterBank1D, max_order: int, oversampling: int
) -> tuple[jax.Array, ...]:
    """(B, T) -> Kymatio's ``scattering1d`` core, one step per level.

    Returns ``(B, K, t)`` when the bank averages, else one ``(B, t_i)`` array per channel.

    Level ``k`` is the resolution ``2**-k``. At each level the same few operations run on all
    the fields of that level at once, so the program grows by a constant per level, not per
    path: the order-1 fields of the level and the order-2 products that reach it are inverse
    transformed, their moduli transformed again and low-passed (or, unaveraged, cropped); the
    order-2 products of the level's order-1 fields with every later wavelet are formed at once
    and, like the products still waiting, folded by 2 on to the next level (a fold by
    ``2**k2`` is ``k2`` folds by 2).
    """
    dtype = x.dtype
    phi = [f.astype(dtype) for f in filters.phi]
    psi1 = filters.psi1.astype(dtype)
    psi2 = [f.astype(dtype) for f in filters.psi2]
    levels = _levels(filters, oversampling)
    starts, ends = filters.starts, filters.ends

    def low_pass(u_hat, k):
        h = phi[k].reshape((1,) * (u_hat.ndim - 1) + phi[k].shape)
        s = jnp.fft.ifft(_fold(u_hat * h, 2 ** (levels.out - k))).real
        return s[..., starts[levels.out] : ends[levels.out]]

    def transform(z, k, spectrum=True):
        """Outputs from the spectra ``z`` at level ``k`` (the low-passed moduli, or the cropped
        moduli without averaging), and the spectra of the moduli."""
        u = _modulus(jnp.fft.ifft(z))
        u_hat = jnp.fft.fft(u) if spectrum or filters.average else None
        if filters.average:
            return low_pass(u_hat, k), u_hat
        return u[..., starts[k] : ends[k]], u_hat

    u0 = jnp.pad(x, ((0, 0), (filters.pad_left, filters.pad_right)), mode="reflect")
    u0_hat = jnp.fft.fft(u0)
    outputs = [low_pass(u0_hat, 0)[:, None] if filters.average else x[:, None]]
    labels = [(0,)]
    k1s = levels.first
    last = max(k1s)
    if max_order == 2:
        last = max([last] + [p[3] for p in _order2_pairs(filters, levels, list(range(len(k1s))))])
    pending, waiting = None, []  # products on their way, (B, items, N_k); their (n1, n2, level)
    for k in range(last + 1):
        n1s = [n for n, k1 in enumerate(k1s) if k1 == k]
        parts = []
        if n1s:  # order-1 fields of this level, folded from the full resolution at once
            parts.append(_fold(u0_hat[:, None] * psi1[np.asarray(n1s)][None], 2**k))
        ready = [i for i, item in enumerate(waiting) if item[2] == k]
        if ready:
            parts.append(jnp.take(pending, np.asarray(ready), axis=1))
        if not parts:
            continue
        s, u_hat = transform(jnp.concatenate(parts, axis=1), k, spectrum=max_order == 2)
        outputs.append(s)
        labels += [(1, n1) for n1 in n1s] + [(2, *waiting[i][:2]) for i in ready]
        if max_order < 2:
            continue
        pairs = _order2_pairs(filters, levels, n1s)
        later = [i for i, item in enumerate(waiting) if item[2] > k]
        new = [p for p in pairs if p[3] > k]
        here = [p for p in pairs if p[3] == k]  # no subsampling between the two wavelets
        if here:
            z = u_hat[:, [p[0] for p in here]] * psi2[k][np.asarray([p[2] for p in here])][None]
            outputs.append(transform(z, k, spectrum=False)[0])
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
    if filters.average:
        return (jnp.take(jnp.concatenate(outputs, axis=1), np.asarray(order), axis=1),)
    channels = [block[:, i] for block in outputs for i in range(block.shape[1])]
    return tuple(channels[i] for i in order)


def _run(x, filters, J, max_order, oversampling) -> tuple[tuple[int, ...], tuple]:
    J, max_order = check_transform_args(filters, FilterBank1D, "filter_bank_1d", J, max_order)
    oversampling = check_int("oversampling", oversampling, 0)
    x = check_real_signal("x", x, 1)
    if x.shape[-1] != filters.length:
        raise ValueError(
            f"x must have length {filters.length} (the length the filters were "
            f"built for), got x.shape={tuple(x.shape)}"
        )
    batch = x.shape[:-1]
    flat = x.reshape(-1, x.shape[-1])
    return batch, _scattering1d_batch(flat, filters, max_order=max_order, oversampling=oversampling)


def scattering1d(
    x: Real[ArrayLike, "*batch T"],
    filters: FilterBank1D,
    *,
    J: int,
    max_order: int = 2,
    oversampling: int = 0,
) -> Float[Array, "*batch K t"]:
    r"""1D scattering transform, numerically identical to Kymatio 0.3.0's ``Scattering1D``.

    .. math::
        S_0 x = x \star \phi_T, \quad S_1 x = |x \star \psi_{\lambda_1}| \star \phi_T, \quad
        S_2 x = ||x \star \psi_{\lambda_1}| \star \psi_{\lambda_2}| \star \phi_T \ (j_2 > j_1),

    sampled every ``2**(log2_T - oversampling)`` samples (``log2_T = floor(log2 T)``), on the
    reflect-padded signal, with each modulus subsampled by the wavelet's maximal alias-free
    factor less ``oversampling`` (Kymatio's rule).

    Args:
      x: real signals, shape ``(..., T)`` with ``T == filters.length``; float32, float64 or an
        integer array (read as JAX's default float).
      filters: from ``filter_bank_1d(T, J=J, Q=Q, T=...)`` with averaging (not ``T=0``: those
        coefficients have several lengths, see :func:`scattering1d_coefficients`).
      J: must equal ``filters.J`` (a static Python int).
      max_order: 1 or 2.
      oversampling: subsample ``2**oversampling`` times less than the default, ``>= 0``.

    Returns:
      ``(..., K, t)`` with ``t`` about ``T / 2**(log2_T - oversampling)``; channel order of
      :func:`paths_1d`.

    Examples:
      >>> from scattering_jax import filter_bank_1d
      >>> fb = filter_bank_1d(256, J=4)
      >>> scattering1d(jnp.ones((2, 256)), fb, J=4).shape
      (2, 13, 16)
      >>> scattering1d(jnp.ones((2, 256)), fb, J=4, oversampling=1).shape
      (2, 13, 32)
    """
    if isinstance(filters, FilterBank1D) and not filters.average:
        raise ValueError(
            "filters were built with T=0 (no averaging): the coefficients have several "
            "lengths and make no single array; use scattering1d_coefficients or "
            "Scattering1D(..., T=0, out_type='list')"
        )
    batch, (out,) = _run(x, filters, J, max_order, oversampling)
    return out.reshape(*batch, *out.shape[1:])


def scattering1d_coefficients(
    x: Real[ArrayLike, "*batch T"],
    filters: FilterBank1D,
    *,
    J: int,
    max_order: int = 2,
    oversampling: int = 0,
) -> list[Float[Array, "..."]]:
    """The scattering coefficients one channel at a time, in :func:`paths_1d`'s order.

    Same arguments as :func:`scattering1d`; also for a bank built with ``T=0`` (no averaging:
    Kymatio's ``average=False``), whose channels are the moduli ``|x * psi1|`` and
    ``||x * psi1| * psi2|`` at their own subsampling (``S0`` is ``x`` itself), so their lengths
    differ.

    Examples:
      >>> from scattering_jax import filter_bank_1d
      >>> fb = filter_bank_1d(256, J=4, T=0)
      >>> [c.shape[-1] for c in scattering1d_coefficients(jnp.ones(256), fb, J=4, max_order=1)]
      [256, 256, 256, 256, 128, 64]
    """
    batch, out = _run(x, filters, J, max_order, oversampling)
    if filters.average:
        (out,) = out
        return [out[:, i].reshape(*batch, -1) for i in range(out.shape[1])]
    return [c.reshape(*batch, -1) for c in out]
