"""Benchmark suite ``scattering``: our 2D scattering and filter bank vs Kymatio 0.3.0.

Kymatio (``pip install kymatio==0.3.0``) and torch (``pip install torch==2.13.0``) are optional:
they are imported lazily here, and a frontend that is missing becomes a row with a note.
Contract: see ``experiments/_timing.py``.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

import scattering_jax
from experiments._timing import ratio, row, time_fn

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


def _kymatio_rows(case: str, x: np.ndarray, J: int, repeats: int) -> list[dict]:
    """Times Kymatio's numpy, torch and jax frontends (and jax.jit around the jax one)."""
    try:
        from kymatio import Scattering2D
    except ImportError as err:
        return [
            _unavailable(case, f"kymatio-{f}", f"kymatio not installed: {err}")
            for f in ("numpy", "torch", "jax", "jax+jit")
        ]
    shape = x.shape[-2:]
    rows = []
    ops = Scattering2D(J=J, shape=shape, L=L, frontend="numpy")
    median, first = time_fn(ops, x, repeats=repeats)
    rows.append(row(case, "kymatio-numpy", median, first))
    try:
        import torch

        op = Scattering2D(J=J, shape=shape, L=L, frontend="torch")
        xt = torch.from_numpy(x)
        median, first = time_fn(op, xt, repeats=repeats)
        rows.append(row(case, "kymatio-torch", median, first))
    except ImportError as err:
        rows.append(_unavailable(case, "kymatio-torch", f"torch not installed: {err}"))
    try:
        op = Scattering2D(J=J, shape=shape, L=L, frontend="jax")
        xj = jnp.asarray(x)
        median, first = time_fn(op, xj, repeats=repeats)
        rows.append(row(case, "kymatio-jax", median, first))
        try:
            jitted = jax.jit(op.scattering)
            median, first = time_fn(jitted, xj, repeats=repeats)
            rows.append(row(case, "kymatio-jax+jit", median, first))
        except Exception as err:  # Kymatio's frontend may not be traceable
            rows.append(
                _unavailable(
                    case,
                    "kymatio-jax+jit",
                    f"jax.jit failed: {type(err).__name__}: {str(err)[:120]}",
                )
            )
    except ImportError as err:
        rows.append(_unavailable(case, "kymatio-jax", f"kymatio jax frontend failed: {err}"))
    return rows


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
        ours = lambda a, f=filters, J=J: scattering_jax.scattering2d(a, f, J=J)  # noqa: B023
        median, first = time_fn(ours, xj, repeats=repeats)
        rows.append(row(case, "scattering_jax", median, first))
        kym = _kymatio_rows(case, x, J, repeats)
        rows.extend(kym)
        times = [r["median_s"] for r in kym if r["median_s"] is not None]
        if times:
            ratios[f"speedup vs fastest kymatio, {case}"] = ratio(min(times) / median, SPEED_GOAL)

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
