"""Mosaics: one kernel family per 2-D slice of an HWIO kernel tensor.

Slice ordering convention: the ``I * O`` slices of a ``(k, k, I, O)`` kernel are numbered
output-major, ``s = o * I + i`` (all input channels of output filter 0, then of filter 1, ...).
An arrangement ``(IxO)G30Lg15...`` hands out consecutive slice numbers to the families in the
order written, so a count divisible by ``I`` covers whole output filters (the paper's
``(3x64)`` example covers 10 RGB Gabor filters with ``G30``). A family's AKP table lists its
slices in increasing slice number.
"""

import dataclasses
import functools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, Num

from analytic_jax._families import FAMILIES, check_kernel_size, get_family, pixel_grid
from cnn_layers._checks import check_int

MosaicParams = dict[str, Float[Array, "_n _p"]]  # one (n_code, p_code) table per family


@dataclasses.dataclass(frozen=True)
class MosaicSpec:
    """Static (hashable) description of a mosaic: which family draws each kernel slice.

    Attributes:
      in_features: ``I``.
      out_features: ``O``.
      kernel_size: ``k`` (square kernels).
      codes: ``I * O`` family codes, one per slice, in slice order ``s = o * I + i``.
    """

    in_features: int
    out_features: int
    kernel_size: int
    codes: tuple[str, ...]

    def __post_init__(self):
        for name in ("in_features", "out_features", "kernel_size"):
            object.__setattr__(self, name, check_int(name, getattr(self, name), 1))
        object.__setattr__(self, "codes", tuple(self.codes))
        n = self.in_features * self.out_features
        if len(self.codes) != n:
            raise ValueError(
                f"codes must hold in_features * out_features = {n} family codes, "
                f"got {len(self.codes)}"
            )
        for c in sorted(set(self.codes)):
            check_kernel_size(get_family(c), self.kernel_size)

    @property
    def n_slices(self) -> int:
        return self.in_features * self.out_features

    @property
    def family_order(self) -> tuple[str, ...]:
        """Codes present, in order of first appearance (the order of the AKP tables)."""
        return tuple(dict.fromkeys(self.codes))

    @property
    def counts(self) -> dict[str, int]:
        """Number of slices per family code."""
        return {c: self.codes.count(c) for c in self.family_order}

    def indices(self, code: str) -> np.ndarray:
        """Slice numbers drawn by family ``code`` (increasing)."""
        return np.flatnonzero(np.asarray(self.codes) == code)

    @property
    def arrangement(self) -> str:
        """Run-length arrangement string; ``parse_mosaic`` of it gives this spec back."""
        runs, prev, n = [], None, 0
        for c in self.codes:
            if c == prev:
                n += 1
            else:
                if prev is not None:
                    runs.append(f"{prev}{n}")
                prev, n = c, 1
        runs.append(f"{prev}{n}")
        return f"({self.in_features}x{self.out_features})" + "".join(runs)


_ARRANGEMENT = re.compile(r"^\(\s*(\d+)\s*[xX×]\s*(\d+)\s*\)(.*)$")
_TOKEN = re.compile(r"([A-Z][a-z]*)([+-]?\d+)")


def parse_mosaic(
    arrangement: str,
    *,
    kernel_size: int,
    in_features: int | None = None,
    out_features: int | None = None,
) -> MosaicSpec:
    """Parses an arrangement string such as ``"(3x64)G30Lg15Lt15Tf30Ts6P96"``.

    The ``(IxO)`` prefix may be left out when ``in_features`` and ``out_features`` are given;
    when both are present they must agree. Families take consecutive slices ``s = o * I + i``
    in the order written; a code may appear more than once.

    Args:
      arrangement: ``"(IxO)"`` followed by ``<code><count>`` tokens.
      kernel_size: ``k``.
      in_features: optional ``I`` (checked against the prefix).
      out_features: optional ``O`` (checked against the prefix).

    Returns:
      A hashable :class:`MosaicSpec`.

    Raises:
      ValueError: malformed string, unknown code, non-positive count, counts whose sum is not
        ``I * O``, or a prefix that disagrees with ``in_features``/``out_features``.

    Examples:
      >>> spec = parse_mosaic("(3x64)G30Lg15Lt15Tf30Ts6P96", kernel_size=11)
      >>> spec.counts["P"], spec.codes[29], spec.codes[30]
      (96, 'G', 'Lg')
    """
    if not isinstance(arrangement, str):
        raise TypeError(f"arrangement must be a str, got {type(arrangement).__name__}")
    text = "".join(arrangement.split())
    m = _ARRANGEMENT.match(text)
    if m:
        i_str, o_str, body = m.groups()
        n_in, n_out = int(i_str), int(o_str)
        for name, given, parsed in (
            ("in_features", in_features, n_in),
            ("out_features", out_features, n_out),
        ):
            if given is not None and given != parsed:
                raise ValueError(
                    f"arrangement {arrangement!r} declares {name}={parsed}, but {name}={given}"
                )
    elif text.startswith("("):
        raise ValueError(
            f"malformed arrangement {arrangement!r}: expected a prefix '(IxO)' such as '(3x64)'"
        )
    elif in_features is not None and out_features is not None:
        n_in, n_out, body = in_features, out_features, text
    else:
        raise ValueError(
            f"arrangement {arrangement!r} has no '(IxO)' prefix; give in_features and out_features"
        )
    if not body:
        raise ValueError(f"malformed arrangement {arrangement!r}: no '<code><count>' tokens")
    pos, codes = 0, []
    for tok in _TOKEN.finditer(body):
        if tok.start() != pos:
            break
        code, count = tok.group(1), int(tok.group(2))
        if code not in FAMILIES:
            raise ValueError(
                f"unknown family code {code!r} in arrangement {arrangement!r}; "
                f"expected one of {sorted(FAMILIES)}"
            )
        if count <= 0:
            raise ValueError(
                f"family {code!r} in arrangement {arrangement!r} has count {count}; "
                f"counts must be positive"
            )
        codes.extend([code] * count)
        pos = tok.end()
    if pos != len(body):
        raise ValueError(
            f"malformed arrangement {arrangement!r}: cannot read {body[pos:]!r}; expected "
            f"tokens '<code><count>' such as 'G30' with codes {sorted(FAMILIES)}"
        )
    if len(codes) != n_in * n_out:
        raise ValueError(
            f"arrangement {arrangement!r}: counts add up to {len(codes)}, expected "
            f"I * O = {n_in} * {n_out} = {n_in * n_out}"
        )
    return MosaicSpec(n_in, n_out, kernel_size, tuple(codes))


def param_count(spec: MosaicSpec) -> int:
    """Number of trainable kernel scalars of a mosaic (biases not included).

    .. math:: \\sum_f n_f \\, p_f, \\quad p_f = \\text{AKPs per slice} (k^2 \\text{ for P}).

    Examples:
      >>> param_count(parse_mosaic("(1x3)Lg1Tf1P1", kernel_size=3))
      14
    """
    _check_spec(spec)
    return sum(n * get_family(c).n_params(spec.kernel_size) for c, n in spec.counts.items())


def kernel_slices(kernel: Num[ArrayLike, "k k i o"]) -> Num[Array, "s k k"]:
    """HWIO kernel -> its ``I * O`` slices in slice order ``s = o * I + i``.

    Examples:
      >>> import jax.numpy as jnp
      >>> kernel_slices(jnp.zeros((3, 3, 2, 4))).shape
      (8, 3, 3)
    """
    kernel = jnp.asarray(kernel)
    if kernel.ndim != 4 or kernel.shape[0] != kernel.shape[1]:
        raise ValueError(f"kernel must have shape (k, k, I, O), got {kernel.shape}")
    k, _, i, o = kernel.shape
    return jnp.transpose(kernel, (3, 2, 0, 1)).reshape(o * i, k, k)


def slices_kernel(
    slices: Num[ArrayLike, "s k k"], in_features: int, out_features: int
) -> Num[Array, "k k i o"]:
    """Inverse of :func:`kernel_slices`: ``(I * O, k, k)`` -> ``(k, k, I, O)``.

    Examples:
      >>> import jax.numpy as jnp
      >>> x = jnp.arange(72.0).reshape(3, 3, 2, 4)
      >>> bool((slices_kernel(kernel_slices(x), 2, 4) == x).all())
      True
    """
    in_features = check_int("in_features", in_features, 1)
    out_features = check_int("out_features", out_features, 1)
    slices = jnp.asarray(slices)
    if (
        slices.ndim != 3
        or slices.shape[0] != in_features * out_features
        or (slices.shape[1] != slices.shape[2])
    ):
        raise ValueError(
            f"slices must have shape ({in_features * out_features}, k, k), got {slices.shape}"
        )
    k = slices.shape[-1]
    return jnp.transpose(slices.reshape(out_features, in_features, k, k), (2, 3, 1, 0))


def _check_spec(spec):
    if not isinstance(spec, MosaicSpec):
        raise TypeError(f"spec must be a MosaicSpec (see parse_mosaic), got {type(spec).__name__}")


def check_params(params, spec) -> None:
    """``params`` holds one raw AKP table per family of ``spec`` (TypeError / ValueError)."""
    _check_spec(spec)
    if not isinstance(params, dict) or set(params) != set(spec.family_order):
        got = sorted(params) if isinstance(params, dict) else type(params).__name__
        raise ValueError(
            f"params must be a dict with one AKP table per family {sorted(spec.family_order)}, "
            f"got {got}"
        )


def check_key(key, name: str = "key") -> None:
    if not (hasattr(key, "dtype") and jax.dtypes.issubdtype(key.dtype, jax.dtypes.prng_key)):
        raise TypeError(f"{name} must be a typed PRNG key from jax.random.key, got {key!r}")


@functools.lru_cache(maxsize=256)
def _gather_order(spec: MosaicSpec):
    """Static permutation from family-grouped order to slice order (None if identity)."""
    grouped = np.concatenate([spec.indices(c) for c in spec.family_order])
    if np.array_equal(grouped, np.arange(spec.n_slices)):
        return None
    return np.argsort(grouped)


def mosaic_kernels(params: MosaicParams, spec: MosaicSpec) -> Float[Array, "k k i o"]:
    """The HWIO kernel of a mosaic, from its raw AKP tables.

    One batched kernel call per family (``Family.kernels``, i.e. ``Family.kernel`` over the
    family's AKP table), concatenated in ``spec.family_order`` and put in slice order by a
    static permutation:

    .. math:: W[:, :, i, o] = K_{f(s)}(\\mathrm{akp}_s), \\qquad s = o I + i.

    Args:
      params: ``{code: (n_code, p_code)}`` raw AKP tables (from :func:`init_mosaic` or a fit).
      spec: the mosaic.

    Returns:
      ``(k, k, I, O)`` kernel in the params' dtype.

    Examples:
      >>> import jax
      >>> spec = parse_mosaic("(2x3)G2Lg1Tf1Ts1P1", kernel_size=5)
      >>> mosaic_kernels(init_mosaic(jax.random.key(0), spec), spec).shape
      (5, 5, 2, 3)
    """
    check_params(params, spec)
    parts, k = [], spec.kernel_size
    for code in spec.family_order:
        table = jnp.asarray(params[code])
        want = (spec.counts[code], get_family(code).n_params(k))
        if table.shape != want:
            raise ValueError(f"params[{code!r}] must have shape {want}, got {table.shape}")
        if not jnp.issubdtype(table.dtype, jnp.floating):
            raise TypeError(f"params[{code!r}] must be floating point, got dtype {table.dtype}")
        parts.append(get_family(code).kernels(table, pixel_grid(k, table.dtype)))
    hws = parts[0] if len(parts) == 1 else jnp.concatenate(parts, axis=-1)  # (k, k, S) grouped
    order = _gather_order(spec)
    if order is not None:
        hws = hws[..., order]
    return jnp.swapaxes(hws.reshape(k, k, spec.out_features, spec.in_features), 2, 3)


def init_mosaic(key: jax.Array, spec: MosaicSpec, *, dtype=jnp.float32) -> MosaicParams:
    """Random raw AKP tables for a mosaic.

    Analytic slices draw their shape AKPs from the family's initialiser and a random-sign
    amplitude that gives each slice the Frobenius norm :math:`1/\\sqrt{I}` (the expected norm of
    a LeCun-normal slice, variance :math:`1/(k^2 I)`); plain slices are LeCun-normal.

    Args:
      key: typed PRNG key.
      spec: the mosaic.
      dtype: float dtype of the tables.

    Returns:
      ``{code: (n_code, p_code)}`` raw AKP tables, in ``spec.family_order``.

    Examples:
      >>> import jax
      >>> spec = parse_mosaic("(1x4)Tf2P2", kernel_size=3)
      >>> {c: t.shape for c, t in init_mosaic(jax.random.key(0), spec).items()}
      {'Tf': (2, 3), 'P': (2, 9)}
    """
    _check_spec(spec)
    check_key(key)
    dtype = jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a real floating dtype, got {dtype}")
    return {
        code: _init_family(jax.random.fold_in(key, j), code, spec.counts[code],
                           spec.kernel_size, spec.in_features, dtype)
        for j, code in enumerate(spec.family_order)
    }  # fmt: skip


@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4, 5))
def _init_family(key, code, n, k, n_in, dtype):
    fam = get_family(code)
    if fam.plain:
        return (jax.random.normal(key, (n, k * k)) / math.sqrt(k * k * n_in)).astype(dtype)
    k_shape, k_sign = jax.random.split(key)
    shape_akp = jax.vmap(fam.init_shape, in_axes=(0, None))(jax.random.split(k_shape, n), k)
    shape_akp = shape_akp.astype(dtype)
    shapes = jax.vmap(fam.shape, in_axes=(0, None))(shape_akp, pixel_grid(k, dtype))
    norms = jnp.sqrt(jnp.sum(shapes**2, axis=(1, 2)))
    sign = jnp.where(jax.random.bernoulli(k_sign, 0.5, (n,)), 1.0, -1.0).astype(dtype)
    amp = sign / (math.sqrt(n_in) * norms)
    return fam.unconstrain(jnp.concatenate([amp[:, None], shape_akp], axis=1))
