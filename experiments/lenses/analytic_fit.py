"""The ACL paper's fit of trained kernels (Figures 1 and 3): every slice of a ``(k, k, I, O)``
tensor fitted by every analytic family, the best family per slice, the chosen mosaic (the best
family under the threshold, else plain) and its parameter count; :func:`table_markdown` words
it as a table."""

import time
from typing import NamedTuple

import jax
import numpy as np

from analytic_jax import (
    family_kernels,
    fit_family,
    fit_kernels,
    get_family,
    kernel_slices,
    mosaic_kernels,
    param_count,
)


class FitTable(NamedTuple):
    target: np.ndarray  # (k, k, I, O)
    spec: object  # analytic_jax.MosaicSpec: the chosen mosaic
    fitted: np.ndarray  # (k, k, I, O) the mosaic's kernels
    slices: np.ndarray  # (S, k, k) target slices, S = O * I (slice o * I + i)
    fitted_slices: np.ndarray  # (S, k, k)
    family_errors: dict  # code -> (S,) each family's best relative error
    best: np.ndarray  # (S,) code of the family with the smallest error
    chosen_error: np.ndarray  # (S,) the chosen family's error (0 for plain)
    per_family: dict  # code -> numbers of the table
    chosen: dict  # the chosen mosaic's numbers
    shown: dict  # code -> (kernels (m, k, k), errors (m,)) refits of the first max_show slices
    fit_seconds: float


def _per_family(spec, errs, best, k) -> dict:
    out = {}
    for c, e in errs.items():
        p = get_family(c).n_params(k)
        out[c] = {
            "name": get_family(c).name,
            "mean_rel_error": float(e.mean()),
            "median_rel_error": float(np.median(e)),
            "min_rel_error": float(e.min()),
            "best_count": int((best == c).sum()),
            "chosen_count": int(spec.counts.get(c, 0)),
            "params_per_slice": p,
            "params_if_all_slices": p * spec.n_slices,
        }
    return out


def compute(target: np.ndarray, config, *, key) -> FitTable:
    """``config``: ``families``, ``threshold``, ``steps``, ``learning_rate``, ``n_angles``,
    ``n_scales``, ``max_show`` (slices refitted by every family for the figure)."""
    k = target.shape[0]
    families = tuple(config.families)
    fit_kw = dict(
        steps=config.steps,
        learning_rate=config.learning_rate,
        n_angles=config.n_angles,
        n_scales=config.n_scales,
    )
    start = time.perf_counter()
    fit = fit_kernels(key, target, families=families, threshold=config.threshold, **fit_kw)
    seconds = time.perf_counter() - start
    spec = fit.spec
    slices = np.asarray(kernel_slices(target))
    fitted = np.asarray(mosaic_kernels(fit.params, spec))
    fitted_slices = np.asarray(kernel_slices(fitted))
    errs = {c: np.asarray(fit.family_errors[c]) for c in families}
    best = np.asarray(families)[np.argmin(np.stack([errs[c] for c in families]), axis=0)]
    chosen_err = np.asarray(fit.rel_error)
    plain_params, chosen_params = k * k * spec.n_slices, param_count(spec)
    chosen = {
        "arrangement": spec.arrangement,
        "codes": list(spec.codes),
        "param_count": chosen_params,
        "plain_param_count": plain_params,
        "param_reduction": 1 - chosen_params / plain_params,
        "mean_rel_error": float(chosen_err.mean()),
        "max_rel_error": float(chosen_err.max()),
        "kernel_rel_error": float(np.linalg.norm(fitted_slices - slices) / np.linalg.norm(slices)),
    }
    m = min(config.max_show, spec.n_slices)
    shown = {}
    for j, c in enumerate(families):
        ff = fit_family(jax.random.fold_in(key, j), slices[:m], code=c, **fit_kw)
        shown[c] = (np.asarray(family_kernels(ff.params, c, k)), np.asarray(ff.rel_error))
    return FitTable(
        target, spec, fitted, slices, fitted_slices, errs, best, chosen_err,
        _per_family(spec, errs, best, k), chosen, shown, seconds,
    )  # fmt: skip


def table_markdown(r: FitTable, source: str, threshold: float) -> str:
    """The fit table: per family its errors, best and chosen counts and parameters."""
    k, _, n_in, n_out = r.target.shape
    rows = [
        f"| {c} | {f['name']} | {f['mean_rel_error']:.3f} | {f['median_rel_error']:.3f} "
        f"| {f['min_rel_error']:.3f} | {f['best_count']} | {f['chosen_count']} "
        f"| {f['params_per_slice']} | {f['params_per_slice'] * f['chosen_count']} |"
        for c, f in r.per_family.items()
    ]
    n_plain = int(r.spec.counts.get("P", 0))
    rows.append(f"| P | plain | 0 | 0 | 0 | - | {n_plain} | {k * k} | {k * k * n_plain} |")
    ch = r.chosen
    return (
        f"# Fit of {source}: {k}x{k}, I={n_in}, O={n_out}, threshold {threshold}\n\n"
        "relative error ||t - K|| / ||t|| of each family's best fit over the slices; best = "
        "slices where the family has the smallest error; chosen = slices it takes in the "
        "mosaic (error <= threshold)\n\n"
        "| family | name | mean err | median err | min err | best | chosen | params/slice "
        "| params chosen |\n|---|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nChosen mosaic `{ch['arrangement']}`: {ch['param_count']} parameters vs "
        f"{ch['plain_param_count']} plain ({100 * ch['param_reduction']:.1f}% fewer); whole "
        f"kernel relative error {ch['kernel_rel_error']:.4f}.\n"
    )
