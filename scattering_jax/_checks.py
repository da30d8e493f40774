"""Argument validation shared by the public functions (host-side, before tracing)."""

import math
import numbers

import jax
import jax.numpy as jnp
import numpy as np

# Filter banks are built in float64 NumPy on the host: refuse, before allocating, settings
# whose bank alone would exceed this (a MemoryError deep inside NumPy names nothing).
MAX_BANK_BYTES = 16 * 2**30


def check_bank_size(nbytes: float, settings: str) -> None:
    """Raises a ValueError naming ``settings`` when a bank would take over 16 GiB."""
    if nbytes > MAX_BANK_BYTES:
        raise ValueError(
            f"{settings} give a filter bank of about {nbytes / 2**30:.3g} GiB (built in "
            f"float64), more than the {MAX_BANK_BYTES // 2**30} GiB limit; use a smaller size"
        )


def check_float_dtype(dtype):
    """``dtype`` (None: JAX's default float) as a real floating dtype, or a TypeError."""
    dtype = jnp.result_type(float) if dtype is None else jnp.dtype(dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"dtype must be a real floating dtype (filters are real), got {dtype}")
    return dtype


def check_static(name: str, value):
    """Refuses a JAX array or traced ``value``: filter shapes and loop structure depend on it,
    so it must be a Python number known when the program is traced (a TypeError saying how)."""
    if isinstance(value, (jax.Array, jax.core.Tracer)):
        what = "a traced value" if isinstance(value, jax.core.Tracer) else "a JAX array"
        raise TypeError(
            f"{name} must be a static Python number, got {what} ({value}): under "
            f"jax.jit pass it in static_argnames (jax.jit(f, static_argnames=('{name}',))), "
            f"or build the Scattering1D / Scattering2D object outside the jitted function"
        )
    return value


def check_int(name: str, value, minimum: int) -> int:
    """Returns ``value`` as an int, raising if it is not an integer ``>= minimum`` (or traced)."""
    check_static(name, value)
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and math.isnan(float(value)):
            raise ValueError(f"{name} must be an integer >= {minimum}, got NaN")
        raise TypeError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """Returns ``value`` if it is a Python bool (or NumPy bool), else a TypeError."""
    check_static(name, value)
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_max_order(max_order) -> int:
    """Returns ``max_order`` (1 or 2) or raises."""
    order = check_int("max_order", max_order, 1)
    if order > 2:
        raise ValueError(f"max_order must be 1 or 2, got {order}")
    return order


def check_transform_args(filters, bank_type: type, builder: str, J, max_order) -> tuple[int, int]:
    """Validates a filter bank of ``bank_type`` against ``J``; returns ``(J, max_order)``."""
    if not isinstance(filters, bank_type):
        raise TypeError(
            f"filters must be a {bank_type.__name__} from {builder}, got {type(filters)}"
        )
    J = check_int("J", J, 1)
    max_order = check_max_order(max_order)
    if J != filters.J:
        raise ValueError(
            f"J must match the filter bank: filters were built with J={filters.J}, got J={J}"
        )
    return J, max_order


def check_numeric(name: str, x):
    """``x`` (an array, tracer, list or scalar) with a numeric dtype (not bool) or raises."""
    if not hasattr(x, "dtype") or not hasattr(x, "shape"):
        x = np.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.bool_) or not jnp.issubdtype(x.dtype, jnp.number):
        raise TypeError(f"{name} must be a number array, got dtype {x.dtype}")
    return x


def check_real_signal(name: str, x, min_rank: int):
    """Returns ``x`` as a real floating JAX array of rank ``>= min_rank`` or raises."""
    x = check_numeric(name, x)
    if jnp.issubdtype(x.dtype, jnp.complexfloating):
        raise TypeError(
            f"{name} must be real (the scattering of a real signal), got dtype {x.dtype}"
        )
    if x.ndim < min_rank:
        raise ValueError(
            f"{name} must have rank >= {min_rank} (leading batch dims allowed), "
            f"got shape {tuple(x.shape)}"
        )
    if jnp.issubdtype(x.dtype, jnp.floating) and jnp.finfo(x.dtype).bits < 32:
        raise TypeError(
            f"{name} must be float32 or float64 (or an integer array, read as JAX's default "
            f"float): the FFTs have no {x.dtype} form; got dtype {x.dtype}, cast it with "
            f"{name}.astype(jnp.float32)"
        )
    if not jnp.issubdtype(x.dtype, jnp.floating):
        x = jnp.asarray(x, dtype=jnp.result_type(float))
    return jnp.asarray(x)
