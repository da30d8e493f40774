"""The 2D scattering transform (Kymatio 0.3.0 definition), jit-compiled and vectorised."""

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
from scattering_jax._filters_2d import FilterBank2D, filter_bank_2d
from scattering_jax._fourier import fft2_real, filter_fold, modulus


class Paths2D(NamedTuple):
    """Per-channel description of the 2D scattering output (``-1`` where not applicable).

    Attributes:
      order: scattering order (0, 1 or 2) of each channel, shape ``(K,)``.
      j1, theta1: scale and angle index of the first wavelet, shape ``(K,)``.
      j2, theta2: scale and angle index of the second wavelet, shape ``(K,)``.
    """

    order: np.ndarray
    j1: np.ndarray
    theta1: np.ndarray
    j2: np.ndarray
    theta2: np.ndarray


def paths_2d(J: int, L: int = 8, max_order: int = 2) -> Paths2D:
    """Order, scales and angles of every channel, in Kymatio's ``out_type='list'`` order.

    Channel 0 is the low-pass; then ``(j1, theta1)`` for ``j1 < J``, ``theta1 < L``; then, for
    ``max_order=2``, ``(j1, theta1, j2, theta2)`` with ``j2 > j1``, ``(j1, theta1)`` outermost.
    ``K = 1 + J L + L^2 J (J - 1) / 2`` channels for ``max_order=2``.

    Args:
      J: number of scales, ``>= 1``.
      L: number of orientations, ``>= 1``.
      max_order: 1 or 2.

    Returns:
      A :class:`Paths2D` of int arrays of shape ``(K,)``.

    Examples:
      >>> p = paths_2d(2, 2)
      >>> p.order.tolist()
      [0, 1, 1, 1, 1, 2, 2, 2, 2]
      >>> p.j2.tolist()[5:], p.theta1.tolist()[5:]
      ([1, 1, 1, 1], [0, 0, 1, 1])
    """
    J = check_int("J", J, 1)
    L = check_int("L", L, 1)
    max_order = check_max_order(max_order)
    rows = [(0, -1, -1, -1, -1)]
    rows += [(1, j1, t1, -1, -1) for j1 in range(J) for t1 in range(L)]
    if max_order == 2:
        rows += [
            (2, j1, t1, j2, t2)
            for j1 in range(J)
            for t1 in range(L)
            for j2 in range(j1 + 1, J)
            for t2 in range(L)
        ]
    cols = np.asarray(rows, dtype=np.int32).T
    return Paths2D(*cols)


def _low_pass(u: jax.Array, rows: jax.Array, cols: jax.Array) -> jax.Array:
    """``u * phi`` subsampled and unpadded, in space: the low-pass is separable, so this is
    two small matrix products (same operator as the Fourier-domain ``phi``, no FFT)."""
    t = jnp.einsum("...pq,nq->...pn", u, cols)
    return jnp.einsum("mp,...pn->...mn", rows, t)


# Working set of one loop step. On a CPU, streaming arrays through memory costs more than the
# arithmetic, and steps whose arrays stay in cache run several times faster. GPUs and TPUs want
# few large steps, bounded by their memory only.
_CHUNK_BYTES = 2**19
_ACCELERATOR_CHUNK_BYTES = 2**28


def _chunk_bytes() -> int:
    """The working-set budget of one step on the backend the program is compiled for."""
    return _CHUNK_BYTES if jax.default_backend() == "cpu" else _ACCELERATOR_CHUNK_BYTES


def _largest_divisor_at_most(n: int, limit: int) -> int:
    return max(d for d in range(1, max(1, min(n, limit)) + 1) if n % d == 0)


def _chunking(batch: int, L: int, P: int, Q: int, itemsize: int, budget: int) -> tuple[int, int]:
    """(images per loop step, first-order angles per vectorised step) for ``budget`` bytes."""
    # largest complex fields per (image, theta1): order 1 at full resolution (P Q), and the
    # order-2 fields of the next scale for all theta2 (L P Q / 4)
    unit = 2 * itemsize * max(P * Q, L * P * Q // 4)
    units = max(1, budget // unit)
    if units >= L:
        return _largest_divisor_at_most(batch, units // L), L
    return 1, _largest_divisor_at_most(L, units)


def _modulus_at(spectrum: jax.Array) -> jax.Array:
    """``|ifft2(spectrum)|``."""
    return modulus(jnp.fft.ifft2(spectrum))


def _scattering2d_chunk(
    x: jax.Array,
    filters: FilterBank2D,
    psi_by_theta: jax.Array,
    J: int,
    max_order: int,
) -> jax.Array:
    """Scattering of a chunk ``x`` of shape (c, M, N) -> (c, K, M // 2**J, N // 2**J).

    ``filters`` are already cast to ``x.dtype``; ``psi_by_theta`` is ``filters.psi[0]`` grouped
    by first-order angle, (L // g, J, g, P, Q), prepared once outside the loop over chunks.
    Order-1 fields are (image, theta1, ...); order-2 fields put the filter axis first,
    (theta2, image, theta1, ...), so that each second-order filter is read from memory once per
    step for all the spectra of the step; the small outputs are put in Kymatio's order at the
    end.
    """
    psi, rows, cols = filters.psi, filters.lowpass_rows, filters.lowpass_cols
    (M, N), (P, Q) = filters.shape, filters.padded_shape
    L = filters.L
    pad = ((0, 0), ((P - M) // 2, (P - M + 1) // 2), ((Q - N) // 2, (Q - N + 1) // 2))
    x_pad = jnp.pad(x, pad, mode="reflect")
    x_hat = fft2_real(x_pad)
    order0 = _low_pass(x_pad, rows[0], cols[0])

    def theta1_group(psi_group):
        """Orders 1 and 2 for a group of g first-order angles; psi_group: (J, g, P, Q)."""
        order1, order2 = [], []
        for j1 in range(J):
            u1 = _modulus_at(filter_fold(x_hat, psi_group[j1], 2**j1))  # (c, g, P1, Q1)
            order1.append(_low_pass(u1, rows[j1], cols[j1]))
            if max_order < 2 or j1 == J - 1:
                continue
            u1_hat = fft2_real(u1)
            for j2 in range(j1 + 1, J):
                # all L second-order angles at once, filter axis first: (L, c, g, P2, Q2)
                z = filter_fold(u1_hat, psi[j1][j2 - j1], 2 ** (j2 - j1), filters_first=True)
                order2.append(_low_pass(_modulus_at(z), rows[j2], cols[j2]))
        s2 = jnp.stack(order2) if order2 else None  # ((j1, j2), theta2, c, g, m, n)
        return jnp.stack(order1), s2  # (J, c, g, m, n)

    s1, s2 = jax.lax.map(theta1_group, psi_by_theta)  # leading axis: angle groups
    c, m, n = x.shape[0], order0.shape[-2], order0.shape[-1]
    # Kymatio's order: 1 + j1 L + theta1, then (j1, theta1, j2, theta2)
    # s1: (groups, J, c, g, m, n); s2: (groups, (j1, j2), theta2, c, g, m, n)
    blocks = [order0[:, None], jnp.transpose(s1, (2, 1, 0, 3, 4, 5)).reshape(c, J * L, m, n)]
    if s2 is not None:
        s2 = jnp.transpose(s2, (3, 1, 0, 4, 2, 5, 6))  # (c, (j1, j2), theta1, theta2, m, n)
        s2 = s2.reshape(c, -1, L, L, m, n)
        start = 0
        for j1 in range(J - 1):
            pairs = J - 1 - j1
            block = jnp.swapaxes(s2[:, start : start + pairs], 1, 2)  # (c, theta1, j2, theta2)
            blocks.append(block.reshape(c, L * pairs * L, m, n))
            start += pairs
    return jnp.concatenate(blocks, axis=1)


def _batch_sharding(x: jax.Array) -> tuple[object, int]:
    """The explicit sharding of the batch axis of ``x`` (or None) and its number of shards."""
    try:
        sharding = jax.typeof(x).sharding
        axes = sharding.spec[0] if len(sharding.spec) else None
        if axes is None:
            return None, 1
        names = axes if isinstance(axes, tuple) else (axes,)
        shards = int(np.prod([sharding.mesh.shape[a] for a in names]))
        return jax.sharding.NamedSharding(sharding.mesh, jax.P(axes)), shards
    except (AttributeError, TypeError, KeyError):
        return None, 1


@functools.partial(jax.jit, static_argnames=("J", "max_order"))
def _scattering2d_batch(x: jax.Array, filters: FilterBank2D, J: int, max_order: int) -> jax.Array:
    """Scattering of a batch ``x`` of shape (B, M, N) -> (B, K, M // 2**J, N // 2**J).

    The batch is processed in chunks by a loop (cache-sized on a CPU, as large as memory allows
    on an accelerator, where it is usually one step); chunk ``i`` holds images
    ``i, i + n, i + 2n, ...``, so a batch sharded over devices stays sharded inside a step
    (with explicit sharding, the chunk size is a multiple of the number of shards).
    """
    batch = x.shape[0]
    P, Q = filters.padded_shape
    images, group = _chunking(batch, filters.L, P, Q, x.dtype.itemsize, _chunk_bytes())
    batch_sharding, shards = _batch_sharding(x)
    if shards > 1:
        if batch % shards:
            images = batch
        else:
            per_shard = batch // shards
            images = shards * _largest_divisor_at_most(per_shard, max(1, images // shards))
    filters = jax.tree.map(lambda f: f.astype(x.dtype), filters)
    run = functools.partial(
        _scattering2d_chunk,
        filters=filters,
        psi_by_theta=jnp.swapaxes(filters.psi[0].reshape(J, filters.L // group, group, P, Q), 0, 1),
        J=J,
        max_order=max_order,
    )
    steps = batch // images
    if steps == 1:
        return run(x)
    chunks = jnp.reshape(x, (images, steps, *x.shape[1:]), out_sharding=batch_sharding)
    out = jax.lax.map(run, jnp.swapaxes(chunks, 0, 1))  # (steps, images, K, m, n)
    out = jnp.swapaxes(out, 0, 1)
    return jnp.reshape(out, (batch, *out.shape[2:]), out_sharding=batch_sharding)


def scattering2d(
    x: Real[ArrayLike, "*batch M N"], filters: FilterBank2D, *, J: int, max_order: int = 2
) -> Float[Array, "*batch K m n"]:
    r"""2D scattering transform of images, numerically identical to Kymatio 0.3.0.

    .. math::
        S_0 x = (x \star \phi_J)(2^J u), \quad
        S_1 x = (|x \star \psi_{j_1,\theta_1}| \star \phi_J)(2^J u), \quad
        S_2 x = (||x \star \psi_{j_1,\theta_1}| \star \psi_{j_2,\theta_2}| \star \phi_J)(2^J u)

    for ``j2 > j1``, computed on the reflect-padded image with Fourier-domain filters
    (:func:`filter_bank_2d`), subsampling each modulus by ``2**j`` and cropping the border at
    the final resolution. Real FFTs for the forward transforms of real fields, complex ones
    for the inverse transforms; the low-pass is applied in space as two small matrix products;
    vectorised over orientations and over all second-order paths of a scale pair, and, on a
    CPU, looped over cache-sized chunks of the batch. One XLA program per (shape, dtype, J, L,
    max_order). Differentiable (the modulus has derivative 0 at 0). A batch sharded over
    devices gives the same numbers as on one device.

    Args:
      x: real images, shape ``(..., M, N)`` with ``(M, N) == filters.shape``.
      filters: the bank from ``filter_bank_2d((M, N), J=J, L=L)``.
      J: number of scales (must equal ``filters.J``).
      max_order: 1 or 2.

    Returns:
      Coefficients ``(..., K, M // 2**J, N // 2**J)``, channels in Kymatio's order
      (see :func:`paths_2d`), ``K = 1 + J L + L^2 J (J - 1) / 2`` for ``max_order=2``.

    Examples:
      >>> fb = filter_bank_2d((16, 16), J=2, L=4)
      >>> scattering2d(jnp.ones((3, 16, 16)), fb, J=2).shape
      (3, 25, 4, 4)
    """
    J, max_order = check_transform_args(filters, FilterBank2D, "filter_bank_2d", J, max_order)
    x = check_real_signal("x", x, 2)
    if tuple(x.shape[-2:]) != tuple(filters.shape):
        raise ValueError(
            f"x must have spatial shape {tuple(filters.shape)} (the shape the filters were built "
            f"for), got x.shape={tuple(x.shape)}"
        )
    batch = x.shape[:-2]
    out = _scattering2d_batch(x.reshape((-1, *x.shape[-2:])), filters, J=J, max_order=max_order)
    return out.reshape(*batch, *out.shape[1:])


class Scattering2D:
    """Kymatio-style callable holding its filter bank: ``Scattering2D(J, shape)(x)``.

    Args:
      J: number of scales.
      shape: image size ``(M, N)``.
      L: number of orientations.
      max_order: 1 or 2.

    Examples:
      >>> S = Scattering2D(2, (16, 16), L=4, max_order=1)
      >>> S(jnp.ones((16, 16))).shape
      (9, 4, 4)
    """

    def __init__(self, J: int, shape: tuple[int, int], L: int = 8, max_order: int = 2):
        self.max_order = check_max_order(max_order)
        self.filters = filter_bank_2d(shape, J=J, L=L)
        self.J, self.L, self.shape = self.filters.J, self.filters.L, self.filters.shape

    def __call__(self, x: Real[ArrayLike, "*batch M N"]) -> Float[Array, "*batch K m n"]:
        return scattering2d(x, self.filters, J=self.J, max_order=self.max_order)

    def paths(self) -> Paths2D:
        """Per-channel order, scales and angles (see :func:`paths_2d`)."""
        return paths_2d(self.J, self.L, self.max_order)

    def __repr__(self) -> str:
        return (
            f"Scattering2D(J={self.J}, shape={self.shape}, L={self.L}, max_order={self.max_order})"
        )
