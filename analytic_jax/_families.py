"""Registry of analytic kernel families: Gabor, LoG, TGD (1st, 2nd order), LoT and plain.

Conventions (shared by every family):

* Grid: ``pixel_grid(k)`` is pixel-centred, ``x`` to the right (columns), ``y`` down (rows), the
  origin at the middle pixel (half-integer offsets for even ``k``). A kernel is a ``(k, k)`` array
  indexed ``[row, col] = [y, x]``, i.e. the ``H, W`` axes of an HWIO kernel.
* Angles: ``theta`` turns the ``x`` axis towards ``y`` (clockwise on screen);
  :math:`u = x\\cos\\theta + y\\sin\\theta`, :math:`v = -x\\sin\\theta + y\\cos\\theta`.
* A family's AKP vector is ``(amplitude, *shape_names)``; ``kernel(raw, grid)`` takes the *raw*
  (unconstrained, trainable) vector, maps it through ``constrain`` (positive parameters are
  ``floor + softplus(raw)``, amplitude and angles are free) and returns
  ``amplitude * shape(akp, grid)``. The plain family ``P`` has ``k * k`` free weights instead.
"""

import dataclasses
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jaxtyping import Array, ArrayLike, Float

from analytic_jax._tgd import tgd_first_order, tgd_second_order
from cnn_layers._checks import check_int

SIGMA_FLOOR = 0.25  # below a quarter pixel the sampled kernels vanish and cannot be normalised
LAMBDA_FLOOR = 2.0  # Nyquist: shorter Gabor wavelengths alias on the pixel grid
GAMMA_FLOOR = 0.05


def pixel_grid(kernel_size: int, dtype=jnp.float32) -> Float[Array, "2 k k"]:
    """Pixel-centred coordinates ``(x, y)`` of a ``k x k`` kernel window.

    .. math:: x_{rc} = c - (k-1)/2, \\qquad y_{rc} = r - (k-1)/2.

    Args:
      kernel_size: ``k``, a positive int.
      dtype: float dtype of the grid.

    Returns:
      ``(2, k, k)``: ``grid[0]`` is x (grows along columns), ``grid[1]`` is y (grows down rows).

    Examples:
      >>> pixel_grid(2)[0].tolist()
      [[-0.5, 0.5], [-0.5, 0.5]]
    """
    kernel_size = check_int("kernel_size", kernel_size, 1)
    if not jnp.issubdtype(jnp.dtype(dtype), jnp.floating):
        raise TypeError(f"dtype must be a real floating dtype, got {jnp.dtype(dtype)}")
    c = jnp.arange(kernel_size, dtype=dtype) - (kernel_size - 1) / 2
    y, x = jnp.meshgrid(c, c, indexing="ij")
    return jnp.stack([x, y])


def _rotate(grid, theta):
    x, y = grid[0], grid[1]
    c, s = jnp.cos(theta), jnp.sin(theta)
    if jnp.ndim(theta) == 0 or x.shape[-1] != 1:
        return x * c + y * s, -x * s + y * c
    # A table (theta (1, 1, n), grid (2, k, k, 1)): the rotation of every pixel by every angle
    # as one small matmul, so that cos and sin are evaluated once per kernel, not per pixel
    # (XLA would fuse them into the per-pixel loop through the broadcast).
    k = x.shape[0]
    pixels = jnp.stack([jnp.stack([x, y], -1), jnp.stack([y, -x], -1)]).reshape(2 * k * k, 2)
    cs = jnp.stack([c.reshape(-1), s.reshape(-1)])
    uv = jnp.dot(pixels, cs, precision=lax.Precision.HIGHEST).reshape(2, k, k, -1)
    return uv[0], uv[1]


def _gauss(v, sigma):
    return jnp.exp(-(v**2) / (2 * sigma**2))


# Shape functions broadcast: AKPs are scalars with a (2, k, k) grid, or (1, 1, n) arrays with a
# (2, k, k, 1) grid (n kernels, batch-minor, which vectorises far better than a vmap over n).
def _grid_variance(grid):
    # mean of x**2 (and of y**2, and of u**2 for any rotation) over a k x k pixel-centred grid
    k = grid.shape[1]
    return (k * k - 1) / 12


def _normalise(k, probe):
    # Zero mean, then unit cross-correlation with `probe` at the origin:
    #   (k - m0 / N) / sum((k - m0 / N) probe),   m0 = sum k,
    # with the denominator written as sum(k probe) - m0 sum(probe) / N: every sum is of an
    # elementwise product, none of a term that holds another sum (which XLA's CPU loops
    # recompute per element). Callers pass a probe of zero mean over the grid, so that the
    # second term vanishes up to rounding and the difference does not cancel.
    n = k.shape[0] * k.shape[1]
    m0 = jnp.sum(k, axis=(0, 1), keepdims=True)
    m1 = jnp.sum(k * probe, axis=(0, 1), keepdims=True)
    sp = jnp.sum(probe, axis=(0, 1), keepdims=True)
    return (k - m0 / n) / (m1 - m0 * sp / n)


# ----------------------------------------------------------------------------- shape functions
def gabor_shape(akp, grid):
    """Gabor :math:`e^{-(u^2+\\gamma^2 v^2)/2\\sigma^2}\\cos(2\\pi u/\\lambda + \\psi)`."""
    sigma, theta, lam, gamma, psi = akp
    u, v = _rotate(grid, theta)
    return jnp.exp(-(u**2 + gamma**2 * v**2) / (2 * sigma**2)) * jnp.cos(2 * jnp.pi * u / lam + psi)


def log_shape(akp, grid):
    """Laplacian of Gaussian :math:`(r^2 - 2\\sigma^2) e^{-r^2/2\\sigma^2}`, zero-mean, unit
    Laplacian gain (:math:`\\sum K\\,(x^2+y^2)/4 = 1`)."""
    (sigma,) = akp
    r2 = grid[0] ** 2 + grid[1] ** 2
    a = r2 / (2 * sigma**2)
    # (a - 1) e^{-a} + 1, written without cancellation; the constant goes with the mean.
    k = a * jnp.exp(-a) - jnp.expm1(-a)
    return _normalise(k, (r2 - 2 * _grid_variance(grid)) / 4)


def tgd1_shape(akp, grid):
    """First-order TGD along ``u`` times Gaussian smoothing across:
    :math:`T_\\sigma(u)\\,g_\\sigma(v)`, zero-mean, unit response to the ramp ``u``."""
    sigma, theta = akp
    u, v = _rotate(grid, theta)
    k = tgd_first_order(u, sigma) * _gauss(v, sigma)
    return _normalise(k, u)


def tgd2_shape(akp, grid):
    """Second-order TGD along ``u`` times Gaussian smoothing across:
    :math:`R_\\sigma(u)\\,g_\\sigma(v)`, zero-mean, unit response to :math:`u^2/2`."""
    sigma, theta = akp
    u, v = _rotate(grid, theta)
    h = grid.shape[1] / 2
    k = tgd_second_order(u, sigma, h) * _gauss(v, sigma)
    return _normalise(k, (u**2 - _grid_variance(grid)) / 2)


def lot_shape(akp, grid):
    """Laplacian of TGD :math:`R_\\sigma(x) g_\\sigma(y) + g_\\sigma(x) R_\\sigma(y)`, zero-mean,
    unit Laplacian gain."""
    (sigma,) = akp
    x, y = grid[0], grid[1]
    h = grid.shape[1] / 2
    k = tgd_second_order(x, sigma, h) * _gauss(y, sigma)
    k = k + _gauss(x, sigma) * tgd_second_order(y, sigma, h)
    return _normalise(k, (x**2 + y**2 - 2 * _grid_variance(grid)) / 4)


# ----------------------------------------------------------------------------- canonical forms
def _fold_theta(theta):
    """theta -> theta mod pi, and whether an odd number of half turns was removed."""
    n = jnp.floor(theta / jnp.pi)
    return theta - n * jnp.pi, jnp.mod(n, 2) == 1


def _wrap(angle):
    return jnp.mod(angle + jnp.pi, 2 * jnp.pi) - jnp.pi


def _canon_identity(akp):
    return akp


def _canon_gabor(akp):
    a, sigma, theta, lam, gamma, psi = (akp[..., i] for i in range(6))
    theta, odd = _fold_theta(theta)
    psi = jnp.where(odd, -psi, psi)  # (theta + pi, psi) draws the same kernel as (theta, -psi)
    psi = jnp.where(a < 0, psi + jnp.pi, psi)
    return jnp.stack([jnp.abs(a), sigma, theta, lam, gamma, _wrap(psi)], axis=-1)


def _canon_tf(akp):
    a, sigma, theta = (akp[..., i] for i in range(3))
    theta, odd = _fold_theta(theta)
    return jnp.stack([jnp.where(odd, -a, a), sigma, theta], axis=-1)


def _canon_ts(akp):
    a, sigma, theta = (akp[..., i] for i in range(3))
    return jnp.stack([a, sigma, _fold_theta(theta)[0]], axis=-1)


# ----------------------------------------------------------------------------- initialisers
def _uniform(key, lo, hi, n):
    return jax.random.uniform(key, (n,), minval=lo, maxval=hi)


def _init_sigma(key, k):
    return _uniform(key, max(0.15 * k, SIGMA_FLOOR + 0.1), max(0.35 * k, SIGMA_FLOOR + 0.2), 1)


def _init_gabor(key, k):
    ks = jax.random.split(key, 5)
    lam_lo = max(0.4 * k, LAMBDA_FLOOR + 0.2)
    return jnp.concatenate(
        [
            _init_sigma(ks[0], k),
            _uniform(ks[1], 0.0, math.pi, 1),
            _uniform(ks[2], lam_lo, max(float(k), lam_lo + 1.0), 1),
            _uniform(ks[3], 0.5, 1.0, 1),
            _uniform(ks[4], -math.pi, math.pi, 1),
        ]
    )


def _init_isotropic(key, k):
    return _init_sigma(key, k)


def _init_oriented(key, k, full_turn):
    ks = jax.random.split(key)
    return jnp.concatenate(
        [_init_sigma(ks[0], k), _uniform(ks[1], 0.0, (2 if full_turn else 1) * math.pi, 1)]
    )


# ----------------------------------------------------------------------------- fitting starts
def _start_sigmas(k, n):
    return np.geomspace(max(0.1 * k, SIGMA_FLOOR + 0.05), 0.5 * k, n)


def _start_thetas(n):
    return np.arange(n) * np.pi / n


def _grid_product(*axes):
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=-1)


def _starts_gabor(k, n_angles, n_scales):
    lams = np.geomspace(max(0.3 * k, LAMBDA_FLOOR + 0.2), 1.2 * k, n_scales)
    return _grid_product(
        _start_sigmas(k, n_scales), _start_thetas(n_angles), lams, [0.75], [0.0, np.pi / 2]
    )


def _starts_isotropic(k, n_angles, n_scales):
    return _start_sigmas(k, 2 * n_scales)[:, None]


def _starts_oriented(k, n_angles, n_scales):
    return _grid_product(_start_sigmas(k, n_scales), _start_thetas(n_angles))


# ----------------------------------------------------------------------------- the registry
@dataclasses.dataclass(frozen=True)
class Family:
    """One analytic kernel family (an entry of :data:`FAMILIES`).

    Attributes:
      code: arrangement code (``"G"``, ``"Lg"``, ...).
      name: human-readable name.
      shape_names: names of the shape AKPs (after the amplitude); empty for the plain family.
      floors: per shape AKP, ``None`` for a free parameter (angles) or the floor ``f`` of a
        positive one, constrained as ``f + softplus(raw)``.
      shape: ``shape(akp_shape, grid) -> (k, k)``, the unit-amplitude kernel from constrained
        shape AKPs.
      init_shape: ``init_shape(key, k) -> (n,)`` random constrained shape AKPs.
      starts: ``starts(k, n_angles, n_scales) -> (n_starts, n)`` constrained fitting starts.
      canonical: maps constrained AKP vectors ``(..., n_params)`` to a representative of their
        symmetry class (same kernel), e.g. theta modulo pi.
      zero_sum: whether every sampled kernel sums to zero.
      plain: True for the free ``k x k`` family.
    """

    code: str
    name: str
    shape_names: tuple[str, ...]
    floors: tuple[float | None, ...]
    shape: Callable | None
    init_shape: Callable | None
    starts: Callable | None
    canonical: Callable = _canon_identity
    zero_sum: bool = False
    plain: bool = False

    def param_names(self, kernel_size: int) -> tuple[str, ...]:
        """Names of the raw AKP vector entries for a ``k x k`` window."""
        if self.plain:
            return tuple(f"w_{r}_{c}" for r in range(kernel_size) for c in range(kernel_size))
        return ("amplitude", *self.shape_names)

    def n_params(self, kernel_size: int) -> int:
        """Length of the AKP vector (trainable scalars per kernel slice)."""
        return kernel_size * kernel_size if self.plain else 1 + len(self.shape_names)

    def constrain(self, raw: Float[ArrayLike, "*b n"]) -> Float[Array, "*b n"]:
        """Raw (trainable) AKPs -> constrained AKPs (sigma etc. positive)."""
        raw = jnp.asarray(raw)
        if self.plain:
            return raw
        cols = [raw[..., 0]]
        for i, floor in enumerate(self.floors):
            r = raw[..., i + 1]
            cols.append(r if floor is None else floor + jax.nn.softplus(r))
        return jnp.stack(cols, axis=-1)

    def unconstrain(self, akp: Float[ArrayLike, "*b n"]) -> Float[Array, "*b n"]:
        """Inverse of :meth:`constrain` (constrained values must exceed their floors)."""
        akp = jnp.asarray(akp)
        if self.plain:
            return akp
        cols = [akp[..., 0]]
        for i, floor in enumerate(self.floors):
            v = akp[..., i + 1]
            if floor is not None:
                d = v - floor
                v = d + jnp.log(-jnp.expm1(-d))  # softplus^{-1}, stable for large d
            cols.append(v)
        return jnp.stack(cols, axis=-1)

    def _check(self, raw, grid, table: bool):
        raw, grid = jnp.asarray(raw), jnp.asarray(grid)
        if grid.ndim != 3 or grid.shape[0] != 2 or grid.shape[1] != grid.shape[2]:
            raise ValueError(f"grid must have shape (2, k, k) (pixel_grid(k)), got {grid.shape}")
        k = grid.shape[-1]
        want = (raw.shape[0], self.n_params(k)) if table and raw.ndim == 2 else None
        want = want or ((None, self.n_params(k)) if table else (self.n_params(k),))
        if raw.ndim != len(want) or raw.shape[-1] != want[-1]:
            what = "(n, p)" if table else "(p,)"
            raise ValueError(
                f"raw must have shape {what} with p = {self.n_params(k)} AKPs of family "
                f"{self.code!r} for a {k}x{k} grid, got shape {raw.shape}"
            )
        if not jnp.issubdtype(raw.dtype, jnp.floating):
            raise TypeError(f"raw must be a real floating AKP array, got dtype {raw.dtype}")
        return raw, k

    def kernel(self, raw: Float[ArrayLike, " n"], grid: Float[ArrayLike, "2 k k"]) -> Array:
        """The ``(k, k)`` kernel of one raw AKP vector; ``amplitude * shape(constrained)``."""
        raw, k = self._check(raw, grid, table=False)
        if self.plain:
            return raw.reshape(k, k)
        akp = self.constrain(raw)
        return akp[0] * self.shape(akp[1:], jnp.asarray(grid, raw.dtype))

    def kernels(self, raw: Float[ArrayLike, "n p"], grid: Float[ArrayLike, "2 k k"]) -> Array:
        """``(k, k, n)`` kernels of a raw AKP table, batch-minor; equals ``vmap(kernel)``
        moved to the last axis, computed by broadcasting (faster than a vmap over ``n``)."""
        raw, k = self._check(raw, grid, table=True)
        if self.plain:
            return raw.T.reshape(k, k, raw.shape[0])
        cols = self.constrain(raw).T[:, None, None, :]  # (p, 1, 1, n)
        return cols[0] * self.shape(cols[1:], jnp.asarray(grid, raw.dtype)[..., None])


FAMILIES: dict[str, Family] = {}


def register_family(family: Family) -> Family:
    """Adds (or replaces) a family in :data:`FAMILIES`, keyed by its code."""
    if not isinstance(family, Family):
        raise TypeError(f"family must be a Family, got {type(family).__name__}")
    code = family.code
    if not isinstance(code, str):
        raise TypeError(f"family code must be a str, got {type(code).__name__}")
    if not code.isalpha() or not code[0].isupper() or not (code[1:] == "" or code[1:].islower()):
        raise ValueError(
            f"family code must be an upper-case letter followed by lower-case letters, "
            f"got {family.code!r}"
        )
    FAMILIES[family.code] = family
    return family


register_family(
    Family("G", "Gabor", ("sigma", "theta", "lambda", "gamma", "psi"),
           (SIGMA_FLOOR, None, LAMBDA_FLOOR, GAMMA_FLOOR, None),
           gabor_shape, _init_gabor, _starts_gabor, canonical=_canon_gabor)
)  # fmt: skip
register_family(
    Family("Lg", "Laplacian of Gaussian", ("sigma",), (SIGMA_FLOOR,),
           log_shape, _init_isotropic, _starts_isotropic, zero_sum=True)
)  # fmt: skip
register_family(
    Family("Lt", "Laplacian of TGD", ("sigma",), (SIGMA_FLOOR,),
           lot_shape, _init_isotropic, _starts_isotropic, zero_sum=True)
)  # fmt: skip
register_family(
    Family("Tf", "first-order TGD", ("sigma", "theta"), (SIGMA_FLOOR, None),
           tgd1_shape, lambda key, k: _init_oriented(key, k, True), _starts_oriented,
           canonical=_canon_tf, zero_sum=True)
)  # fmt: skip
register_family(
    Family("Ts", "second-order TGD", ("sigma", "theta"), (SIGMA_FLOOR, None),
           tgd2_shape, lambda key, k: _init_oriented(key, k, False), _starts_oriented,
           canonical=_canon_ts, zero_sum=True)
)  # fmt: skip
register_family(Family("P", "plain", (), (), None, None, None, plain=True))


def check_kernel_size(family: Family, kernel_size, name: str = "kernel_size") -> int:
    """``kernel_size`` as an int; analytic families need ``k >= 3`` (below, the zero-sum
    families sample to zero and cannot be normalised, the others are not identifiable)."""
    k = check_int(name, kernel_size, 1)
    if not family.plain and k < 3:
        raise ValueError(
            f"analytic family {family.code!r} needs {name} >= 3, got {k}; use the plain "
            f"family 'P' for smaller kernels"
        )
    return k


def get_family(code: str) -> Family:
    """The registered family with arrangement code ``code``; ValueError naming the known codes."""
    if not isinstance(code, str):
        raise TypeError(f"code must be a family code str such as 'G', got {code!r}")
    if code not in FAMILIES:
        raise ValueError(f"unknown family code {code!r}; expected one of {sorted(FAMILIES)}")
    return FAMILIES[code]


def family_kernels(
    raw: Float[ArrayLike, "n p"], code: str, kernel_size: int
) -> Float[Array, "n k k"]:
    """Kernels of a table of raw AKP vectors of one family (batched ``Family.kernel``).

    .. math:: K_j = a_j \\, \\mathrm{shape}(\\mathrm{constrain}(\\mathrm{raw}_j))

    Args:
      raw: ``(n, p)`` raw AKP table, ``p = get_family(code).n_params(kernel_size)``.
      code: family code.
      kernel_size: ``k``; ``>= 3`` for the analytic families (smaller windows cannot hold a
        zero-sum, normalised kernel), any ``>= 1`` for the plain family.

    Returns:
      ``(n, k, k)`` kernels in the table's dtype.

    Examples:
      >>> import jax.numpy as jnp
      >>> family_kernels(jnp.array([[1.0, 0.5]]), "Lg", 5).shape
      (1, 5, 5)
    """
    fam = get_family(code)
    kernel_size = check_kernel_size(fam, kernel_size)
    raw = jnp.asarray(raw)
    p = fam.n_params(kernel_size)
    if raw.ndim != 2 or raw.shape[1] != p:
        raise ValueError(f"raw AKP table for {code!r} must have shape (n, {p}), got {raw.shape}")
    if not jnp.issubdtype(raw.dtype, jnp.floating):
        raise TypeError(f"raw AKP table must be floating point, got dtype {raw.dtype}")
    grid = pixel_grid(kernel_size, raw.dtype)
    return jnp.moveaxis(fam.kernels(raw, grid), -1, 0)
