"""The 2D scattering transform (Kymatio 0.3.0 definition), jit-compiled and vectorised."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Real

from scattering_jax._checks import (
    check_bool,
    check_int,
    check_max_order,
    check_real_signal,
    check_transform_args,
)
from scattering_jax._filters_2d import FilterBank2D
from scattering_jax._fourier import filter_fold, modulus


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


# Full-precision products: GPUs and TPUs otherwise round float32 matrix products to TF32 or
# bfloat16 passes, 1e-3 off Kymatio; on a CPU this changes nothing.
_EXACT = jax.lax.Precision.HIGHEST


def _low_pass(u: jax.Array, rows: jax.Array, cols: jax.Array) -> jax.Array:
    """``u * phi`` subsampled and unpadded, in space: the low-pass is separable, so this is
    two small matrix products (same operator as the Fourier-domain ``phi``, no FFT)."""
    t = jnp.einsum("...pq,nq->...pn", u, cols, precision=_EXACT)
    return jnp.einsum("mp,...pn->...mn", rows, t, precision=_EXACT)


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


def _spectrum(u: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Real and imaginary parts of ``fft2(u)`` for a real ``u``: a real FFT (half the work of
    a complex one) and the other half by Hermitian symmetry, ``z[p, q] = conj(z[-p, -q])``,
    written as slices, reversals and a concatenation that XLA fuses into the consumers, so
    that the full spectrum is never stored."""
    Q = u.shape[-1]
    half = jnp.fft.rfft2(u)  # (..., P, Q // 2 + 1)
    # rows p -> -p mod P, then columns Q - q for q = Q // 2 + 1 .. Q - 1 (reversed 1 .. Q // 2
    # for even Q, 1 .. Q // 2 for odd Q)
    rows = jnp.concatenate([half[..., :1, :], jnp.flip(half[..., 1:, :], -2)], axis=-2)
    mirror = jnp.flip(rows[..., 1 : (Q + 1) // 2], -1)
    re = jnp.concatenate([half.real[..., : Q // 2 + 1], mirror.real], axis=-1)
    im = jnp.concatenate([half.imag[..., : Q // 2 + 1], -mirror.imag], axis=-1)
    return re, im


def _fold2(z: jax.Array) -> jax.Array:
    """Periodises the last two axes by 2 (the mean of the four half-size blocks): in space,
    subsampling by 2. Folding by ``2**d`` is ``d`` of these in a row."""
    p, q = z.shape[-2] // 2, z.shape[-1] // 2
    return 0.25 * ((z[..., :p, :q] + z[..., :p, q:]) + (z[..., p:, :q] + z[..., p:, q:]))


def _reshape_tail(z: jax.Array, tail: tuple[int, ...], axes: int) -> jax.Array:
    """``z`` with its last ``axes`` axes reshaped to ``tail``, the leading axes (and their
    sharding, with a batch sharded over devices) as they are."""
    shape = (*z.shape[:-axes], *tail)
    sharding = jax.typeof(z).sharding
    spec = tuple(getattr(sharding, "spec", ()))
    if not any(spec):
        return z.reshape(shape)
    spec = spec + (None,) * (z.ndim - len(spec))
    out = jax.P(*spec[: z.ndim - axes], *(None,) * len(tail))
    return jax.lax.reshape(z, shape, out_sharding=jax.sharding.NamedSharding(sharding.mesh, out))


def _spread(z: jax.Array, k: int) -> jax.Array:
    """Puts ``z[..., m, n]`` at ``[..., k m, k n]`` of an array ``k`` times the size, zeros
    elsewhere."""
    pads = [(0, 0, 0)] * (z.ndim - 2) + [(0, k - 1, k - 1)] * 2
    return jax.lax.pad(z, jnp.zeros((), z.dtype), pads)


def _subsample_tiled(z: jax.Array, k: int) -> jax.Array:
    """Subsampling by ``k`` in space of tiled spectra (see :class:`FilterBank2D`'s
    ``coarse_psi``): the sum of the ``k x k`` blocks of size ``(Pc, Qc) / k``, spread back to
    every ``k``-th frequency. Same shape in and out; equal to Kymatio's fold by ``k``."""
    P, Q = z.shape[-2:]
    blocks = _reshape_tail(z, (k, P // k, k, Q // k), 2).sum(axis=(-4, -2))
    return _spread(blocks, k)


def _coarse_loop(pending: jax.Array, filters: FilterBank2D, order2: bool) -> jax.Array:
    """The resolutions ``r0 = filters.coarse_start .. J - 1``, one loop step each, every field
    at the size ``(Pc, Qc)`` of resolution ``r0``, tiled (see :class:`FilterBank2D`).

    ``pending``: ``(J - r0, items, c, g, Pc, Qc)``, the products that reach resolution
    ``r0 + t`` at ``t``, as the unrolled steps leave them. Each product is subsampled once,
    straight to the resolution that uses it, and waits there in an arrivals buffer: one entry
    per resolution, and ``J - 1 - r0`` more that take the (zero) products with scales past
    ``J - 1``. A step reads its entry and writes its new products for all the coarser
    resolutions at once, in place. Items are fixed: item 0 is order 1, item
    ``1 + j1 L + theta2`` the order-2 product from scale ``j1`` (zero until written), so with
    order 2 there are ``1 + (J - 1) L``. Returns the low-passed moduli,
    ``(J - r0, items, c, g, m, n)``.
    """
    J, L, r0 = filters.J, filters.L, filters.coarse_start
    steps, slots = J - r0, J - 1 - r0
    if order2:
        pending = jnp.pad(
            pending, ((0, 0), (0, 1 + (J - 1) * L - pending.shape[1])) + ((0, 0),) * 4
        )
    arrivals = [pending[0]] + [_subsample_tiled(pending[t], 2**t) for t in range(1, steps)]
    arrivals = jnp.stack(arrivals + [jnp.zeros_like(pending[0])] * slots)
    Pc, Qc, m, n = filters.coarse_lowpass.shape[1:]
    lowpass = filters.coarse_lowpass.reshape(steps, -1, m * n)

    def step(arrivals, inputs):
        r, psi_r, lowpass_r = inputs
        u = _modulus_at(jax.lax.dynamic_index_in_dim(arrivals, r - r0, keepdims=False))
        s = jnp.matmul(_reshape_tail(u, (Pc * Qc,), 2), lowpass_r, precision=_EXACT)
        s = _reshape_tail(s, (m, n), 1)
        if order2:
            re, im = (part[None] for part in _spectrum(u[0]))  # (1, c, g, Pc, Qc)
            new = []
            for slot in range(slots):  # the products with the wavelets of j2 = r + 1 + slot
                f = psi_r[slot][:, None, None]  # (theta2, 1, 1, Pc, Qc)
                new.append(_subsample_tiled(jax.lax.complex(re * f, im * f), 2 ** (slot + 1)))
            # (at r = J - 1 the item offset is clamped, inside the entries past J - 1)
            index = (r + 1 - r0, 1 + r * L, 0, 0, 0, 0)
            arrivals = jax.lax.dynamic_update_slice(arrivals, jnp.stack(new), index)
        return arrivals, s

    psi = filters.coarse_psi if order2 else jnp.zeros((steps, 0), filters.coarse_psi.dtype)
    return jax.lax.scan(step, arrivals, (jnp.arange(r0, J), psi, lowpass))[1]


def _pair_channels(J: int, L: int) -> np.ndarray:
    """Where Kymatio's order-2 channels ``(j1, theta1, j2, theta2)`` sit in the flattened
    ``(pair, theta1, theta2)`` array, pairs ordered by ``(j2, j1)`` (the order the levels
    produce them)."""
    pairs = [(j1, j2) for j2 in range(1, J) for j1 in range(j2)]
    index = {pair: i for i, pair in enumerate(pairs)}
    return np.asarray(
        [
            (index[(j1, j2)] * L + t1) * L + t2
            for j1 in range(J)
            for t1 in range(L)
            for j2 in range(j1 + 1, J)
            for t2 in range(L)
        ],
        dtype=np.int32,
    )


def _scattering2d_chunk(
    x: jax.Array,
    filters: FilterBank2D,
    group: int,
    J: int,
    max_order: int,
    pre_pad: bool = False,
) -> jax.Array:
    """Scattering of a chunk ``x`` of shape (c, M, N) -> (c, K, M // 2**J, N // 2**J)
    (``pre_pad``: ``x`` is already padded, shape (c, P, Q)).

    ``filters`` are already cast to ``x.dtype``; the first-order angles are looped over in
    groups of ``group``.

    One step per resolution ``r``, the same few operations at every ``r`` (so the program
    grows by a constant per scale, not per path): the products waiting to reach resolution
    ``r`` (filter already applied, spectrum folded down once per resolution passed) are
    inverse transformed, their moduli low-passed; the order-1 moduli at ``r`` are transformed
    again and multiplied by every second-order wavelet of a coarser scale at once. Folding by
    2 per step equals Kymatio's fold by ``2**(j2 - j1)`` (a fold by ``ab`` is a fold by ``a``
    then by ``b``). Order-1 fields are (image, theta1, ...); order-2 products put the filter axes
    first, (j2, j1, theta2, theta1, image, ...), so that each filter is read once per step.
    The resolutions from ``filters.coarse_start`` on are one loop step each
    (:func:`_coarse_loop`), so that deep transforms compile one body for their coarsest scales.
    """
    psi, rows, cols = filters.psi, filters.lowpass_rows, filters.lowpass_cols
    (M, N), (P, Q) = filters.shape, filters.padded_shape
    L = filters.L
    pad = ((0, 0), ((P - M) // 2, (P - M + 1) // 2), ((Q - N) // 2, (Q - N + 1) // 2))
    x_pad = x if pre_pad else jnp.pad(x, pad, mode="reflect")
    x_hat = _spectrum(x_pad)
    order0 = _low_pass(x_pad, rows[0], cols[0])
    order2 = max_order == 2 and J > 1
    c, m, n = x.shape[0], order0.shape[-2], order0.shape[-1]
    coarse = filters.coarse_start  # resolutions from here on run in one loop

    def theta1_group(start):
        """Orders 1 and 2 for the first-order angles ``start .. start + group - 1``."""
        g = group
        psi_group = jax.lax.dynamic_slice_in_dim(psi[0], start, g, axis=1)  # (J, g, P, Q)
        # the fields of resolution r, (item, image, theta1, P_r, Q_r): item 0 is order 1 of
        # scale r, then order 2 of every (j1 < r, r) as (j1, theta2); ``pending[t]`` holds
        # the products that will reach resolution r + t
        ready = filter_fold(x_hat, psi_group[0], 1)[None]
        if J > 1:
            pending = filter_fold(x_hat, psi_group[1:], 2).reshape(c, J - 1, g, P // 2, Q // 2)
            pending = jnp.swapaxes(pending, 0, 1)[:, None]
        s1, s2 = [], []
        for r in range(coarse):
            if r > 0:
                ready = pending[0]
            u = _modulus_at(ready)  # (items, c, g, P_r, Q_r)
            s = _low_pass(u, rows[r], cols[r])
            s1.append(s[0])
            if r > 0 and order2:
                s2.append(s[1:].reshape(r, L, *s.shape[1:]))
            if r == J - 1:
                break
            # what waits for coarser resolutions, now at resolution r + 1
            rest = _fold2(pending[1:]) if r > 0 else pending
            if order2:
                # products with every wavelet of scale j2 > r, folded to resolution r + 1
                new = filter_fold(_spectrum(u[0]), psi[r][1:], 2, filters_first=True)
                new = new.reshape(J - 1 - r, L, *new.shape[1:])
                rest = jnp.concatenate([rest, new], axis=1)
            pending = rest
        s1 = jnp.stack(s1)  # (coarse, c, g, m, n), then the loop's resolutions
        if coarse < J:
            s = _coarse_loop(pending, filters, order2)  # (J - coarse, items, c, g, m, n)
            s1 = jnp.concatenate([s1, s[:, 0]])
            if order2:  # the (j2, j1 < j2) products, (j2, j1) in the order of the steps
                by_j1 = s[:, 1:].reshape(J - coarse, J - 1, L, *s.shape[2:])
                s2 += [by_j1[j2 - coarse, :j2] for j2 in range(coarse, J)]
        if not s2:
            return s1, None
        return s1, jnp.concatenate(s2)  # ((j2, j1) pairs, theta2, c, g, m, n)

    s1, s2 = jax.lax.map(theta1_group, jnp.arange(0, L, group))  # leading axis: angle groups
    # Kymatio's order: 1 + j1 L + theta1, then (j1, theta1, j2, theta2)
    # s1: (groups, J, c, g, m, n) -> (c, J, theta1, m, n)
    blocks = [order0[:, None], jnp.transpose(s1, (2, 1, 0, 3, 4, 5)).reshape(c, J * L, m, n)]
    if s2 is not None:
        # (groups, pairs, theta2, c, g, m, n) -> (c, pairs, theta1, theta2, m, n), then a
        # gather puts the channels in Kymatio's order
        s2 = jnp.transpose(s2, (3, 1, 0, 4, 2, 5, 6)).reshape(c, -1, m, n)
        blocks.append(jnp.take(s2, _pair_channels(J, L), axis=1))
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


@functools.partial(jax.jit, static_argnames=("J", "max_order", "pre_pad"))
def _scattering2d_batch(
    x: jax.Array, filters: FilterBank2D, J: int, max_order: int, pre_pad: bool = False
) -> jax.Array:
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
        group=group,
        J=J,
        max_order=max_order,
        pre_pad=pre_pad,
    )
    steps = batch // images
    if steps == 1:
        return run(x)
    chunks = jnp.reshape(x, (images, steps, *x.shape[1:]), out_sharding=batch_sharding)
    out = jax.lax.map(run, jnp.swapaxes(chunks, 0, 1))  # (steps, images, K, m, n)
    out = jnp.swapaxes(out, 0, 1)
    return jnp.reshape(out, (batch, *out.shape[2:]), out_sharding=batch_sharding)


def scattering2d(
    x: Real[ArrayLike, "*batch M N"],
    filters: FilterBank2D,
    *,
    J: int,
    max_order: int = 2,
    pre_pad: bool = False,
) -> Float[Array, "*batch K m n"]:
    r"""2D scattering transform of images, numerically identical to Kymatio 0.3.0.

    .. math::
        S_0 x = (x \star \phi_J)(2^J u), \quad
        S_1 x = (|x \star \psi_{j_1,\theta_1}| \star \phi_J)(2^J u), \quad
        S_2 x = (||x \star \psi_{j_1,\theta_1}| \star \psi_{j_2,\theta_2}| \star \phi_J)(2^J u)

    for ``j2 > j1``, computed on the reflect-padded image with Fourier-domain filters
    (:func:`filter_bank_2d`), subsampling each modulus by ``2**j`` and cropping the border at
    the final resolution. One step per resolution, the same few operations at each (the
    program grows by a constant per scale, never per path): the spectra waiting for a
    resolution are folded down to it by 2 at a time; the low-pass is applied in space as two
    small matrix products. Where the coarsest resolutions are small and many (``J >= 7`` on
    large images: ``filters.coarse_start``), they run as one loop step each, so that the
    program, and the compile time, stop growing with ``J``. Vectorised over orientations
    and over all second-order paths that reach a resolution, and, on a CPU, looped over
    cache-sized chunks of the batch. One XLA program per (shape, dtype, J, L, max_order).
    Differentiable (the modulus has derivative 0 at 0). A batch sharded over devices gives
    the same numbers as on one device.

    Args:
      x: real images, shape ``(..., M, N)`` with ``(M, N) == filters.shape`` (with
        ``pre_pad``, the padded shape ``filters.padded_shape``); float32, float64 or an
        integer array (read as JAX's default float).
      filters: the bank from ``filter_bank_2d((M, N), J=J, L=L)``.
      J: number of scales (must equal ``filters.J``; a static Python int).
      max_order: 1 or 2.
      pre_pad: Kymatio's ``pre_pad``: ``x`` is already padded to ``filters.padded_shape``
        (no reflect padding is added; the border is still cropped at the output).

    Returns:
      Coefficients ``(..., K, M // 2**J, N // 2**J)``, channels in Kymatio's order
      (see :func:`paths_2d`), ``K = 1 + J L + L^2 J (J - 1) / 2`` for ``max_order=2``.

    Examples:
      >>> from scattering_jax import filter_bank_2d
      >>> fb = filter_bank_2d((16, 16), J=2, L=4)
      >>> scattering2d(jnp.ones((3, 16, 16)), fb, J=2).shape
      (3, 25, 4, 4)
    """
    J, max_order = check_transform_args(filters, FilterBank2D, "filter_bank_2d", J, max_order)
    pre_pad = check_bool("pre_pad", pre_pad)
    x = check_real_signal("x", x, 2)
    expected = tuple(filters.padded_shape if pre_pad else filters.shape)
    if tuple(x.shape[-2:]) != expected:
        what = (
            "the padded shape, as pre_pad=True"
            if pre_pad
            else "the shape the filters were built for"
        )
        raise ValueError(
            f"x must have spatial shape {expected} ({what}), got x.shape={tuple(x.shape)}"
        )
    batch = x.shape[:-2]
    out = _scattering2d_batch(
        x.reshape((-1, *x.shape[-2:])), filters, J=J, max_order=max_order, pre_pad=pre_pad
    )
    return out.reshape(*batch, *out.shape[1:])
