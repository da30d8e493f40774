"""The size of a compiled scattering program, for the tests that bound its growth."""

import jax

from tests.bad_input import unchecked


def program_size(fn, *args) -> int:
    """Number of instructions of the lowered (StableHLO) program of ``jax.jit(fn)(*args)``."""
    # jaxtyping's checker refuses the abstract leaves a lowering passes through the filter
    # bank's pytree (it checks values, not programs): lower unchecked
    with unchecked():
        text = jax.jit(fn).lower(*args).as_text()
    return sum(" = " in line for line in text.splitlines())
