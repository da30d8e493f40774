"""Trains MatConvNet's MNIST LeNet (the decoding paper's network) with MatConvNet's recipe.

    python -m experiments.train_lenet --workdir=runs/train_lenet
    python -m experiments.train_lenet --config.dataset=mnist --config.data_dir=/path/to/mnist

Writes the workdir contract (config.json, metrics.jsonl, summary.json, checkpoints/) plus
``figures/loss_curve.png`` and ``arrays/lenet.npz`` (HWIO weights, biases, the mean image).
Rerunning the same command resumes from the newest checkpoint.
"""

import time
from typing import Any, NamedTuple

import jax
import numpy as np
from flax import nnx

from experiments import _app, data, models, train
from experiments._outputs import Workdir, figure


class TrainedLeNet(NamedTuple):
    """What other experiments need from a trained LeNet."""

    apply_fn: Any  # apply_fn(params, preprocessed images) -> logits
    params: Any  # nnx.State
    mean_image: np.ndarray  # (28, 28, C), subtracted after scaling by config.pixel_scale
    pixel_scale: float
    train_set: train.Dataset  # preprocessed
    test_set: train.Dataset  # preprocessed
    summary: dict

    def preprocess(self, images: np.ndarray) -> np.ndarray:
        """Images in [0, 1] as the network sees them."""
        return images * self.pixel_scale - self.mean_image[None]


def num_epochs(config) -> int:
    if config.num_epochs >= 0:
        return int(config.num_epochs)
    return 15 if config.dataset == "mnist_5k" else 20


def load_data(config):
    """Train and test sets, scaled and centred on the mean training image."""
    data_dir = config.data_dir or None
    x_train, y_train = data.load(config.dataset, "train", data_dir)
    x_test, y_test = data.load(config.dataset, "test", data_dir)
    mean_image = (x_train * config.pixel_scale).mean(axis=0)
    prep = lambda x: (x * config.pixel_scale - mean_image).astype(np.float32)
    return train.Dataset(prep(x_train), y_train), train.Dataset(prep(x_test), y_test), mean_image


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


def train_lenet(
    config,
    workdir: Workdir,
    *,
    activation: str = "relu",
    pool: str = "max",
    checkpoint_dir: str = "checkpoints",
) -> TrainedLeNet:
    """Trains (or resumes) one LeNet in ``workdir`` and returns it with its data."""
    train_set, test_set, mean_image = load_data(config)
    config = config.copy_and_resolve_references()
    with config.unlocked():
        config.num_epochs = num_epochs(config)
    model = models.LeNet(
        train_set.images.shape[-1],
        activation=activation,
        pool=pool,
        init_scale=config.init_scale,
        rngs=nnx.Rngs(config.seed),
    )
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
    return TrainedLeNet(
        result.apply_fn, result.params, mean_image, config.pixel_scale, train_set, test_set, summary
    )


def run(config, workdir: str) -> TrainedLeNet:
    """Trains the LeNet and writes the workdir contract. Importable from a notebook."""
    wd = Workdir(workdir)
    wd.write_config(config)
    net = train_lenet(config, wd)
    wd.save_figure("loss_curve", plot_history(wd.metrics(), "LeNet"))
    pure = nnx.to_pure_dict(net.params)
    wd.save_arrays(
        "lenet",
        mean_image=net.mean_image,
        pixel_scale=np.float32(net.pixel_scale),
        **{f"{layer}_{name}": v for layer, p in pure.items() for name, v in p.items()},
    )
    wd.write_summary(net.summary)
    return net


if __name__ == "__main__":
    _app.launch(run, "train_lenet")
