"""A row of filters or kernels, one panel per unit, on a symmetric colour scale."""

import numpy as np


def show_bank(ax_row, bank: np.ndarray, title_fn) -> None:
    """``bank`` ``(H, W, C, O)``: unit ``k`` is ``bank[..., 0, k]`` (the first input channel)."""
    for k, ax in enumerate(ax_row):
        img = np.asarray(bank[..., 0, k])
        lim = np.abs(img).max() or 1.0
        ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(title_fn(k), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
