"""Wall-clock timing for the benchmark suites (never used by tests).

Every suite module ``experiments/benchmarks/<name>.py`` exposes
``run(*, repeats: int) -> dict`` with
``rows``: a list of ``{"case", "impl", "median_s", "compile_s"}`` (``compile_s`` may be None;
a row may add ``first_s``, the first call, and ``peak_gib``, the peak memory of the process that
ran it) and
``ratios``: a mapping ``name -> {"value", "goal", "met"}``, where ``value`` is a speed ratio
measured in the same run (bigger is better) and ``goal`` the issue's target.
"""

import re
import statistics
import time
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def _block(out: Any) -> Any:
    return jax.tree.map(
        lambda a: a.block_until_ready() if hasattr(a, "block_until_ready") else a, out
    )


def time_fn(
    fn: Callable[..., Any], *args: Any, repeats: int = 5, warmup: int = 1, **kwargs: Any
) -> tuple[float, float]:
    """Times ``fn(*args, **kwargs)``, waiting for every JAX array it returns.

    Returns:
      ``(median_s, first_s)``: the median of ``repeats`` timed calls after ``warmup`` untimed
      ones, and the duration of the very first call (compilation included for jitted code).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    start = time.perf_counter()
    _block(fn(*args, **kwargs))
    first = time.perf_counter() - start
    for _ in range(max(warmup - 1, 0)):
        _block(fn(*args, **kwargs))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _block(fn(*args, **kwargs))
        times.append(time.perf_counter() - start)
    return statistics.median(times), first


def time_interleaved(
    fns: dict[str, Callable[[], Any]], *, repeats: int = 5
) -> dict[str, tuple[float, float]]:
    """Times several implementations of one case in alternation.

    Each round calls every function once, in order, so that a slow spell of a shared machine
    falls on all of them alike and their ratio stays meaningful.

    Returns:
      ``{name: (median_s, first_s)}``: the median over ``repeats`` rounds after one untimed
      call each, and the duration of that first call (compilation included for jitted code).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    first = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        _block(fn())
        first[name] = time.perf_counter() - start
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            _block(fn())
            times[name].append(time.perf_counter() - start)
    return {name: (statistics.median(times[name]), first[name]) for name in fns}


def row(
    case: str,
    impl: str,
    median_s: float,
    compile_s: float | None = None,
    *,
    first_s: float | None = None,
    peak_gib: float | None = None,
) -> dict:
    """One timing row of a suite (``first_s`` and ``peak_gib`` only where measured)."""
    out = {
        "case": case,
        "impl": impl,
        "median_s": float(median_s),
        "compile_s": None if compile_s is None else float(compile_s),
    }
    if first_s is not None:
        out["first_s"] = float(first_s)
    if peak_gib is not None:
        out["peak_gib"] = float(peak_gib)
    return out


def matmul(n: int) -> tuple[Callable[[], Any], int]:
    """A jitted float32 ``(n, n) @ (n, n)`` as a zero-argument callable, and its multiply-adds
    ``n**3``: time it in the same rounds as a lens to get this machine's rate."""
    a = jax.random.normal(jax.random.key(0), (n, n), jnp.float32)
    dot = jax.jit(jnp.dot)
    return (lambda: dot(a, a)), n**3


def xla_macs(jitted: Callable[..., Any], *args: Any) -> float:
    """XLA's flop count of the compiled ``jitted(*args)`` / 2 (NaN where the backend gives
    none). A loop body is counted once, whatever its trip count."""
    try:
        return jitted.lower(*args).compile().cost_analysis()["flops"] / 2
    except Exception:  # cost analysis is backend dependent
        return float("nan")


def program_ops(jitted: Callable[..., Any], *args: Any) -> int:
    """Operations XLA runs for one call of ``jitted(*args)``: the instructions of the compiled
    entry computation (each fusion, dot or copy is one; parameters, constants, bitcasts and
    tuples are not). On a CPU each costs a launch of some microseconds however small it is."""
    text = jitted.lower(*args).compile().as_text()
    entry = text[text.index("\nENTRY") :]
    entry = entry[: entry.index("\n}")]
    skip = {"parameter", "constant", "bitcast", "tuple", "get-tuple-element"}
    return sum(1 for op in re.findall(r" = \S+ ([\w-]+)\(", entry) if op not in skip)


def ratio(value: float, goal: float) -> dict:
    """A speed ratio (bigger is better) and whether it meets the issue's goal."""
    return {"value": float(value), "goal": float(goal), "met": bool(value >= goal)}
