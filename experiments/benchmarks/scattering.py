"""Benchmark suite ``scattering``: our 2D scattering and filter bank vs Kymatio 0.3.0.

Kymatio (``pip install kymatio==0.3.0``) and torch (``pip install torch==2.13.0``) are optional:
they are imported lazily here, and a frontend that is missing becomes a row with a note.
Every row of a transform carries the first call, the steady state and the compile time (their
difference). The small cases run in this process, all frontends interleaved; the large cases,
the compile-versus-J series and the compile cases (J = 5 on 32x32 images, against jax.jit around
Kymatio's jax frontend) each run in a fresh process (``time_case``), so that compile caches and
peak memory (``ru_maxrss``) belong to that case alone.
Contract: see ``experiments/benchmarks/timing.py``.
"""

import functools
import json
import pathlib
import resource
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import scattering_jax
from experiments.benchmarks.timing import ratio, row, time_fn, time_interleaved

CASES = ((256, 32, 2), (64, 64, 3), (8, 256, 4))  # (batch, size, J), L = 8
LARGE_CASES = ((8, 256, 6), (2, 512, 7))  # each in a fresh process, with its peak memory
COMPILE_SERIES = (1, 256, (3, 4, 5, 6, 7))  # batch, size, J: compile time against J
COMPILE_CASES = ((16, 32, 5),)  # compile against jax.jit(kymatio), each in a fresh process
L = 8
FILTER_BANK_CASE = (256, 4)
SPEED_GOAL = 3.0  # over every Kymatio timing, jax.jit around its jax frontend included
SHIPPED_GOAL = 4.0  # over the fastest frontend as shipped (numpy, torch, jax)
FILTER_BANK_GOAL = 10.0
FIRST_CALL_GOAL_S = 10.0  # first call of scattering2d, compile included
COMPILE_VS_KYMATIO_GOAL = 0.5  # ours at most 2x jax.jit(kymatio)'s compile
COMPILE_GROWTH_GOAL = 1.5  # compile(J=7) / compile(J=3) at most this
PEAK_GOAL_GIB = 4.0
FRESH_PROCESS_TIMEOUT_S = 900


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


KYMATIO_FRONTENDS = ("kymatio-numpy", "kymatio-torch", "kymatio-jax", "kymatio-jax+jit")


def _kymatio_frontends(x: np.ndarray, J: int, names=KYMATIO_FRONTENDS) -> tuple[dict, dict]:
    """Kymatio's numpy, torch and jax frontends, and jax.jit around the jax one, as zero-argument
    callables on ``x`` (only those in ``names``: each builds its own filter bank); and a note
    for each that could not be set up."""
    try:
        from kymatio import Scattering2D
    except ImportError as err:
        return {}, {name: f"kymatio not installed: {err}" for name in names}
    shape = x.shape[-2:]
    fns, notes = {}, {}
    if "kymatio-numpy" in names:
        op = Scattering2D(J=J, shape=shape, L=L, frontend="numpy")
        fns["kymatio-numpy"] = functools.partial(op, x)
    if "kymatio-torch" in names:
        try:
            import torch

            op = Scattering2D(J=J, shape=shape, L=L, frontend="torch")
            fns["kymatio-torch"] = functools.partial(op, torch.from_numpy(x))
        except ImportError as err:
            notes["kymatio-torch"] = f"torch not installed: {err}"
    jax_names = [n for n in ("kymatio-jax", "kymatio-jax+jit") if n in names]
    if not jax_names:
        return fns, notes
    try:
        op = Scattering2D(J=J, shape=shape, L=L, frontend="jax")
    except ImportError as err:
        notes.update({n: f"kymatio jax frontend failed: {err}" for n in jax_names})
        return fns, notes
    xj = jnp.asarray(x)
    if "kymatio-jax" in names:
        fns["kymatio-jax"] = functools.partial(op, xj)
    if "kymatio-jax+jit" in names:
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


def _warm_up_jax() -> None:
    """Compiles and runs a small unrelated FFT program: JAX's and XLA's one-time start-up."""
    jax.block_until_ready(jax.jit(lambda a: 2 * jnp.abs(jnp.fft.fft2(a)))(jnp.ones((2, 8, 8))))


def time_case(
    impl: str, batch: int, size: int, J: int, repeats: int = 3, warm: bool = False
) -> dict:
    """First call, steady state and peak memory of one frontend on one case, in this process.

    Meant for a fresh process (:func:`_time_in_fresh_process`): the first call then includes
    everything a new session pays (compilation, for jitted code), and ``peak_gib`` is the
    process's peak resident memory, filter bank included. Returns ``{"note": ...}`` when the
    frontend is not installed. With ``warm``, JAX's one-time start-up is paid before the first
    call, so that the first call holds only this program's own compile (as in a session that
    has run something else already).
    """
    if warm:
        _warm_up_jax()
    x = _images(batch, size)
    if impl == "scattering_jax":
        filters = scattering_jax.filter_bank_2d((size, size), J=J, L=L)
        xj = jnp.asarray(x)
        fn = functools.partial(scattering_jax.scattering2d, xj, filters, J=J)
    else:
        fns, notes = _kymatio_frontends(x, J, names=(impl,))
        if impl not in fns:
            return {"note": notes.get(impl, f"{impl} unavailable")}
        fn = fns[impl]
    median, first = time_fn(fn, repeats=repeats)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
    return {"first_s": first, "median_s": median, "peak_gib": peak}


def _time_in_fresh_process(
    impl: str, batch: int, size: int, J: int, repeats: int, warm: bool = False
) -> dict:
    """:func:`time_case` in a new Python process (same interpreter and environment)."""
    code = (
        "import json, sys\n"
        "from experiments.benchmarks.scattering import time_case\n"
        "print(json.dumps(time_case(*json.loads(sys.argv[1]))))\n"
    )
    args = json.dumps([impl, batch, size, J, repeats, warm])
    root = pathlib.Path(__file__).resolve().parents[2]
    try:
        done = subprocess.run(
            [sys.executable, "-c", code, args],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=FRESH_PROCESS_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        return {"note": f"no result within {FRESH_PROCESS_TIMEOUT_S} s"}
    if done.returncode:
        return {"note": f"failed: {done.stderr.strip().splitlines()[-1:]}"}
    return json.loads(done.stdout.strip().splitlines()[-1])


def _transform_row(case: str, impl: str, median_s: float, first_s: float, peak=None) -> dict:
    """A transform's row: steady state, first call, and compile = first call - steady state."""
    return row(case, impl, median_s, first_s - median_s, first_s=first_s, peak_gib=peak)


def _fresh_rows(
    batch: int, size: int, J: int, impls, repeats: int, warm: bool = False
) -> tuple[list, dict]:
    """Rows for one case, each frontend in its own fresh process; and their results."""
    case = f"scattering2d ({batch},{size},{size}) J={J} L={L}"
    rows, results = [], {}
    for impl in impls:
        result = _time_in_fresh_process(impl, batch, size, J, repeats, warm)
        if "note" in result:
            rows.append(_unavailable(case, impl, result["note"]))
            continue
        results[impl] = result
        rows.append(
            _transform_row(
                case, impl, result["median_s"], result["first_s"], result.get("peak_gib")
            )
        )
    return rows, results


def _first_call_ratios(case: str, first_s: float, compile_s: float, kymatio_jit=None) -> dict:
    """The issue's first-call goals for one case (ratios: bigger is better)."""
    ratios = {
        f"first call goal {FIRST_CALL_GOAL_S:.0f} s / first call, {case}": ratio(
            FIRST_CALL_GOAL_S / first_s, 1.0
        )
    }
    if kymatio_jit is not None:
        ratios[f"compile of jax.jit(kymatio) / ours, {case}"] = ratio(
            kymatio_jit / max(compile_s, 1e-9), COMPILE_VS_KYMATIO_GOAL
        )
    return ratios


def _benchmark_cases(rows: list, ratios: dict, repeats: int) -> None:
    """The three steady-state cases, every implementation interleaved."""
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
        rows += [_transform_row(case, impl, *timed[impl]) for impl in fns]
        rows += [_unavailable(case, impl, note) for impl, note in notes.items()]
        median, first = timed["scattering_jax"]
        kymatio_jit = timed.get("kymatio-jax+jit")
        kymatio_jit = None if kymatio_jit is None else kymatio_jit[1] - kymatio_jit[0]
        ratios.update(_first_call_ratios(case, first, first - median, kymatio_jit))
        ours = timed.pop("scattering_jax")[0]
        if timed:  # the goal: every Kymatio timing, the jit-wrapped frontend included
            fastest = min(median for median, _ in timed.values())
            ratios[f"speedup vs fastest kymatio, {case}"] = ratio(fastest / ours, SPEED_GOAL)
        shipped = [
            timed[k][0] for k in ("kymatio-numpy", "kymatio-torch", "kymatio-jax") if k in timed
        ]
        if shipped:
            name = f"speedup vs fastest kymatio frontend as shipped (numpy, torch, jax), {case}"
            ratios[name] = ratio(min(shipped) / ours, SHIPPED_GOAL)
        if "kymatio-jax+jit" in timed:
            ratios[f"speedup vs jax.jit around kymatio's jax frontend, {case}"] = ratio(
                timed["kymatio-jax+jit"][0] / ours, SPEED_GOAL
            )


def _large_cases(rows: list, ratios: dict, repeats: int) -> None:
    """The large cases, each in a fresh process (first call, compile, peak memory)."""
    for batch, size, J in LARGE_CASES:
        case = f"scattering2d ({batch},{size},{size}) J={J} L={L}"
        impls = ("scattering_jax", "kymatio-numpy", "kymatio-jax+jit")
        case_rows, results = _fresh_rows(batch, size, J, impls, repeats=max(1, repeats // 2))
        rows += case_rows
        if "scattering_jax" not in results:
            continue
        ours = results["scattering_jax"]
        kymatio_jit = results.get("kymatio-jax+jit")
        if kymatio_jit is not None:
            kymatio_jit = kymatio_jit["first_s"] - kymatio_jit["median_s"]
        ratios.update(
            _first_call_ratios(
                case, ours["first_s"], ours["first_s"] - ours["median_s"], kymatio_jit
            )
        )
        ratios[f"peak memory goal {PEAK_GOAL_GIB:.0f} GiB / peak, {case}"] = ratio(
            PEAK_GOAL_GIB / ours["peak_gib"], 1.0
        )


def _compile_series(rows: list, ratios: dict) -> None:
    """Compile time against J at a fixed image size, each J in a fresh warm process."""
    batch, size, Js = COMPILE_SERIES
    compiles = {}
    for J in Js:
        # warm: the series compares compile times, without JAX's start-up in the first one
        case_rows, results = _fresh_rows(batch, size, J, ("scattering_jax",), 2, warm=True)
        rows += [dict(r, case=f"compile series {r['case']}") for r in case_rows]
        if "scattering_jax" in results:
            ours = results["scattering_jax"]
            compiles[J] = ours["first_s"] - ours["median_s"]
    if Js[0] in compiles and Js[-1] in compiles:
        growth = compiles[Js[-1]] / compiles[Js[0]]
        ratios[f"compile growth goal / growth, J={Js[0]} -> {Js[-1]} at {size}x{size}"] = ratio(
            COMPILE_GROWTH_GOAL / growth, 1.0
        )


def _compile_cases(rows: list, ratios: dict) -> None:
    """Compile time against jax.jit around Kymatio's jax frontend where J is large for the
    image, ours and theirs each in a fresh warm process."""
    impls = ("scattering_jax", "kymatio-jax+jit")
    for batch, size, J in COMPILE_CASES:
        case_rows, results = _fresh_rows(batch, size, J, impls, 2, warm=True)
        rows += [dict(r, case=f"compile {r['case']}") for r in case_rows]
        if all(impl in results for impl in impls):
            ours, theirs = (results[i]["first_s"] - results[i]["median_s"] for i in impls)
            case = f"scattering2d ({batch},{size},{size}) J={J} L={L}"
            ratios[f"compile of jax.jit(kymatio) / ours, {case}"] = ratio(
                theirs / max(ours, 1e-9), COMPILE_VS_KYMATIO_GOAL
            )


def _filter_bank(rows: list, ratios: dict, repeats: int) -> None:
    """Building the filter bank, ours against Kymatio's."""
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


def run(*, repeats: int = 5) -> dict:
    """Times every case; returns ``{"rows": [...], "ratios": {...}}``."""
    rows, ratios = [], {}
    _benchmark_cases(rows, ratios, repeats)
    _large_cases(rows, ratios, repeats)
    _compile_series(rows, ratios)
    _compile_cases(rows, ratios)
    _filter_bank(rows, ratios, repeats)
    return {"rows": rows, "ratios": ratios}


if __name__ == "__main__":
    result = run()
    for r in result["rows"]:
        median = "n/a" if r["median_s"] is None else f"{r['median_s']:.4f} s"
        print(
            f"{r['case']:52s} {r['impl']:18s} {median:>10}  first {r.get('first_s')}"
            f"  compile {r['compile_s']}  peak {r.get('peak_gib')}",
            r.get("note", ""),
        )
    for name, r in result["ratios"].items():
        print(f"{name:70s} {r['value']:7.2f} (goal {r['goal']}) met={r['met']}")
