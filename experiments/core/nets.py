"""A trained network with its data: train or resume one model in a workdir, and write it out.

:func:`fit` is what ``train_lenet`` and ``train_net`` (and the experiments that need a trained
net) share: load and preprocess the data (:func:`load_data`), build the model, train or resume
it with :func:`experiments.core.train.train`, and return a :class:`TrainedNet` with a summary.
:func:`write_net` writes the entry points' outputs (loss curve, weights, summary).
"""

import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import numpy as np
from flax import nnx

from experiments import models
from experiments.configs.train_lenet import num_epochs
from experiments.core import data, train
from experiments.plots import figure
from experiments.workdir import Workdir


class TrainedNet(NamedTuple):
    """What experiments need from a trained network."""

    apply_fn: Any  # apply_fn(params, preprocessed images) -> logits (inference mode)
    params: Any  # nnx.State: parameters and batch statistics (numpy)
    mean_image: np.ndarray  # (H, W, C), subtracted after scaling by config.pixel_scale
    pixel_scale: float
    train_set: train.Dataset  # preprocessed
    test_set: train.Dataset  # preprocessed
    summary: dict
    graphdef: Any = None  # of the model in inference mode

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """Images in [0, 1] as the network sees them."""
        return images * self.pixel_scale - self.mean_image[None]

    def model(self) -> nnx.Module:
        """The trained NNX model in inference mode: ``cnn_layers.from_nnx(net.model())``."""
        return nnx.merge(self.graphdef, self.params)


# the recipe fields that are constructor arguments of each model of experiments.train_net
ARCHITECTURE = {
    "lenet": ("init_scale",),
    "vgg": ("blocks", "activation", "pool"),
    "resnet": ("widths", "activation"),
}
TITLES = {"lenet": "LeNet", "vgg": "VGG", "resnet": "ResNet"}


def fit_named(config, workdir: Workdir) -> "TrainedNet":
    """Trains (or resumes) ``config.model`` with its recipe ``config[config.model]``
    (``experiments/configs/train_net.py``)."""
    if config.model not in models.MODELS:
        known = tuple(models.MODELS)
        raise ValueError(f"config.model must be one of {known}, got {config.model!r}")
    recipe = config[config.model]
    arch = {name: recipe[name] for name in ARCHITECTURE[config.model]}

    def make_model(in_channels):
        return models.MODELS[config.model](in_channels, rngs=nnx.Rngs(recipe.seed), **arch)

    net = fit(recipe, workdir, make_model)
    net.summary["model"] = config.model
    return net


def load_data(config):
    """Train and test sets, scaled by ``config.pixel_scale`` and centred on the mean training
    image; returns ``(train_set, test_set, mean_image)``."""
    data_dir = config.data_dir or None
    x_train, y_train = data.load(config.dataset, "train", data_dir)
    x_test, y_test = data.load(config.dataset, "test", data_dir)
    mean_image = (x_train * config.pixel_scale).mean(axis=0)
    prep = lambda x: (x * config.pixel_scale - mean_image).astype(np.float32)
    return train.Dataset(prep(x_train), y_train), train.Dataset(prep(x_test), y_test), mean_image


def fit(
    config,
    workdir: Workdir,
    make_model: Callable[[int], nnx.Module],
    *,
    checkpoint_dir: str = "checkpoints",
) -> TrainedNet:
    """Trains (or resumes) ``make_model(in_channels)`` in ``workdir`` on ``config``'s data.

    ``config`` is a training recipe: :func:`experiments.core.train.train`'s fields, ``dataset``,
    ``data_dir``, ``pixel_scale`` and ``seed``; ``num_epochs < 0`` asks for the LeNet
    recipe's default (:func:`experiments.configs.train_lenet.num_epochs`).
    """
    config = config.copy_and_resolve_references()
    with config.unlocked():
        config.num_epochs = num_epochs(config)
    train.validate_config(config)  # before any data is loaded
    train_set, test_set, mean_image = load_data(config)
    model = make_model(train_set.images.shape[-1])
    start = time.perf_counter()
    result = train.train(
        jax.random.key(config.seed),
        model,
        train_set,
        test_set,
        config,
        workdir,
        checkpoint_dir=checkpoint_dir,
    )
    summary = {
        "dataset": config.dataset,
        "num_train": len(train_set.labels),
        "num_test": len(test_set.labels),
        "num_epochs": config.num_epochs,
        "test_accuracy": result.test["accuracy"],
        "test_error": 1.0 - result.test["accuracy"],
        "test_loss": result.test["loss"],
        "wall_seconds": time.perf_counter() - start,
        "examples_per_second": result.steps_per_second * config.batch_size,
        "resumed_from_step": result.resumed_from,
    }
    return TrainedNet(
        result.apply_fn,
        result.params,
        mean_image,
        config.pixel_scale,
        train_set,
        test_set,
        summary,
        result.graphdef,
    )


def plot_history(history: list[dict], title: str):
    """Training loss and accuracy against step, with the final test accuracy."""
    fig, (ax_loss, ax_acc) = figure(1, 2, figsize=(9, 3.2))
    rows = [m for m in history if "train_loss" in m]
    steps = [m["step"] for m in rows]
    ax_loss.plot(steps, [m["train_loss"] for m in rows], label="train")
    ax_loss.set(xlabel="step", ylabel="cross-entropy", title=f"{title}: loss", yscale="log")
    ax_acc.plot(steps, [m["train_accuracy"] for m in rows], label="train (running)")
    tests = [m for m in history if "test_accuracy" in m]
    if tests:
        ax_acc.axhline(
            tests[-1]["test_accuracy"],
            color="C1",
            ls="--",
            label=f"test {tests[-1]['test_accuracy']:.4f}",
        )
    ax_acc.set(xlabel="step", ylabel="accuracy", title=f"{title}: accuracy", ylim=(0.8, 1.0))
    ax_acc.legend(loc="lower right")
    return fig


def _flat_names(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out |= _flat_names(value, f"{name}_") if isinstance(value, dict) else {name: value}
    return out


def write_net(wd: Workdir, net: TrainedNet, name: str, title: str) -> None:
    """Writes ``figures/loss_curve.png``, ``arrays/<name>.npz`` (every weight and batch
    statistic as ``<path>_<leaf>``, e.g. ``conv1_kernel``, with the mean image and the pixel
    scale) and ``summary.json``."""
    wd.save_figure("loss_curve", plot_history(wd.metrics(), title))
    wd.save_arrays(
        name,
        mean_image=net.mean_image,
        pixel_scale=np.float32(net.pixel_scale),
        **_flat_names(nnx.to_pure_dict(net.params)),
    )
    wd.write_summary(net.summary)
