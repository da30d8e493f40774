"""The figures of ``decode_lenet``: Figure 1 (decoded L7 filters against classes), Figure 4
(decoded filters of every conv layer) and the self-consistency failures, as matplotlib figures
for the workdir to save."""

import numpy as np

from experiments.plots import figure


def paper_name(layer: int) -> str:
    """The paper's 1-based layer name of a 0-based index into the layer list: 2 -> 'L3'."""
    return f"L{layer + 1}"


def mosaic(tiles: np.ndarray, cols: int, *, symmetric: bool = True, pad: int = 1) -> np.ndarray:
    """Tiles ``(K, h, w[, 1])`` into one 2-D array, each scaled by itself; NaN between tiles.

    ``symmetric``: each tile divided by its largest magnitude (values in [-1, 1], 0 stays 0);
    otherwise min-max scaled to [0, 1].
    """
    t = np.asarray(tiles, np.float64)
    t = t[..., 0] if t.ndim == 4 else t
    k, h, w = t.shape
    if symmetric:
        t = t / np.maximum(np.abs(t).max(axis=(1, 2), keepdims=True), 1e-30)
    else:
        lo, hi = t.min(axis=(1, 2), keepdims=True), t.max(axis=(1, 2), keepdims=True)
        t = (t - lo) / np.where(hi > lo, hi - lo, 1.0)
    rows = -(-k // cols)
    out = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan)
    for i in range(k):
        r, c = divmod(i, cols)
        out[r * (h + pad) : r * (h + pad) + h, c * (w + pad) : c * (w + pad) + w] = t[i]
    return out


def _imshow(ax, img: np.ndarray, symmetric: bool = True, aspect: str = "equal") -> None:
    import matplotlib

    cmap = matplotlib.colormaps["gray"].with_extremes(bad="lightsteelblue")
    lo = -1.0 if symmetric else 0.0
    ax.imshow(img, cmap=cmap, vmin=lo, vmax=1.0, interpolation="nearest", aspect=aspect)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_figure1(decoded7, matrix, argmax, images_pixels, method: str):
    """Figure 1: decoded L7 filters (rows), argmax images of the diagonal (top), the matrix."""
    k, c = matrix.shape
    fig, axes = figure(
        2,
        2,
        figsize=(8, 8),
        gridspec_kw={"width_ratios": [1, c], "height_ratios": [1, k], "wspace": 0.02},
    )
    axes[0, 0].axis("off")
    top = np.stack(
        [
            images_pixels[argmax[j, j]] if argmax[j, j] >= 0 else np.zeros_like(images_pixels[0])
            for j in range(c)
        ]
    )
    _imshow(axes[0, 1], mosaic(top, c, symmetric=False), symmetric=False, aspect="auto")
    axes[0, 1].set_title(
        f"Figure 1 ({method}): max decoded response of each L7 filter (rows) over the images of "
        "each class (columns)\ntop: the image of class c with the largest response of filter c; "
        "red: the largest value of each row",
        fontsize=8,
    )
    _imshow(axes[1, 0], mosaic(decoded7, 1), aspect="auto")
    ax = axes[1, 1]
    ax.imshow(matrix, cmap="viridis", aspect="auto", interpolation="nearest")
    best = np.nanargmax(np.where(np.isnan(matrix), -np.inf, matrix), axis=1)
    for i in range(k):
        for j in range(c):
            ax.text(
                j,
                i,
                f"{matrix[i, j]:.3g}",
                ha="center",
                va="center",
                fontsize=7,
                color="red" if j == best[i] else "white",
            )
    ax.set_xticks(range(c), [str(j) for j in range(c)], fontsize=7)
    ax.set_yticks(range(k), [f"df{i}" for i in range(k)], fontsize=7)
    ax.yaxis.tick_right()
    ax.set_xlabel("class of the test images")
    return fig


def plot_figure4(decoded: dict[int, np.ndarray], l5_units: np.ndarray, method: str, cols=10):
    """Figure 4: decoded filters of L1, L3, a subset of L5 and L7, one mosaic per layer."""
    blocks = [
        (f"{paper_name(0)}: all {len(decoded[0])}", decoded[0]),
        (f"{paper_name(2)}: all {len(decoded[2])}", decoded[2]),
        (f"{paper_name(4)}: units {', '.join(map(str, l5_units))}", decoded[4][l5_units]),
        (f"{paper_name(6)}: all {len(decoded[6])}", decoded[6]),
    ]
    # each mosaic's height over its width, so that the panels sit without gaps
    ratios = [-(-len(f) // cols) * (f.shape[1] + 1) / (cols * (f.shape[2] + 1)) for _, f in blocks]
    fig, axes = figure(
        len(blocks),
        1,
        figsize=(8, 7.2 * sum(ratios) + 0.35 * len(blocks) + 0.5),
        gridspec_kw={"height_ratios": ratios},
    )
    for ax, (title, filters) in zip(axes, blocks, strict=True):
        _imshow(ax, mosaic(filters, cols))
        ax.set_title(title, fontsize=8)
    fig.suptitle(
        f"Figure 4: decoded LeNet filters ({method} unpooling; each filter scaled by its own "
        "largest magnitude, black < 0 < white)",
        fontsize=9,
    )
    return fig


def plot_failures(failures: list[tuple], method: str, mode: str, cols: int = 8):
    """The inputs (decoded filters as images) whose own unit does not respond most."""
    fig, ax = figure(figsize=(cols * 1.1, max(1, -(-len(failures) // cols)) * 1.3 + 0.6))
    title = f"Self-consistency failures ({method} unpooling, '{mode}' inputs)"
    if not failures:
        ax.axis("off")
        ax.set_title(title + ": none", fontsize=9)
        return fig
    images = np.stack([f[-1] for f in failures])
    h, w = images.shape[1:3]
    _imshow(ax, mosaic(images, cols, symmetric=False, pad=2), symmetric=False)
    for i, (name, unit, winner, rank, _) in enumerate(failures):
        r, c = divmod(i, cols)
        ax.text(
            c * (w + 2),
            r * (h + 2),
            f"{name} u{unit}>u{winner}\nrank {rank}",
            fontsize=5,
            color="yellow",
            va="top",
        )
    ax.set_title(title + "\nunit u -> winning unit; rank = units above its own", fontsize=8)
    return fig


def plot_decoded_layers(decoding, title: str, cols: int = 16, max_units: int = 32):
    """The decoded filters of every decoded layer of a network, one mosaic per layer (the first
    ``max_units`` units, the first input channel), with each layer's Table-1 error."""
    blocks = []
    for layer in decoding.layers:
        f = layer.filters[:max_units, ..., :1]
        label = (
            f"{layer.name}: {len(layer.filters)} units, {f.shape[1]}x{f.shape[2]} filters, "
            f"error {layer.error_mean:.4f}, self-consistency {layer.self_consistency:.0%}"
        )
        blocks.append((label, f))
    ratios = [-(-len(f) // cols) * (f.shape[1] + 1) / (cols * (f.shape[2] + 1)) for _, f in blocks]
    fig, axes = figure(
        len(blocks),
        1,
        figsize=(9, 9 * sum(ratios) + 0.4 * len(blocks) + 0.6),
        gridspec_kw={"height_ratios": ratios},
        squeeze=False,
    )
    for ax, (label, filters) in zip(axes[:, 0], blocks, strict=True):
        _imshow(ax, mosaic(filters, cols))
        ax.set_title(label, fontsize=7)
    fig.suptitle(
        f"{title}: decoded filters of every conv layer ({decoding.unpool} unpooling; each "
        "scaled by its own largest magnitude, black < 0 < white)",
        fontsize=9,
    )
    return fig
