"""The analytic lens on any network: its first conv layer's kernels fitted by the analytic
families (Gabor, LoG, LoT, TGD), each slice keeping the best family whose relative error is
under a threshold and the plain kernel otherwise (Cui et al.'s mosaic)."""

from typing import NamedTuple

import numpy as np

import analytic_jax
import cnn_layers


class AnalyticFit(NamedTuple):
    kernels: np.ndarray  # (k, k, I, O) the trained first-layer kernels
    fitted: np.ndarray  # the chosen mosaic's kernels, same shape
    codes: tuple[str, ...]  # one family code per slice (slice order o * I + i), 'P' = plain
    rel_error: np.ndarray  # (S,) relative error of the chosen family (0 for plain)
    family_counts: dict  # code -> number of slices
    analytic_fraction: float  # slices taken by an analytic family
    median_rel_error: float
    mean_best_family_error: dict  # code -> mean over slices of that family's best error
    threshold: float
    params_analytic: int  # parameters of the mosaic
    params_plain: int  # parameters of the plain layer


def first_conv(layers) -> np.ndarray:
    """The kernel ``(k, k, I, O)`` of the network's first Conv (nested residual paths
    included)."""
    paths = cnn_layers.layer_paths(layers, (cnn_layers.Conv,))
    if not paths:
        raise ValueError("layers has no Conv layer to fit")
    layer = layers
    for step in paths[0]:
        layer = layer[step] if isinstance(step, int) else getattr(layer, step)
    return np.asarray(layer.w)


def compute(net, data, config, *, key) -> AnalyticFit:
    """Fits ``net``'s first conv layer; ``config``: ``fit_steps``, ``fit_threshold``."""
    del data  # the fit reads the weights only
    w = first_conv(net.layers)
    fit = analytic_jax.fit_kernels(key, w, steps=config.fit_steps, threshold=config.fit_threshold)
    codes = tuple(fit.spec.codes)
    counts = {c: codes.count(c) for c in sorted(set(codes))}
    return AnalyticFit(
        kernels=w,
        fitted=np.asarray(analytic_jax.mosaic_kernels(fit.params, fit.spec)),
        codes=codes,
        rel_error=np.asarray(fit.rel_error),
        family_counts=counts,
        analytic_fraction=1.0 - counts.get("P", 0) / len(codes),
        median_rel_error=float(np.median(np.asarray(fit.rel_error))),
        mean_best_family_error={
            c: float(np.mean(np.asarray(e))) for c, e in fit.family_errors.items()
        },
        threshold=float(config.fit_threshold),
        params_analytic=int(analytic_jax.param_count(fit.spec)),
        params_plain=int(w.size),
    )
