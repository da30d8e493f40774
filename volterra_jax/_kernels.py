"""The `VolterraKernels` pytree and the small shape helpers every module shares."""

import itertools
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Real

_NAME = re.compile(r"h(\d+)$")


def _shape(a) -> tuple[int, ...] | None:
    shape = getattr(a, "shape", None)
    return None if shape is None else tuple(shape)


@jax.tree_util.register_pytree_node_class
class VolterraKernels:
    """The kernels ``(h0, h1, ..., hN)`` of a finite Volterra series.

    With receptive field ``(kh, kw, C)`` and ``O`` output channels, ``h0`` has shape ``(O,)``,
    ``h1`` shape ``(kh, kw, C, O)`` (HWIO, directly a conv kernel), ``h2`` shape
    ``(kh, kw, C, kh, kw, C, O)`` and ``hn`` repeats the ``(kh, kw, C)`` slot ``n`` times. The
    functions of this package store kernels symmetrised over their slots (only the symmetric
    part acts on ``x^n``).

    Build it positionally, ``VolterraKernels(h0, h1, h2)``, or by name,
    ``VolterraKernels(h0=h0, h1=h1)``; read ``k.h1``, ``k[1]``, ``k.order``, ``k.rf_shape``,
    ``k.out_channels``; iterate over the terms. It is a pytree whose leaves are the terms.

    Raises:
      ValueError: when the shapes of the terms disagree with each other.

    Examples:
      >>> import jax.numpy as jnp
      >>> k = VolterraKernels(jnp.zeros(2), jnp.ones((3, 3, 1, 2)))
      >>> k.order, k.rf_shape, k.out_channels
      (1, (3, 3, 1), 2)
    """

    __slots__ = ("terms",)

    def __init__(self, *terms, **named):
        if named:
            if terms:
                raise TypeError("VolterraKernels takes its terms either positionally or by name")
            orders = {}
            for name, value in named.items():
                match = _NAME.match(name)
                if match is None:
                    raise TypeError(f"VolterraKernels: unknown term {name!r}, expected h0, h1, ...")
                orders[int(match.group(1))] = value
            if sorted(orders) != list(range(len(orders))):
                raise ValueError(
                    f"VolterraKernels: terms must be h0..hN without gaps, got {sorted(named)}"
                )
            terms = tuple(orders[n] for n in range(len(orders)))
        if not terms:
            raise ValueError("VolterraKernels needs at least h0")
        object.__setattr__(self, "terms", tuple(terms))
        _check_terms(self.terms)

    def __setattr__(self, name, value):
        raise AttributeError("VolterraKernels is immutable")

    def __getattr__(self, name):
        match = _NAME.match(name)
        if match is None:
            raise AttributeError(name)
        n = int(match.group(1))
        terms = object.__getattribute__(self, "terms")
        if n >= len(terms):
            raise AttributeError(f"these kernels stop at order {len(terms) - 1}, no {name}")
        return terms[n]

    def __getitem__(self, n):
        return self.terms[n]

    def __len__(self):
        return len(self.terms)

    def __iter__(self):
        return iter(self.terms)

    def __repr__(self):
        shapes = ", ".join(f"h{n}={_shape(t)}" for n, t in enumerate(self.terms))
        return f"VolterraKernels({shapes})"

    @property
    def order(self) -> int:
        """The highest order N."""
        return len(self.terms) - 1

    @property
    def out_channels(self) -> int:
        """O, the number of output channels."""
        return _shape(self.terms[0])[-1]

    @property
    def rf_shape(self) -> tuple[int, int, int] | None:
        """``(kh, kw, C)``, or None for order-0 kernels that have no spatial extent."""
        if len(self.terms) < 2:
            return None
        return _shape(self.terms[1])[:3]

    def tree_flatten(self):
        return self.terms, None

    @classmethod
    def tree_unflatten(cls, aux, children):
        obj = object.__new__(cls)
        object.__setattr__(obj, "terms", tuple(children))
        return obj


def _check_terms(terms) -> None:
    for n, t in enumerate(terms):
        if isinstance(t, list | tuple | str | int | float | complex):
            raise TypeError(f"h{n} must be an array (jax or numpy), got {type(t).__name__}")
        dtype = getattr(t, "dtype", None)
        if dtype is not None and not (
            jnp.issubdtype(dtype, jnp.floating) or jnp.issubdtype(dtype, jnp.integer)
        ):
            raise TypeError(f"h{n} must be a real number array, got dtype {dtype}")
    shapes = [_shape(t) for t in terms]
    if any(s is None for s in shapes):
        return  # placeholders inside jax transformations
    if len(shapes[0]) != 1:
        raise ValueError(f"h0 must have shape (O,), got shape {shapes[0]}")
    out = shapes[0][0]
    if len(shapes) < 2:
        return
    if len(shapes[1]) != 4:
        raise ValueError(f"h1 must have shape (kh, kw, C, O), got shape {shapes[1]}")
    rf = shapes[1][:3]
    for n, s in enumerate(shapes[1:], start=1):
        expected = rf * n + (out,)
        if s != expected:
            raise ValueError(
                f"h{n} must have shape {expected} to agree with h0 {shapes[0]} and h1 "
                f"{shapes[1]}, got shape {s}"
            )


def check_rf_shape(rf_shape, name: str = "rf_shape") -> tuple[int, int, int]:
    """``rf_shape`` as a tuple of three positive ints ``(kh, kw, C)`` or raises."""
    expected = f"{name} must be three positive ints (kh, kw, C), got {rf_shape!r}"
    try:
        shape = tuple(rf_shape)
    except TypeError:
        raise TypeError(expected) from None
    ok = len(shape) == 3 and all(
        isinstance(s, int | np.integer) and not isinstance(s, bool) and s > 0 for s in shape
    )
    if not ok:
        raise ValueError(expected)
    return tuple(int(s) for s in shape)


def kernel_order(h, *, name: str = "H") -> int:
    """The order n of one kernel array of shape ``(kh, kw, C) * n + (O,)``."""
    shape = _shape(h)
    if shape is None:
        raise TypeError(f"{name} must be an array, got {type(h).__name__}")
    if len(shape) % 3 != 1:
        raise ValueError(f"{name} must have shape (kh, kw, C) * n + (O,), got shape {shape}")
    n = len(shape) // 3
    if n > 1 and any(shape[3 * k : 3 * k + 3] != shape[:3] for k in range(n)):
        raise ValueError(f"{name} must repeat one (kh, kw, C) slot, got shape {shape}")
    return n


def symmetrize(h: Real[ArrayLike, "..."]) -> Real[Array, "..."]:
    """Averages an order-n kernel over the ``n!`` permutations of its ``(kh, kw, C)`` slots.

    .. math::
       (\\mathrm{sym}\\,H)[s_1..s_n, o] = \\frac{1}{n!}\\sum_{\\pi} H[s_{\\pi 1}..s_{\\pi n}, o]

    Args:
      h: kernel of shape ``(kh, kw, C) * n + (O,)``.

    Returns:
      The symmetric kernel, same shape; ``h`` itself for n <= 1.

    Examples:
      >>> import jax.numpy as jnp
      >>> h = jnp.arange(4.0).reshape(1, 2, 1, 1, 2, 1, 1)
      >>> symmetrize(h).reshape(2, 2).tolist()
      [[0.0, 1.5], [1.5, 3.0]]
    """
    n = kernel_order(h, name="h")
    if n <= 1:
        return h
    total = None
    for perm in itertools.permutations(range(n)):
        axes = [3 * p + j for p in perm for j in range(3)] + [3 * n]
        term = jnp.transpose(h, axes)
        total = term if total is None else total + term
    return total / math.factorial(n)
