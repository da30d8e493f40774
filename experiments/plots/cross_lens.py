"""Figures of the cross-lens view (``experiments.lenses.cross_lens``)."""

from experiments.plots import figure
from experiments.plots.banks import show_bank


def plot_cross_lens(result, title: str):
    """Decoded output filters and order-1 kernels, the network's and the smooth twin's."""
    out = result.decoded.shape[-1]
    fig, axes = figure(4, out, figsize=(1.3 * out, 5.6), layout="constrained", squeeze=False)
    show_bank(axes[0], result.decoded, lambda k: f"decoded {k}")
    show_bank(axes[1], result.h1, lambda k: f"h1 cos {result.cosine[k]:.2f}")
    show_bank(axes[2], result.twin_decoded, lambda k: f"twin decoded {k}")
    show_bank(axes[3], result.twin_h1, lambda k: f"twin h1 cos {result.twin_cosine[k]:.2f}")
    fig.suptitle(title)
    return fig
