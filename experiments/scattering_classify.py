"""Scattering features + logistic regression on MNIST, next to the LeNet on the same split.

    python -m experiments.scattering_classify                      # mnist_5k
    python -m experiments.scattering_classify --config.dataset=mnist --config.data_dir=D

The scattering transform (default J=3, L=8, order 2) is computed in batches sharded over every
device; the features are standardised and a multinomial logistic regression with an L2 penalty
is fitted by L-BFGS (optax). Writes ``summary.json`` (test error of both), the training-loss
curve, ``arrays/scattering_features.npz`` (the test features) and, when ``compare_lenet`` is
on, the LeNet's own workdir under ``lenet/``.
"""

import functools
import time

import jax
import numpy as np

import scattering_jax
from experiments import _app, train_lenet
from experiments.core import data, features, linear
from experiments.plots import figure
from experiments.workdir import Workdir


def scattering_features(
    images: np.ndarray, *, J: int, L: int, max_order: int, batch_size: int
) -> np.ndarray:
    """Scattering coefficients of NHWC images (channels averaged), shape (N, K, m, n)."""
    gray = images.mean(axis=-1)
    fn = _scattering_fn(gray.shape[1:], J, L, max_order)
    return features.extract(fn, gray, batch_size=batch_size, name="scattering")


@functools.lru_cache(maxsize=8)
def _scattering_fn(shape: tuple[int, int], J: int, L: int, max_order: int):
    bank = scattering_jax.filter_bank_2d(shape, J=J, L=L)
    return jax.jit(lambda x: scattering_jax.scattering2d(x, bank, J=J, max_order=max_order))


def _subset(x, y, n):
    """``n`` evenly spaced examples (the splits are sorted by class), or all when n is 0."""
    if not n or n >= len(y):
        return x, y
    idx = np.linspace(0, len(y) - 1, n).astype(int)
    return x[idx], y[idx]


def run(config, workdir: str) -> dict:
    """Fits the classifier and writes the workdir; returns the summary."""
    wd = Workdir(workdir)
    wd.write_config(config)
    data_dir = config.data_dir or None
    x_train, y_train = _subset(*data.load(config.dataset, "train", data_dir), config.max_train)
    x_test, y_test = _subset(*data.load(config.dataset, "test", data_dir), config.max_test)

    start = time.perf_counter()
    kw = dict(J=config.J, L=config.L, max_order=config.max_order, batch_size=config.feature_batch)
    f_train = scattering_features(x_train, **kw)
    f_test = scattering_features(x_test, **kw)
    feature_seconds = time.perf_counter() - start

    start = time.perf_counter()
    clf, history = linear.fit_logistic(f_train, y_train, l2=config.l2, steps=config.steps)
    fit_seconds = time.perf_counter() - start
    for step in range(0, len(history), max(1, len(history) // 50)):
        wd.log_metrics(step + 1, train_loss=history[step])

    summary = {
        "dataset": config.dataset,
        "num_train": len(y_train),
        "num_test": len(y_test),
        "J": config.J,
        "L": config.L,
        "max_order": config.max_order,
        "num_features": int(np.prod(f_train.shape[1:])),
        "scattering_train_error": clf.error(f_train, y_train),
        "scattering_test_error": clf.error(f_test, y_test),
        "feature_seconds": feature_seconds,
        "images_per_second": (len(x_train) + len(x_test)) / feature_seconds,
        "fit_seconds": fit_seconds,
    }
    if config.compare_lenet:
        lenet = train_lenet.run(config.lenet, config.lenet_workdir or str(wd.path / "lenet"))
        summary["lenet_test_error"] = lenet.summary["test_error"]

    fig, ax = figure(figsize=(5, 3.2))
    ax.plot(np.arange(1, len(history) + 1), history)
    ax.set(
        xlabel="L-BFGS step",
        ylabel="training loss (CE + L2)",
        yscale="log",
        title=f"scattering J={config.J} L={config.L}: test error "
        f"{summary['scattering_test_error']:.2%}",
    )
    wd.save_figure("classifier_loss", fig)
    wd.save_arrays("scattering_features", test_features=f_test, test_labels=y_test)
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "scattering_classify")
