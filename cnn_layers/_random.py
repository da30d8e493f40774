"""Random draws that compile fast: the same values as ``jax.random``, generated flat.

XLA:CPU takes seconds to compile the generator of a high-rank shape (``jax.random.normal`` of
shape ``(1, 28, 28, 1, 16, 10)``: 5 s on a 2-core CPU, against 0.3 s for the same count flat);
the values of a flat draw reshaped are the same bits (JAX's counters run over the flat index).
"""

import math
from collections.abc import Sequence

import jax

__all__ = ["normal"]


def normal(key, shape: Sequence[int], dtype=None) -> jax.Array:
    """``jax.random.normal(key, shape, dtype)``, the same values, drawn flat and reshaped."""
    shape = tuple(shape)
    kwargs = {} if dtype is None else {"dtype": dtype}
    return jax.random.normal(key, (math.prod(shape),), **kwargs).reshape(shape)
