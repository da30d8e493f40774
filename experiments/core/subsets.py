"""Which test images a lens looks at: class-balanced or evenly spaced subsets of a split."""

import numpy as np


def stratified_indices(labels: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` indices taken round-robin over the classes (all when ``n <= 0``)."""
    labels = np.asarray(labels)
    if n <= 0 or n >= len(labels):
        return np.arange(len(labels))
    rank = np.zeros(len(labels), int)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        rank[idx] = np.arange(len(idx))
    order = np.lexsort((labels, rank))  # rank first, then class
    return np.sort(order[:n])


def evenly_spaced(n_total: int, n: int) -> np.ndarray:
    """``n`` evenly spaced indices of ``range(n_total)`` (all when ``n <= 0``): the splits are
    sorted by class, so this keeps every class."""
    if n <= 0 or n >= n_total:
        return np.arange(n_total)
    return np.linspace(0, n_total - 1, n).astype(int)
