"""Fits the analytic families to trained first-layer kernels (the ACL paper's Figures 1 and 3).

    python -m experiments.acl_fit                                   # conv1 of the mnist_5k LeNet
    python -m experiments.acl_fit --config.kernels_npy=alexnet_conv1.npy   # any (k, k, I, O)
    python -m experiments.acl_fit --config.dataset=cifar10 --config.data_dir=D

The target is, in this order of precedence: the HWIO tensor in ``kernels_npy``; on
``cifar10`` the first layer of a small plain four-layer net (:class:`anann.FourLayerNet`,
trained by :func:`train.train` in ``<workdir>/cifar_net``); otherwise conv1 of the LeNet of
:func:`train_lenet.run` (trained or resumed in ``lenet_workdir``, default ``<workdir>/lenet``).
Every slice is fitted by every family with :func:`analytic_jax.fit_kernels`, which keeps the best
family under ``threshold`` (else plain). Writes ``summary.json`` and ``fit_table.md`` (relative
error and parameter count per family), ``figures/fit_slices.png`` (target, chosen fit and each
family's fit for the first ``max_show`` slices), ``figures/mosaic.png`` (the chosen family per
slice, I x O, coloured by family) and ``arrays/fit.npz``.
"""

import time

import jax
import numpy as np
from flax import nnx

from analytic_jax import (
    family_kernels,
    fit_family,
    fit_kernels,
    get_family,
    kernel_slices,
    mosaic_kernels,
    param_count,
)
from experiments import _app, train_lenet
from experiments.core import nets, train
from experiments.models import anann
from experiments.plots import figure
from experiments.workdir import Workdir

# The paper's Figure 4a frame colours.
FAMILY_COLORS = {
    "G": "red",
    "Lg": "purple",
    "Lt": "hotpink",
    "Tf": "blue",
    "Ts": "green",
    "P": "orange",
}


def _color(code: str) -> str:
    return FAMILY_COLORS.get(code, "gray")


def plot_mosaic(rows, codes, row_titles, title, *, ncols: int = 10):
    """Kernels per slice in a grid, each framed in its family's colour (Figure 4a).

    Args:
      rows: list of ``(S, k, k)`` slice stacks shown one above the other (e.g. init, learned).
      codes: ``S`` family codes.
      row_titles: one title per stack.
      title: figure title.
      ncols: slices per grid row.
    """
    s = len(codes)
    ncols = min(ncols, s)
    nr = -(-s // ncols)
    fig, axes = figure(
        nr * len(rows), ncols, figsize=(1.1 * ncols, 1.15 * nr * len(rows) + 0.6), squeeze=False
    )
    for b, slices in enumerate(rows):
        for j in range(nr * ncols):
            ax = axes[b * nr + j // ncols, j % ncols]
            ax.set_xticks([])
            ax.set_yticks([])
            if j >= s:
                ax.axis("off")
                continue
            v = np.abs(slices[j]).max() or 1.0
            ax.imshow(slices[j], cmap="gray", vmin=-v, vmax=v)
            for spine in ax.spines.values():
                spine.set_edgecolor(_color(codes[j]))
                spine.set_linewidth(3)
            if j % ncols == 0:
                ax.set_ylabel(row_titles[b], fontsize=7)
    import matplotlib.patches as mpatches

    handles = [mpatches.Patch(color=_color(c), label=c) for c in dict.fromkeys(codes)]
    fig.legend(handles=handles, loc="upper right", ncol=len(handles), fontsize=8)
    fig.suptitle(title, fontsize=9, x=0.3)
    return fig


def _small_cifar_net(config, wd: Workdir):
    """Trains (or resumes) the plain four-layer net on CIFAR-10; returns its conv1 kernel."""
    if not config.data_dir:
        raise ValueError(
            "dataset='cifar10' needs --config.data_dir pointing at the CIFAR-10 python batches "
            "(cifar-10-batches-py/data_batch_1..5, test_batch); no data_dir was given"
        )
    net_config = config.lenet.copy_and_resolve_references()
    with net_config.unlocked():
        net_config.num_epochs = train_lenet.num_epochs(net_config)
    train_set, test_set, _ = nets.load_data(net_config)
    model = anann.build(
        lambda: anann.FourLayerNet(
            train_set.images.shape[-1],
            convs=tuple(tuple(c) for c in config.cifar_convs),
            init_scale=net_config.init_scale,
            rngs=nnx.Rngs(net_config.seed),
        )
    )
    result = train.train(
        jax.random.key(net_config.seed),
        model,
        train_set,
        test_set,
        net_config,
        Workdir(wd.path / "cifar_net"),
    )
    kernel = np.asarray(nnx.to_pure_dict(result.params)["conv1"]["kernel"])
    return kernel, {"cifar_net_test_accuracy": result.test["accuracy"]}


def load_target(config, wd: Workdir):
    """The ``(k, k, I, O)`` kernel tensor to fit and a description of where it came from."""
    if config.kernels_npy:
        target = np.load(config.kernels_npy)
        if target.ndim != 4 or target.shape[0] != target.shape[1]:
            raise ValueError(
                f"kernels_npy must hold a (k, k, I, O) HWIO tensor, got shape {target.shape} "
                f"in {config.kernels_npy!r}"
            )
        return target.astype(np.float32), {"source": f"npy:{config.kernels_npy}"}
    if config.dataset == "cifar10":
        kernel, info = _small_cifar_net(config, wd)
        return kernel, {"source": "cifar10 four-layer net conv1", **info}
    lenet = train_lenet.run(config.lenet, config.lenet_workdir or str(wd.path / "lenet"))
    kernel = np.asarray(nnx.to_pure_dict(lenet.params)["conv1"]["kernel"])
    return kernel, {
        "source": f"LeNet conv1 ({config.lenet.dataset})",
        "lenet_test_accuracy": lenet.summary["test_accuracy"],
    }


def run(config, workdir: str) -> dict:
    """Fits the families to the target kernels and writes the workdir; returns the summary."""
    t0 = time.perf_counter()
    wd = Workdir(workdir)
    wd.write_config(config)
    target, info = load_target(config, wd)
    k, _, n_in, n_out = target.shape
    families = tuple(config.families)
    key = jax.random.key(config.seed)
    fit_kw = dict(
        steps=config.steps,
        learning_rate=config.learning_rate,
        n_angles=config.n_angles,
        n_scales=config.n_scales,
    )
    start = time.perf_counter()
    fit = fit_kernels(key, target, families=families, threshold=config.threshold, **fit_kw)
    fit_seconds = time.perf_counter() - start
    spec = fit.spec
    slices = np.asarray(kernel_slices(target))
    fitted = np.asarray(kernel_slices(mosaic_kernels(fit.params, spec)))
    errs = {c: np.asarray(e) for c, e in fit.family_errors.items()}
    stacked = np.stack([errs[c] for c in families])
    best = np.asarray(families)[np.argmin(stacked, axis=0)]
    norms = np.sqrt((slices**2).sum(axis=(1, 2)))
    chosen_err = np.asarray(fit.rel_error)

    per_family = {}
    rows = []
    for c in families:
        p = get_family(c).n_params(k)
        chosen = int(spec.counts.get(c, 0))
        per_family[c] = {
            "name": get_family(c).name,
            "mean_rel_error": float(errs[c].mean()),
            "median_rel_error": float(np.median(errs[c])),
            "min_rel_error": float(errs[c].min()),
            "best_count": int((best == c).sum()),
            "chosen_count": chosen,
            "params_per_slice": p,
            "params_if_all_slices": p * spec.n_slices,
        }
        rows.append(
            f"| {c} | {get_family(c).name} | {errs[c].mean():.3f} | {np.median(errs[c]):.3f} "
            f"| {errs[c].min():.3f} | {(best == c).sum()} | {chosen} | {p} | {p * chosen} |"
        )
    n_plain = int(spec.counts.get("P", 0))
    plain_params = k * k * spec.n_slices
    chosen_params = param_count(spec)
    rows.append(f"| P | plain | 0 | 0 | 0 | - | {n_plain} | {k * k} | {k * k * n_plain} |")
    chosen_summary = {
        "arrangement": spec.arrangement,
        "codes": list(spec.codes),
        "param_count": chosen_params,
        "plain_param_count": plain_params,
        "param_reduction": 1 - chosen_params / plain_params,
        "mean_rel_error": float(chosen_err.mean()),
        "max_rel_error": float(chosen_err.max()),
        "kernel_rel_error": float(np.linalg.norm(fitted - slices) / np.linalg.norm(slices)),
    }
    table = (
        f"# Fit of {info['source']}: {k}x{k}, I={n_in}, O={n_out}, threshold "
        f"{config.threshold}\n\n"
        "relative error ||t - K|| / ||t|| of each family's best fit over the slices; best = "
        "slices where the family has the smallest error; chosen = slices it takes in the "
        "mosaic (error <= threshold)\n\n"
        "| family | name | mean err | median err | min err | best | chosen | params/slice "
        "| params chosen |\n|---|---|---|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nChosen mosaic `{spec.arrangement}`: {chosen_params} parameters vs "
        f"{plain_params} plain ({100 * chosen_summary['param_reduction']:.1f}% fewer); whole "
        f"kernel relative error {chosen_summary['kernel_rel_error']:.4f}.\n"
    )
    wd.write_text("fit_table.md", table)

    # Figures: target, chosen fit and each family's fit for the first max_show slices.
    m = min(config.max_show, spec.n_slices)
    fam_fits = {}
    for j, c in enumerate(families):
        ff = fit_family(jax.random.fold_in(key, j), slices[:m], code=c, **fit_kw)
        fam_fits[c] = (np.asarray(family_kernels(ff.params, c, k)), np.asarray(ff.rel_error))
    fig, axes = figure(2 + len(families), m, figsize=(1.0 * m + 1, 1.05 * (2 + len(families))),
                       squeeze=False)  # fmt: skip
    for j in range(m):
        v = np.abs(slices[j]).max() or 1.0
        panels = [("target", slices[j], None), (f"chosen ({spec.codes[j]})", fitted[j], None)]
        panels += [(c, fam_fits[c][0][j], fam_fits[c][1][j]) for c in families]
        for r, (label, img, err) in enumerate(panels):
            ax = axes[r, j]
            ax.imshow(img, cmap="gray", vmin=-v, vmax=v)
            ax.set_xticks([])
            ax.set_yticks([])
            code = spec.codes[j] if r == 1 else (label if r >= 2 else None)
            if code:
                for spine in ax.spines.values():
                    spine.set_edgecolor(_color(code))
                    spine.set_linewidth(2 if r >= 2 else 3)
            if err is not None:
                ax.set_title(f"{err:.2f}", fontsize=6, pad=1)
            if j == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.suptitle(f"{info['source']}: target vs fitted slices (titles: relative error)", fontsize=9)
    wd.save_figure("fit_slices", fig)

    codes_grid = np.asarray(spec.codes).reshape(n_out, n_in).T  # (I, O)
    order = list(FAMILY_COLORS)
    idx = np.vectorize(lambda c: order.index(c) if c in order else len(order))(codes_grid)
    import matplotlib.colors as mcolors
    import matplotlib.patches as mpatches

    cmap = mcolors.ListedColormap([_color(c) for c in order] + ["gray"])
    width = max(4.0, min(0.3 * n_out + 1, 20))
    fig, ax = figure(figsize=(width, max(1.5, min(0.3 * n_in + 1, 12))))
    ax.imshow(idx, cmap=cmap, vmin=-0.5, vmax=len(order) + 0.5, aspect="auto")
    if n_in * n_out <= 400:  # text: the chosen family's error, or the best analytic one
        shown = np.where(np.asarray(spec.codes) == "P", stacked.min(axis=0), chosen_err)
        err_grid = shown.reshape(n_out, n_in).T
        best_grid = best.reshape(n_out, n_in).T
        for i in range(n_in):
            for o in range(n_out):
                ax.text(o, i, f"{best_grid[i, o]}\n{err_grid[i, o]:.2f}", ha="center",
                        va="center", fontsize=6)  # fmt: skip
    ax.set(
        xlabel="output channel o",
        ylabel="input channel i",
        title=f"chosen mosaic {spec.arrangement} (text: best analytic family, its error)",
    )
    ax.legend(
        handles=[mpatches.Patch(color=_color(c), label=c) for c in order],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.35),
        ncol=len(order),
        fontsize=7,
    )
    wd.save_figure("mosaic", fig)
    wd.save_arrays(
        "fit",
        target=target,
        fitted=np.asarray(mosaic_kernels(fit.params, spec)),
        chosen_rel_error=chosen_err,
        slice_norm=norms,
        **{f"rel_error_{c}": errs[c] for c in families},
    )
    summary = {
        **info,
        "kernel_shape": list(target.shape),
        "threshold": config.threshold,
        "families": per_family,
        "chosen": chosen_summary,
        "family_errors": {c: errs[c].tolist() for c in families},
        "chosen_rel_error": chosen_err.tolist(),
        "fit_seconds": fit_seconds,
        "wall_seconds": time.perf_counter() - t0,
    }
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "acl_fit")
