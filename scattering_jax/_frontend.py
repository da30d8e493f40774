"""Kymatio-style objects: ``Scattering1D`` and ``Scattering2D`` with Kymatio 0.3.0's arguments.

Each object holds its filter bank and is a pytree (the filters are its leaves, every option is
static), so it can be closed over or passed to ``jax.jit``, ``vmap`` and ``grad``; calling it
runs the pure functions :func:`scattering1d`, :func:`scattering1d_coefficients` and
:func:`scattering2d`.
"""

import numbers

import jax
from jaxtyping import Array, ArrayLike, Float, Real

from scattering_jax._checks import check_bool, check_int, check_max_order, check_static
from scattering_jax._filters_1d import filter_bank_1d
from scattering_jax._filters_2d import filter_bank_2d, padded_shape_2d
from scattering_jax._scattering_1d import (
    Paths1D,
    paths_1d,
    scattering1d,
    scattering1d_coefficients,
)
from scattering_jax._scattering_2d import Paths2D, paths_2d, scattering2d


class Coefficient(dict):
    """One coefficient of ``out_type='list'``: a dict with Kymatio's keys ``coef``, ``j``,
    ``n`` (and ``theta`` in 2D). A pytree whose only leaf is ``coef``: the metadata stay
    Python tuples under ``jax.jit``."""


jax.tree_util.register_pytree_node(
    Coefficient,
    lambda c: ((c["coef"],), tuple((k, v) for k, v in c.items() if k != "coef")),
    lambda meta, leaves: Coefficient(coef=leaves[0], **dict(meta)),
)


def _check_out_type(out_type, allowed: tuple[str, ...]) -> str:
    check_static("out_type", out_type)
    if out_type not in allowed:
        raise ValueError(
            f"out_type must be one of {', '.join(map(repr, allowed))}, got {out_type!r}"
        )
    return out_type


def _meta(order: int, first: int, second: int) -> tuple[int, ...]:
    """Kymatio's per-order tuple: ``()``, ``(first,)`` or ``(first, second)``."""
    return () if order == 0 else (first,) if order == 1 else (first, second)


class _Scattering:
    """Shared pytree plumbing: ``_fields`` are the static options, ``filters`` the leaves."""

    _fields: tuple[str, ...] = ()

    def tree_flatten(self):
        return (self.filters,), tuple(getattr(self, f) for f in self._fields)

    @classmethod
    def tree_unflatten(cls, options, leaves):
        obj = object.__new__(cls)
        for name, value in zip(cls._fields, options, strict=True):
            setattr(obj, name, value)
        obj.filters = leaves[0]
        return obj

    def scattering(self, x):
        """Kymatio's name for calling the object."""
        return self(x)

    def output_size(self) -> int:
        """Number of channels ``K`` (Kymatio's ``output_size()``)."""
        return len(self.paths().order)

    def __repr__(self) -> str:
        options = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields)
        return f"{type(self).__name__}({options})"


@jax.tree_util.register_pytree_node_class
class Scattering1D(_Scattering):
    """Kymatio 0.3.0's ``Scattering1D(J, shape, Q, T, max_order, oversampling, out_type)``.

    Args:
      J: log2 of the largest wavelet scale (a static Python int).
      shape: the signal length, an int or a 1-tuple.
      Q: wavelets per octave, an int ``Q1`` (``Q2 = 1``) or ``(Q1, Q2)``.
      T: averaging scale: ``None`` (``2**J``), a number in ``[1, length]``, or ``0`` for no
        averaging (then ``out_type`` must be ``'list'`` or ``'dict'``).
      max_order: 1 or 2.
      oversampling: subsample ``2**oversampling`` times less than the default, ``>= 0``.
      out_type: ``'array'`` (``(..., K, t)``), ``'list'`` (one :class:`Coefficient` per
        channel, with ``j`` and ``n``, in Kymatio's order) or ``'dict'`` (``{n: coef}``).
      dtype: filter dtype (not in Kymatio); defaults to JAX's default float.

    Examples:
      >>> import jax.numpy as jnp
      >>> S = Scattering1D(J=4, shape=256, Q=(4, 1), T=32)
      >>> S(jnp.ones((3, 256))).shape
      (3, 29, 8)
      >>> S = Scattering1D(J=4, shape=256, max_order=1, out_type='list')
      >>> [(c['j'], c['n'], c['coef'].shape) for c in S(jnp.ones(256))][:2]
      [((), (), (16,)), ((0,), (0,), (16,))]
    """

    _fields = ("J", "shape", "Q", "T", "max_order", "oversampling", "out_type")

    def __init__(
        self, J, shape, Q=1, T=None, max_order=2, oversampling=0, out_type="array", *, dtype=None
    ):
        check_static("shape", shape)
        if isinstance(shape, tuple) and len(shape) == 1:
            shape = shape[0]
        elif not isinstance(shape, numbers.Integral) or isinstance(shape, bool):
            raise ValueError(
                f"shape must be an int or a 1-tuple (the signal length), got {shape!r}"
            )
        self.filters = filter_bank_1d(shape, J=J, Q=Q, T=T, dtype=dtype)
        fb = self.filters
        self.J, self.shape, self.Q, self.T = fb.J, (fb.length,), fb.Q, (fb.T if fb.average else 0)
        self.max_order = check_max_order(max_order)
        self.oversampling = check_int("oversampling", oversampling, 0)
        self.out_type = _check_out_type(out_type, ("array", "list", "dict"))
        if not fb.average and self.out_type == "array":
            raise ValueError(
                "out_type='array' needs averaging: with T=0 the coefficients have several "
                "lengths; pass out_type='list' or 'dict'"
            )

    def __call__(self, x: Real[ArrayLike, "*batch N"]) -> Float[Array, "*batch K t"] | list | dict:
        args = dict(J=self.J, max_order=self.max_order, oversampling=self.oversampling)
        if self.out_type == "array":
            return scattering1d(x, self.filters, **args)
        coefs = scattering1d_coefficients(x, self.filters, **args)
        p = self.paths()
        rows = list(zip(p.order.tolist(), p.n1.tolist(), p.n2.tolist(), strict=True))
        j1, j2 = self.filters.j1, self.filters.j2
        js = [_meta(o, j1[a] if a >= 0 else -1, j2[b] if b >= 0 else -1) for o, a, b in rows]
        ns = [_meta(o, a, b) for o, a, b in rows]
        if self.out_type == "dict":
            return dict(zip(ns, coefs, strict=True))
        return [Coefficient(coef=c, j=j, n=n) for c, j, n in zip(coefs, js, ns, strict=True)]

    def paths(self) -> Paths1D:
        """Per-channel order and wavelet indices (see :func:`paths_1d`)."""
        return paths_1d(self.filters, self.max_order)


@jax.tree_util.register_pytree_node_class
class Scattering2D(_Scattering):
    """Kymatio 0.3.0's ``Scattering2D(J, shape, L, max_order, pre_pad, out_type)``.

    Args:
      J: number of scales (a static Python int).
      shape: image size ``(M, N)``.
      L: number of orientations.
      max_order: 1 or 2.
      pre_pad: the input is already padded to ``padded_shape`` (Kymatio's meaning).
      out_type: ``'array'`` (``(..., K, M // 2**J, N // 2**J)``) or ``'list'`` (one
        :class:`Coefficient` per channel with ``j``, ``n``, ``theta``, in Kymatio's order;
        ``n = j * L + theta`` indexes Kymatio's wavelet list).
      dtype: filter dtype (not in Kymatio); defaults to JAX's default float.

    Examples:
      >>> import jax.numpy as jnp
      >>> S = Scattering2D(2, (16, 16), L=4, max_order=1)
      >>> S(jnp.ones((16, 16))).shape
      (9, 4, 4)
      >>> Scattering2D(2, (16, 16), L=4, pre_pad=True).padded_shape
      (24, 24)
    """

    _fields = ("J", "shape", "L", "max_order", "pre_pad", "out_type")

    def __init__(self, J, shape, L=8, max_order=2, pre_pad=False, out_type="array", *, dtype=None):
        self.filters = filter_bank_2d(shape, J=J, L=L, dtype=dtype)
        self.J, self.L, self.shape = self.filters.J, self.filters.L, self.filters.shape
        self.max_order = check_max_order(max_order)
        self.pre_pad = check_bool("pre_pad", pre_pad)
        self.out_type = _check_out_type(out_type, ("array", "list"))

    @property
    def padded_shape(self) -> tuple[int, int]:
        """The padded image shape (the input shape when ``pre_pad=True``)."""
        return padded_shape_2d(self.shape, self.J)

    def __call__(self, x: Real[ArrayLike, "*batch M N"]) -> Float[Array, "*batch K m n"] | list:
        out = scattering2d(
            x, self.filters, J=self.J, max_order=self.max_order, pre_pad=self.pre_pad
        )
        if self.out_type == "array":
            return out
        p = self.paths()
        rows = zip(*(a.tolist() for a in p), strict=True)
        return [
            Coefficient(
                coef=out[..., i, :, :],
                j=_meta(o, j1, j2),
                n=_meta(o, j1 * self.L + t1, j2 * self.L + t2),
                theta=_meta(o, t1, t2),
            )
            for i, (o, j1, t1, j2, t2) in enumerate(rows)
        ]

    def paths(self) -> Paths2D:
        """Per-channel order, scales and angles (see :func:`paths_2d`)."""
        return paths_2d(self.J, self.L, self.max_order)
