"""Table-driven bad-input tests: every case must raise a clear error that names the argument.

A :class:`Case` is a call of a public function with one bad argument, the exception type it
must raise and the words its message must contain (the argument's name, and what was expected
where that is the point). ``parametrize`` turns a table into tests; each case whose arguments
hold a JAX array runs a second time under ``jax.jit`` with those arrays traced, so the check
is shown to happen at trace time.

The calls run with jaxtyping's runtime checker paused (when the test command turns it on):
these tests check the errors the libraries themselves give their users, who run unchecked.
"""

import contextlib
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jaxtyping
import pytest


class Case(NamedTuple):
    name: str
    fn: Callable
    args: tuple
    kwargs: dict
    exc: type
    words: tuple[str, ...]
    traced: bool = True


def case(
    name: str, fn: Callable, *args: Any, exc: type, words, traced: bool = True, **kwargs
) -> Case:
    """``traced=False`` for a check of array values, which only an eager call can make."""
    words = (words,) if isinstance(words, str) else tuple(words)
    return Case(name, fn, args, kwargs, exc, words, traced)


def _traced_call(c: Case):
    """``c`` with its positional JAX-array arguments traced by ``jax.jit``."""
    where = [i for i, a in enumerate(c.args) if isinstance(a, jax.Array)]

    def call(*arrays):
        args = list(c.args)
        for i, a in zip(where, arrays, strict=True):
            args[i] = a
        return c.fn(*args, **c.kwargs)

    return jax.jit(call)(*(c.args[i] for i in where))


@contextlib.contextmanager
def unchecked():
    """Pauses jaxtyping's runtime checker (a no-op when it is off)."""
    before = jaxtyping.config.jaxtyping_disable
    jaxtyping.config.update("jaxtyping_disable", True)
    try:
        yield
    finally:
        jaxtyping.config.update("jaxtyping_disable", before)


def check(c: Case, *, jit: bool = False) -> None:
    with unchecked(), pytest.raises(c.exc) as info:
        _traced_call(c) if jit else c.fn(*c.args, **c.kwargs)
    message = str(info.value)
    missing = [w for w in c.words if w not in message]
    assert not missing, f"{c.name}: the message {message!r} does not name {missing}"


def params(cases: list[Case]) -> tuple[list, list]:
    """``(values, ids)`` for ``pytest.mark.parametrize("c, jit", ...)``: every case eagerly,
    and under jit those with a JAX array among their positional arguments."""
    names = [c.name for c in cases]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    assert not duplicates, f"duplicate case names {duplicates}"
    values, ids = [], []
    for c in cases:
        values.append((c, False))
        ids.append(c.name)
        if c.traced and any(isinstance(a, jax.Array) for a in c.args):
            values.append((c, True))
            ids.append(f"{c.name}[jit]")
    return values, ids
