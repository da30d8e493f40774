"""Argument checks shared by cnn_layers and the lenses that read it (host-side, at trace time).

Each raises a ValueError or TypeError naming the argument, what was expected and what was
received. They look only at Python values, shapes and dtypes, never at array values, so they
hold under ``jax.jit``.
"""

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

__all__ = [
    "as_real_float",
    "check_bool",
    "check_int",
    "check_rank",
    "check_real",
    "dtype_of",
]


def dtype_of(x) -> np.dtype:
    """The dtype of an array, tracer, scalar or nested list, without converting a tracer."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return np.asarray(x).dtype
    return np.dtype(dtype)


def as_real_float(x, name: str, dtype=None) -> Array:
    """``x`` as a real floating array: integers promoted explicitly (to ``dtype``, else the
    default float), booleans, complex and non-numeric arrays refused (a TypeError naming
    ``name``)."""
    kind = dtype_of(x)
    if jnp.issubdtype(kind, jnp.complexfloating):
        raise TypeError(f"{name} must be real, got the complex dtype {kind}")
    if jnp.issubdtype(kind, jnp.bool_) or not jnp.issubdtype(kind, jnp.number):
        raise TypeError(f"{name} must be a real number array, got dtype {kind}")
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = x.astype(dtype or jax.dtypes.canonicalize_dtype(jnp.float64))
    return x


def check_rank(x, name: str, ndim: int | tuple[int, ...], what: str) -> None:
    """Raises unless ``x.ndim`` is ``ndim`` (or one of them); ``what`` names the axes."""
    allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
    shape = tuple(jnp.shape(x))
    if len(shape) not in allowed:
        raise ValueError(f"{name} must have shape {what}, got shape {shape}")


def check_int(name: str, value, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an int; TypeError if it is not an integer, ValueError outside the range."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int{_range(minimum, maximum)}, got {value!r}")
    value = int(value)
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an int{_range(minimum, maximum)}, got {value}")
    return value


def check_real(name: str, value, minimum: float | None = None, *, strict: bool = False) -> float:
    """``value`` as a finite Python float (``> minimum`` if ``strict``, else ``>=``); TypeError
    for a non-number (or a traced value: static settings must be Python numbers)."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number (a Python float), got {value!r}")
    value = float(value)
    low = minimum is not None and (value <= minimum if strict else value < minimum)
    if not math.isfinite(value) or low:
        bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum}"
        raise ValueError(f"{name} must be a finite number{bound}, got {value}")
    return value


def check_bool(name: str, value) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def _range(minimum, maximum) -> str:
    if minimum is not None and maximum is not None:
        return f" in [{minimum}, {maximum}]"
    if minimum is not None:
        return f" >= {minimum}"
    return "" if maximum is None else f" <= {maximum}"
