"""Benchmark suite ``scattering``: our 2D scattering and filter bank vs Kymatio 0.3.0.

Kymatio (``pip install kymatio==0.3.0``) and torch (``pip install torch==2.13.0``) are optional:
they are imported lazily here, and a frontend that is missing becomes a row with a note.
Contract: see ``experiments/benchmarks/timing.py``.
"""

import functools
import time

import jax
import jax.numpy as jnp
import numpy as np

import scattering_jax
from experiments.benchmarks.timing import ratio, row, time_fn, time_interleaved

CASES = ((256, 32, 2), (64, 64, 3), (8, 256, 4))  # (batch, size, J), L = 8
L = 8
FILTER_BANK_CASE = (256, 4)
SPEED_GOAL = 3.0
FILTER_BANK_GOAL = 10.0


def _images(batch: int, size: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    grid = np.linspace(0.0, 1.0, size, dtype=np.float32)
    smooth = np.sin(6 * grid)[:, None] * np.cos(4 * grid)[None, :]
    return (smooth + 0.3 * rng.standard_normal((batch, size, size))).astype(np.float32)


def _unavailable(case: str, impl: str, note: str) -> dict:
    """A row for a frontend that could not run: no timing, and the reason."""
    out = row(case, impl, 0.0)
    out["median_s"] = None
    out["note"] = note
    return out


def _kymatio_frontends(x: np.ndarray, J: int) -> tuple[dict, dict]:
    """Kymatio's numpy, torch and jax frontends, and jax.jit around the jax one, as zero-argument
    callables on ``x``; and a note for each frontend that could not be set up."""
    names = ("kymatio-numpy", "kymatio-torch", "kymatio-jax", "kymatio-jax+jit")
    try:
        from kymatio import Scattering2D
    except ImportError as err:
        return {}, {name: f"kymatio not installed: {err}" for name in names}
    shape = x.shape[-2:]
    fns, notes = {}, {}
    op = Scattering2D(J=J, shape=shape, L=L, frontend="numpy")
    fns["kymatio-numpy"] = functools.partial(op, x)
    try:
        import torch

        op = Scattering2D(J=J, shape=shape, L=L, frontend="torch")
        fns["kymatio-torch"] = functools.partial(op, torch.from_numpy(x))
    except ImportError as err:
        notes["kymatio-torch"] = f"torch not installed: {err}"
    try:
        op = Scattering2D(J=J, shape=shape, L=L, frontend="jax")
    except ImportError as err:
        notes["kymatio-jax"] = notes["kymatio-jax+jit"] = f"kymatio jax frontend failed: {err}"
        return fns, notes
    xj = jnp.asarray(x)
    fns["kymatio-jax"] = functools.partial(op, xj)
    jitted = jax.jit(op.scattering)
    try:
        jitted.lower(xj)  # tracing fails here if the frontend cannot be jitted
        fns["kymatio-jax+jit"] = functools.partial(jitted, xj)
    except Exception as err:  # Kymatio's frontend may not be traceable
        notes["kymatio-jax+jit"] = f"jax.jit failed: {type(err).__name__}: {str(err)[:120]}"
    return fns, notes


def _kymatio_filter_bank_seconds(size: int, J: int) -> float | None:
    try:
        from kymatio.scattering2d.filter_bank import filter_bank
        from kymatio.scattering2d.utils import compute_padding
    except ImportError:
        return None
    padded = compute_padding(size, size, J)
    start = time.perf_counter()
    filter_bank(padded[0], padded[1], J, L)
    return time.perf_counter() - start


def run(*, repeats: int = 5) -> dict:
    """Times every case; returns ``{"rows": [...], "ratios": {...}}``."""
    rows, ratios = [], {}
    for batch, size, J in CASES:
        case = f"scattering2d ({batch},{size},{size}) J={J} L={L}"
        x = _images(batch, size)
        filters = scattering_jax.filter_bank_2d((size, size), J=J, L=L)
        xj = jnp.asarray(x)
        fns = {
            "scattering_jax": lambda f=filters, J=J, a=xj: scattering_jax.scattering2d(a, f, J=J)
        }
        kymatio, notes = _kymatio_frontends(x, J)
        fns.update(kymatio)
        # all implementations of a case in alternating rounds: a slow spell of the machine
        # falls on all of them, and the ratios stay comparable
        timed = time_interleaved(fns, repeats=repeats)
        rows += [row(case, impl, *timed[impl]) for impl in fns]
        rows += [_unavailable(case, impl, note) for impl, note in notes.items()]
        ours = timed.pop("scattering_jax")[0]
        if timed:  # the goal: every Kymatio timing, the jit-wrapped frontend included
            fastest = min(median for median, _ in timed.values())
            ratios[f"speedup vs fastest kymatio, {case}"] = ratio(fastest / ours, SPEED_GOAL)
        shipped = [
            timed[k][0] for k in ("kymatio-numpy", "kymatio-torch", "kymatio-jax") if k in timed
        ]
        if shipped:
            name = f"speedup vs fastest kymatio frontend as shipped (numpy, torch, jax), {case}"
            ratios[name] = ratio(min(shipped) / ours, SPEED_GOAL)
        if "kymatio-jax+jit" in timed:
            ratios[f"speedup vs jax.jit around kymatio's jax frontend, {case}"] = ratio(
                timed["kymatio-jax+jit"][0] / ours, SPEED_GOAL
            )

    size, J = FILTER_BANK_CASE
    case = f"filter bank {size}x{size} J={J} L={L}"
    build = lambda: jax.block_until_ready(scattering_jax.filter_bank_2d((size, size), J=J, L=L))
    median, first = time_fn(build, repeats=repeats)
    rows.append(row(case, "scattering_jax", median, None))
    kym_seconds = _kymatio_filter_bank_seconds(size, J)
    if kym_seconds is None:
        rows.append(_unavailable(case, "kymatio", "kymatio not installed"))
    else:
        # one build: Kymatio's takes several seconds
        rows.append(row(case, "kymatio", kym_seconds, None))
        ratios[f"speedup vs kymatio, {case}"] = ratio(kym_seconds / median, FILTER_BANK_GOAL)
    return {"rows": rows, "ratios": ratios}


if __name__ == "__main__":
    result = run()
    for r in result["rows"]:
        median = "n/a" if r["median_s"] is None else f"{r['median_s']:.4f} s"
        print(
            f"{r['case']:45s} {r['impl']:18s} {median:>10}  first {r['compile_s']}",
            r.get("note", ""),
        )
    for name, r in result["ratios"].items():
        print(f"{name:70s} {r['value']:7.2f} (goal {r['goal']}) met={r['met']}")
