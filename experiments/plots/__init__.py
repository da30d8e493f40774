"""Figures of the experiments, one module per lens; each function takes a lens's typed result
and returns a matplotlib figure for the workdir to save."""

from typing import Any


def figure(*args: Any, **kwargs: Any):
    """A matplotlib figure on the Agg backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)
