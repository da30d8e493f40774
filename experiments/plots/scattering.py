"""Figures of the scattering lens (``experiments.lenses.scattering``)."""

import numpy as np

from experiments.plots import figure

_XLABELS = {"deformation": r"$\|\nabla\tau\|_\infty$", "translation": "translation (pixels)"}


def plot_stability(result, net_name: str):
    """Top: relative to ``||x||`` (the theorem's normalisation; pixels and scattering). Bottom:
    relative to each representation's own norm (the network's features too). Right: a digit,
    deformed, shifted."""
    fig, axes = figure(2, 3, figsize=(14, 7.5), layout="constrained")
    for col, kind in enumerate(("deformation", "translation")):
        sizes = result.sizes[kind]
        for name, c in result.curves[kind].items():
            label = net_name if name == "network" else name
            slope = result.slopes[name][kind]
            axes[1, col].plot(sizes, c["relative_to_phi"], "o-", label=f"{label} ({slope:.2f})")
            if name != "network":  # the network's features have their own scale
                slope = result.slopes[name][f"{kind}_relative_to_x"]
                axes[0, col].plot(sizes, c["relative_to_x"], "o-", label=f"{label} ({slope:.3f})")
        axes[0, col].set(
            xlabel=_XLABELS[kind],
            ylabel=r"$\|\Phi(x_\tau)-\Phi(x)\| / \|x\|$",
            title=f"{kind}: the theorem's normalisation (slope)",
        )
        axes[1, col].set(
            xlabel=_XLABELS[kind],
            ylabel=r"$\|\Phi(x_\tau)-\Phi(x)\| / \|\Phi(x)\|$",
            title=f"{kind}: relative to each representation (slope)",
        )
        axes[0, col].legend()
        axes[1, col].legend()
    axes[0, 2].imshow(result.example, cmap="gray")
    axes[0, 2].set(title="x | deformed (largest) | shifted (largest)")
    axes[0, 2].axis("off")
    axes[1, 2].axis("off")
    return fig


def plot_classifier_loss(result):
    """The linear classifier's training loss per L-BFGS step."""
    fig, ax = figure(figsize=(5, 3.2))
    ax.plot(np.arange(1, len(result.history) + 1), result.history)
    ax.set(
        xlabel="L-BFGS step",
        ylabel="training loss (CE + L2)",
        yscale="log",
        title=f"scattering J={result.J} L={result.L}: test error {result.test_error:.2%}",
    )
    return fig
