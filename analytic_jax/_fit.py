"""Fitting analytic families to the slices of a trained kernel tensor."""

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, Real

from analytic_jax._families import check_kernel_size, get_family, pixel_grid
from analytic_jax._mosaic import MosaicParams, MosaicSpec, check_key, check_params, kernel_slices
from cnn_layers._checks import as_real_float, check_int, check_real

ANALYTIC_CODES = ("G", "Lg", "Lt", "Tf", "Ts")


class FamilyFit(NamedTuple):
    """Best fit of one family to each slice.

    Attributes:
      params: ``(S, p)`` raw AKP table (closed-form amplitude in column 0).
      rel_error: ``(S,)`` relative error :math:`\\|t - K\\| / \\|t\\|` (0 for an all-zero slice,
        NaN for a slice with a NaN or inf).
    """

    params: Float[Array, "s p"]
    rel_error: Float[Array, " s"]


class KernelFit(NamedTuple):
    """Result of :func:`fit_kernels`.

    Attributes:
      spec: the chosen mosaic (one family code per slice, slice order ``s = o * I + i``).
      params: ``{code: (n_code, p_code)}`` raw AKP tables for :func:`mosaic_kernels`.
      rel_error: ``(S,)`` relative error of the chosen family per slice (0 for plain).
      family_errors: ``{code: (S,)}`` best relative error of every fitted family per slice.
    """

    spec: MosaicSpec
    params: MosaicParams
    rel_error: Float[Array, " s"]
    family_errors: dict[str, Float[Array, " s"]]


def _starts(key, code, n_slices, kernel_size, n_angles, n_scales, dtype):
    """Constrained multi-start table ``(S, n_starts, n_shape)`` with a small random jitter."""
    fam = get_family(code)
    base = jnp.asarray(fam.starts(kernel_size, n_angles, n_scales), dtype)[None]
    _, n0, ns = base.shape
    noise = jax.random.normal(key, (n_slices, n0, ns), dtype)
    is_angle = jnp.asarray([[[f is None for f in fam.floors]]])
    floors = jnp.asarray([[[0.0 if f is None else f for f in fam.floors]]], dtype)
    angle = base + 0.1 * noise * (jnp.pi / max(n_angles, 1))
    pos = floors + (base - floors) * jnp.exp(0.05 * noise)
    return jnp.where(is_angle, angle, pos)


@functools.partial(
    jax.jit, static_argnames=("code", "steps", "learning_rate", "n_angles", "n_scales")
)
def fit_family(
    key: jax.Array,
    slices: Real[ArrayLike, "s k k"],
    *,
    code: str,
    steps: int = 300,
    learning_rate: float = 0.05,
    n_angles: int = 4,
    n_scales: int = 3,
) -> FamilyFit:
    """Fits one analytic family to every slice (variable projection, multi-start, Adam).

    For a unit-amplitude shape :math:`s(\\phi)` the optimal amplitude is closed-form,
    :math:`a^*(\\phi) = \\langle t, s\\rangle / \\|s\\|^2`, so Adam (cosine-decayed learning rate)
    minimises :math:`\\|\\hat t - a^* s\\|^2` over the raw shape AKPs :math:`\\phi` only,
    :math:`\\hat t = t / \\|t\\|`, from a grid of starts over angle and scale (``fam.starts``,
    jittered by ``key``), all slices and starts at once; the best start per slice is kept.

    Args:
      key: typed PRNG key (start jitter).
      slices: ``(S, k, k)`` target kernels.
      code: an analytic family code.
      steps: Adam steps.
      learning_rate: peak Adam learning rate on the raw AKPs.
      n_angles: starting angles :math:`j\\pi / n` for oriented families.
      n_scales: starting scales (doubled for isotropic families).

    Returns:
      :class:`FamilyFit` with the ``(S, p)`` raw AKPs and ``(S,)`` relative errors.

    Examples:
      >>> import jax
      >>> from analytic_jax import family_kernels
      >>> t = family_kernels(jax.numpy.array([[2.0, 0.3]]), "Lg", 5)
      >>> fit = fit_family(jax.random.key(0), t, code="Lg", steps=300)
      >>> bool(fit.rel_error[0] < 1e-3)
      True
    """
    fam = get_family(code)
    if fam.plain:
        raise ValueError(f"code must name an analytic family, got the plain family {code!r}")
    check_key(key)
    check_int("steps", steps, 1)
    check_real("learning_rate", learning_rate, 0.0, strict=True)
    check_int("n_angles", n_angles, 1)
    check_int("n_scales", n_scales, 1)
    slices = as_real_float(slices, "slices")
    if slices.ndim != 3 or slices.shape[1] != slices.shape[2]:
        raise ValueError(f"slices must have shape (S, k, k), got {slices.shape}")
    check_kernel_size(fam, slices.shape[-1], "the slices' kernel_size k")
    n, k = slices.shape[0], slices.shape[-1]
    dtype = slices.dtype
    grid = pixel_grid(k, dtype)
    flat = slices.reshape(n, k * k)
    norm = jnp.sqrt(jnp.sum(flat**2, axis=1, keepdims=True))
    safe = jnp.where(norm > 0, norm, 1.0)
    t_hat = flat / safe

    def raw_to_shape(raw_shape):
        full = jnp.concatenate([jnp.ones((1,), raw_shape.dtype), raw_shape])
        return fam.shape(fam.constrain(full)[1:], grid).reshape(-1)

    def residual(raw_shape, t):
        s = raw_to_shape(raw_shape)
        a = jnp.dot(t, s) / jnp.dot(s, s)
        return t - a * s, a

    per_start = jax.vmap(jax.vmap(residual, in_axes=(0, None)), in_axes=(0, 0))

    def loss(raw):
        r, _ = per_start(raw, t_hat)
        return jnp.sum(r**2)

    starts = _starts(key, code, n, k, n_angles, n_scales, dtype)
    ones = jnp.ones((*starts.shape[:2], 1), dtype)
    raw0 = fam.unconstrain(jnp.concatenate([ones, starts], axis=-1))[..., 1:]
    sched = optax.cosine_decay_schedule(learning_rate, max(steps, 1), alpha=1e-3)
    opt = optax.adam(sched)

    def step(carry, _):
        raw, state = carry
        g = jax.grad(loss)(raw)
        upd, state = opt.update(g, state, raw)
        return (optax.apply_updates(raw, upd), state), None

    (raw, _), _ = jax.lax.scan(step, (raw0, opt.init(raw0)), None, length=steps)
    r, a = per_start(raw, t_hat)
    err = jnp.sqrt(jnp.sum(r**2, axis=-1))  # (S, n_starts), relative to ||t||
    best = jnp.argmin(err, axis=1)
    take = lambda x: x[jnp.arange(n), best]
    amp = take(a) * norm[:, 0]
    params = jnp.concatenate([amp[:, None], take(raw)], axis=1)
    # an all-zero slice is fitted exactly (amplitude 0); a non-finite one is not fitted at all
    rel = jnp.where(norm[:, 0] > 0, take(err), jnp.where(norm[:, 0] == 0, 0.0, jnp.nan))
    return FamilyFit(params, rel)


def fit_kernels(
    key: jax.Array,
    target: Float[ArrayLike, "k k i o"],
    *,
    families: tuple[str, ...] = ANALYTIC_CODES,
    steps: int = 300,
    threshold: float = 0.1,
    learning_rate: float = 0.05,
    n_angles: int = 4,
    n_scales: int = 3,
) -> KernelFit:
    """Fits every slice of a trained kernel by every family; keeps the best under a threshold.

    Each slice ``t`` gets the analytic family with the smallest relative error
    :math:`\\|t - K\\|/\\|t\\|` (see :func:`fit_family`) if that error is ``<= threshold``, else
    the plain family (exact, :math:`k^2` parameters). Not jittable as a whole (the chosen mosaic
    is static structure); the per-family work inside is jitted.

    Args:
      key: typed PRNG key.
      target: ``(k, k, I, O)`` HWIO kernel tensor.
      families: analytic family codes to try.
      steps, learning_rate, n_angles, n_scales: see :func:`fit_family`.
      threshold: largest relative error accepted for an analytic slice.

    Returns:
      :class:`KernelFit` (spec, raw params, per-slice and per-family relative errors).

    Raises:
      ValueError: a ``target`` with NaN or inf in any slice (listed: a non-finite kernel has
        no fit, and would otherwise be reported as fitted), a bad shape, ``threshold < 0``,
        plain or unknown ``families``, bad ``steps``/``n_angles``/``n_scales``.
      TypeError: a non-float ``target``, ``families`` given as one string.

    Examples:
      >>> import jax, jax.numpy as jnp
      >>> from analytic_jax import family_kernels, mosaic_kernels
      >>> t = family_kernels(jnp.array([[1.0, 0.5, 0.4]]), "Tf", 5)
      >>> fit = fit_kernels(jax.random.key(0), t.reshape(5, 5, 1, 1), families=("Tf", "Lg"))
      >>> fit.spec.codes, bool(fit.rel_error[0] < 1e-3)
      (('Tf',), True)
    """
    target = jnp.asarray(target)
    if target.ndim != 4 or target.shape[0] != target.shape[1]:
        raise ValueError(f"target must have shape (k, k, I, O), got {target.shape}")
    if not jnp.issubdtype(target.dtype, jnp.floating):
        raise TypeError(f"target must be floating point, got dtype {target.dtype}")
    check_real("threshold", threshold, 0.0)
    if isinstance(families, str) or not isinstance(families, tuple | list):
        raise TypeError(
            f"families must be a tuple of family codes such as ('G', 'Lg'), got {families!r}"
        )
    bad = ~np.isfinite(np.asarray(kernel_slices(target))).all(axis=(1, 2))
    if bad.any():
        raise ValueError(
            f"target has NaN or inf values in the slices {np.flatnonzero(bad).tolist()} (slice "
            f"s = o * I + i); a non-finite kernel cannot be fitted"
        )
    families = tuple(families)
    for c in families:
        if get_family(c).plain:
            raise ValueError(f"families must be analytic codes, got the plain family {c!r}")
    k, _, n_in, n_out = target.shape
    slices = kernel_slices(target)
    fits = {
        c: fit_family(
            jax.random.fold_in(key, j),
            slices,
            code=c,
            steps=steps,
            learning_rate=learning_rate,
            n_angles=n_angles,
            n_scales=n_scales,
        )
        for j, c in enumerate(families)
    }
    n = slices.shape[0]
    if families:
        errs = np.stack([np.asarray(fits[c].rel_error) for c in families])
        best = np.argmin(errs, axis=0)
        ok = errs[best, np.arange(n)] <= threshold
    else:
        best, ok = np.zeros(n, int), np.zeros(n, bool)
    codes = tuple(families[b] if o else "P" for b, o in zip(best, ok, strict=True))
    spec = MosaicSpec(n_in, n_out, k, codes)
    params, rel = {}, np.zeros(n, dtype=np.asarray(slices).dtype)
    for c in spec.family_order:
        idx = spec.indices(c)
        if c == "P":
            params[c] = slices[idx].reshape(len(idx), k * k)
        else:
            params[c] = fits[c].params[idx]
            rel[idx] = np.asarray(fits[c].rel_error)[idx]
    return KernelFit(spec, params, jnp.asarray(rel), {c: f.rel_error for c, f in fits.items()})


def akp_values(params: MosaicParams, spec: MosaicSpec) -> dict[str, Float[Array, "_n _p"]]:
    """Constrained, canonical AKP tables ``{code: (n, p)}`` (sigma > 0, theta folded by the
    family's symmetry); columns named by ``get_family(code).param_names(k)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> from analytic_jax import parse_mosaic
      >>> spec = parse_mosaic("(1x1)Ts1", kernel_size=3)
      >>> akp = akp_values({"Ts": jnp.array([[1.0, 0.0, 4.0]])}, spec)["Ts"][0]
      >>> [round(float(v), 3) for v in akp]
      [1.0, 0.943, 0.858]
    """
    check_params(params, spec)
    out = {}
    for c in spec.family_order:
        fam = get_family(c)
        out[c] = fam.canonical(fam.constrain(params[c]))
    return out
