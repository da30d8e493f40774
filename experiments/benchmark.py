"""Speed of cnn-lens against the reference implementations, measured in the same run.

    python -m experiments.benchmark                   # every suite
    python -m experiments.benchmark --suite=scattering,decoding

Each suite lives in ``experiments/benchmarks/<name>.py`` and returns timing rows and speed
ratios (see ``experiments/benchmarks/timing.py``). The run prints a table and writes
``benchmark.json`` (and ``summary.json``) to the workdir. References that are not installed
(Kymatio, torch) are reported as unavailable rows, never as failures.
"""

import importlib
import time

from absl import app, flags, logging

from experiments import workdir as workdir_lib

SUITES = ("scattering", "volterra", "decoding", "analytic")


def _available_suites() -> list[str]:
    found = []
    for name in SUITES:
        if importlib.util.find_spec(f"experiments.benchmarks.{name}") is not None:
            found.append(name)
    return found


def format_table(results: dict) -> str:
    """A plain-text table of every suite's rows and ratios."""
    lines = [
        f"{'suite':<11} {'case':<34} {'impl':<26} {'median ms':>10} {'first ms':>10} "
        f"{'compile ms':>10} {'peak GiB':>8}"
    ]
    for suite, result in results.items():
        if "error" in result:
            lines.append(f"{suite:<11} FAILED: {result['error']}")
            continue
        for r in result["rows"]:
            median = "n/a" if r["median_s"] is None else f"{1e3 * r['median_s']:.2f}"
            # rows with first_s carry the compile time (first call minus steady state) apart;
            # in the others, compile_s is the first call
            first = r.get("first_s", r.get("compile_s"))
            first = "" if first is None else f"{1e3 * first:.1f}"
            compile_ms = "" if "first_s" not in r else f"{1e3 * r['compile_s']:.1f}"
            peak = "" if r.get("peak_gib") is None else f"{r['peak_gib']:.2f}"
            lines.append(
                f"{suite:<11} {r['case']:<34} {r['impl']:<26} {median:>10} {first:>10} "
                f"{compile_ms:>10} {peak:>8}"
            )
            if r.get("note"):
                lines.append(f"{'':<11} note: {r['note']}")
    lines.append("")
    lines.append(f"{'suite':<11} {'ratio':<58} {'value':>8} {'goal':>7}  met")
    for suite, result in results.items():
        for name, r in result.get("ratios", {}).items():
            lines.append(
                f"{suite:<11} {name:<58} {r['value']:>8.2f} {r['goal']:>7.2f}  "
                f"{'yes' if r['met'] else 'NO'}"
            )
    notes = [(suite, result.get("notes")) for suite, result in results.items()]
    if any(n for _, n in notes):
        lines.append("")
        for suite, n in notes:
            items = n.items() if isinstance(n, dict) else ((None, v) for v in n or ())
            for key, value in items:
                lines.append(f"{suite:<11} {value if key is None else f'{key}: {value}'}")
    return "\n".join(lines)


def run(suites: list[str] | None = None, workdir: str = "runs/benchmark", repeats: int = 5) -> dict:
    """Runs the named suites (default: all) in this process and writes ``benchmark.json``."""
    names = _available_suites() if not suites else list(suites)
    unknown = [n for n in names if n not in SUITES]
    if unknown:
        raise ValueError(f"unknown suite(s) {unknown}; known: {SUITES}")
    results = {}
    for name in names:
        logging.info("benchmark suite %s", name)
        start = time.perf_counter()
        module = importlib.import_module(f"experiments.benchmarks.{name}")
        results[name] = module.run(repeats=repeats)
        results[name]["wall_seconds"] = time.perf_counter() - start
    wd = workdir_lib.Workdir(workdir)
    wd.write_json("benchmark.json", {"suites": results, "environment": workdir_lib.environment()})
    wd.write_summary(
        {f"{s}/{k}": v["value"] for s, r in results.items() for k, v in r.get("ratios", {}).items()}
    )
    return results


_SUITE = flags.DEFINE_list("suite", [], f"Suites to run (default: all of {SUITES}).")
_WORKDIR = flags.DEFINE_string("workdir", "runs/benchmark", "Where benchmark.json goes.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed calls per measurement (median reported).")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    results = run(_SUITE.value, _WORKDIR.value, _REPEATS.value)
    print(format_table(results))
    return None


if __name__ == "__main__":
    app.run(main)
