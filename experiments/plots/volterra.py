"""Figures of the Volterra lenses (``experiments.lenses.volterra`` and ``volterra_paper``)."""

import numpy as np

from experiments.plots import figure
from experiments.plots.banks import show_bank


def plot_kernels(result, title: str):
    """Rows: white-box h1, hacked h1, the diagonal of white-box h2, for each output unit."""
    h1 = result.white.h1
    out = h1.shape[-1]
    fig, axes = figure(3, out, figsize=(1.3 * out, 4.6), layout="constrained", squeeze=False)
    show_bank(axes[0], h1, lambda k: f"h1 unit {k}")
    show_bank(axes[1], result.hacked.h1, lambda k: "hacked h1")
    h2 = result.white.h2
    n = int(np.prod(h1.shape[:3]))
    diag = np.stack(
        [np.diagonal(h2[..., k].reshape(n, n)).reshape(h1.shape[:3]) for k in range(out)], -1
    )
    show_bank(axes[2], diag, lambda k: "diag h2")
    fig.suptitle(title)
    return fig


def plot_attacks(result, title: str):
    """Success rate of each attack against the L-inf budget."""
    fig, ax = figure(figsize=(5, 3.4))
    for name, rates in result.attack_success.items():
        ax.plot(result.attack_eps, rates, "o-", label=name)
    ax.set(xlabel="L-inf budget eps (pixels in [0, 1])", ylabel="success rate", title=title)
    ax.legend()
    return fig


def plot_kernel_rows(rows, titles, cmap="RdBu_r"):
    """One row per kernel bank ``(kh, kw, 10)``, one panel per class."""
    fig, axes = figure(len(rows), 10, figsize=(15, 1.7 * len(rows) + 0.4), squeeze=False)
    for r, (h, title) in enumerate(zip(rows, titles, strict=True)):
        for o in range(10):
            ax = axes[r][o]
            v = float(np.abs(h[..., o]).max()) or 1.0
            ax.imshow(h[..., o], cmap=cmap, vmin=-v, vmax=v)
            ax.set(xticks=[], yticks=[])
            if o == 0:
                ax.set_ylabel(title, fontsize=8)
            if r == 0:
                ax.set_title(f"class {o}", fontsize=9)
    return fig


def plot_study_h1(s):
    """White-box, autodiff and hacked order-1 kernels of the study (``volterra_paper``)."""
    rows = [np.asarray(s.white.h1)[:, :, 0], np.asarray(s.autodiff.h1)[:, :, 0]]
    titles = ["white box\n(from_layers)", "autodiff"]
    for source, k in s.hacked.items():
        rows.append(np.asarray(k.h1)[:, :, 0])
        titles.append(f"hacked\n({source})")
    return plot_kernel_rows(rows, titles)


def plot_study_h2(s):
    """The leading eigenvector of each class's order-2 kernel, as an image."""
    rf = s.receptive_field
    d = int(np.prod(rf.shape))
    rows, titles = [], []
    for name, k in [("white box", s.white)] + [(f"hacked ({n})", v) for n, v in s.hacked.items()]:
        if k.order < 2:
            continue
        mats = np.asarray(k.h2).reshape(d, d, 10)
        vecs = []
        for o in range(10):
            w, v = np.linalg.eigh(mats[..., o])
            j = int(np.argmax(np.abs(w)))
            vecs.append(w[j] * v[:, j] ** 2 * np.sign(v[:, j]))
        rows.append(np.stack(vecs, -1).reshape(rf.kh, rf.kw, 10))
        titles.append(f"{name}\nh2 top eigvec")
    return plot_kernel_rows(rows, titles)


def plot_perturbation(rows, order: int):
    """Each order's predicted logit change against the actual one, per eps."""
    fig, axes = figure(1, 2, figsize=(11, 3.6))
    for ax, base in zip(axes, ("zero", "images"), strict=True):
        for kind, ls in (("random", "-"), ("adversarial", "--")):
            sel = [r for r in rows if r["base"] == base and r["delta"] == kind]
            eps = [r["eps"] for r in sel]
            for n in range(1, order + 1):
                errors = [r[f"upto{n}_rel_error"] or np.nan for r in sel]
                ax.plot(eps, errors, ls, marker="o", ms=3, label=f"{kind}, orders <= {n}")
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="eps (L-inf)",
            ylabel="|predicted - actual| / |actual|",
            title=f"logit change, x = {base}",
        )
        ax.legend(fontsize=7)
    return fig


def plot_attack_table(attack: dict):
    """Success rate of every attack of ``attack_table`` against eps."""
    fig, ax = figure(figsize=(6, 4))
    for name in [k for k in attack if not k.startswith("num_") and k != "eps"]:
        ax.plot(attack["eps"], attack[name], marker="o", label=name)
    ax.set(
        xlabel="eps (L-inf)",
        ylabel="success rate",
        ylim=(-0.02, 1.02),
        title=f"attacks on {attack['num_attacked']} correctly classified digits",
    )
    ax.legend(fontsize=8)
    return fig
