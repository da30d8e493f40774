"""Figures of the analytic lens (``experiments.lenses.analytic``)."""

import numpy as np

from experiments.plots import figure
from experiments.plots.banks import show_bank

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


def plot_fit(result, title: str):
    """The trained first-layer kernels and their fitted mosaic (family code, error)."""
    out = result.kernels.shape[-1]
    inputs = result.kernels.shape[2]
    fig, axes = figure(2, out, figsize=(out * 0.9, 2.4), layout="constrained", squeeze=False)
    show_bank(axes[0], result.kernels, lambda k: f"conv1 {k}")
    show_bank(
        axes[1],
        result.fitted,
        lambda k: f"{result.codes[k * inputs]} {float(result.rel_error[k * inputs]):.2f}",
    )
    fig.suptitle(title)
    return fig


def plot_fit_slices(r, source: str):
    """Target, chosen fit and each family's fit of the first slices (``analytic_fit``), each
    framed in its family's colour; titles: relative errors."""
    families = list(r.shown)
    m = len(next(iter(r.shown.values()))[1])
    rows = 2 + len(families)
    fig, axes = figure(rows, m, figsize=(1.0 * m + 1, 1.05 * rows), squeeze=False)
    for j in range(m):
        v = np.abs(r.slices[j]).max() or 1.0
        panels = [
            ("target", r.slices[j], None),
            (f"chosen ({r.spec.codes[j]})", r.fitted_slices[j], None),
        ]
        panels += [(c, r.shown[c][0][j], r.shown[c][1][j]) for c in families]
        for row, (label, img, err) in enumerate(panels):
            ax = axes[row, j]
            ax.imshow(img, cmap="gray", vmin=-v, vmax=v)
            ax.set_xticks([])
            ax.set_yticks([])
            code = r.spec.codes[j] if row == 1 else (label if row >= 2 else None)
            if code:
                for spine in ax.spines.values():
                    spine.set_edgecolor(_color(code))
                    spine.set_linewidth(2 if row >= 2 else 3)
            if err is not None:
                ax.set_title(f"{err:.2f}", fontsize=6, pad=1)
            if j == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.suptitle(f"{source}: target vs fitted slices (titles: relative error)", fontsize=9)
    return fig


def plot_mosaic_grid(r):
    """The chosen family of every slice on the I x O grid (text: best analytic family and its
    error, for grids of at most 400 slices)."""
    import matplotlib.colors as mcolors
    import matplotlib.patches as mpatches

    _, _, n_in, n_out = r.target.shape
    codes_grid = np.asarray(r.spec.codes).reshape(n_out, n_in).T  # (I, O)
    order = list(FAMILY_COLORS)
    idx = np.vectorize(lambda c: order.index(c) if c in order else len(order))(codes_grid)
    cmap = mcolors.ListedColormap([_color(c) for c in order] + ["gray"])
    width = max(4.0, min(0.3 * n_out + 1, 20))
    fig, ax = figure(figsize=(width, max(1.5, min(0.3 * n_in + 1, 12))))
    ax.imshow(idx, cmap=cmap, vmin=-0.5, vmax=len(order) + 0.5, aspect="auto")
    if n_in * n_out <= 400:
        best_analytic = np.stack(list(r.family_errors.values())).min(axis=0)
        shown = np.where(np.asarray(r.spec.codes) == "P", best_analytic, r.chosen_error)
        err_grid = shown.reshape(n_out, n_in).T
        best_grid = r.best.reshape(n_out, n_in).T
        for i in range(n_in):
            for o in range(n_out):
                text = f"{best_grid[i, o]}\n{err_grid[i, o]:.2f}"
                ax.text(o, i, text, ha="center", va="center", fontsize=6)
    ax.set(
        xlabel="output channel o",
        ylabel="input channel i",
        title=f"chosen mosaic {r.spec.arrangement} (text: best analytic family, its error)",
    )
    handles = [mpatches.Patch(color=_color(c), label=c) for c in order]
    ax.legend(
        handles=handles,
        loc="upper center",
        bbox_to_anchor=(0.5, -0.35),
        ncol=len(order),
        fontsize=7,
    )
    return fig
