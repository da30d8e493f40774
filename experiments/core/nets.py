"""Trained networks as the lenses see them, and the one helper that gets one: train it in a
workdir, or resume (reuse) the one trained there.

* :class:`Data`: a data set's two splits, loaded once (pixels in [0, 1]).
* :class:`Net`: a trained network: its NNX model (inference mode), the pure ``(apply_fn,
  params)`` pair, its layer list (``cnn_layers.from_nnx``) and its input preprocessing.
  ``Net.from_model(model)`` wraps a network you trained yourself, so that every lens
  (``experiments.lenses``) runs on it unchanged.
* :func:`get`: builds the model a recipe names (``experiments/configs/common.py``), trains or
  resumes it with :func:`experiments.core.train.train`, and returns a :class:`Net`.
* :func:`trained`: what every entry point calls: the net ``config.model`` names (or its smooth
  twin), trained once in its own workdir ``<nets_dir>/<name>`` and reused from there by every
  later run and every other experiment pointed at the same ``nets_dir``.
"""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

import jax
import numpy as np
from flax import nnx

import cnn_layers
from experiments import models
from experiments.configs.common import num_epochs
from experiments.core import data as data_lib
from experiments.core import train
from experiments.plots.training import plot_history
from experiments.workdir import Workdir

# the recipe fields that are constructor arguments of each model
ARCHITECTURE = {
    "lenet": ("activation", "pool", "init_scale"),
    "vgg": ("blocks", "activation", "pool"),
    "resnet": ("widths", "activation"),
}
TITLES = {"lenet": "LeNet", "vgg": "VGG", "resnet": "ResNet"}


class Data(NamedTuple):
    """A data set's splits as loaded: images NHWC float32 in [0, 1], labels int32."""

    name: str
    train: train.Dataset
    test: train.Dataset


def check_recipes(config, *, smooth: bool = False) -> None:
    """Validates the training recipe ``config.model`` names (and its twin when ``smooth``)
    before any data is loaded: a bad field is a ``ValueError`` now, not after minutes."""
    for twin in (False, True) if smooth else (False,):
        check_recipe(config.nets[recipe_name(config, smooth=twin)], config.data.dataset)


def check_recipe(recipe, dataset: str) -> None:
    """Validates one training recipe (``num_epochs`` resolved for ``dataset``) before any data
    is loaded (:func:`experiments.core.train.validate_config`)."""
    recipe = recipe.copy_and_resolve_references()
    with recipe.unlocked():
        recipe.num_epochs = num_epochs(recipe, dataset)
    train.validate_config(recipe)


def prepare(config, *, smooth: bool = False) -> Data:
    """:func:`check_recipes`, then both splits of ``config.data``: how an entry point that
    trains ``config.model`` gets its data."""
    check_recipes(config, smooth=smooth)
    return load_data(config.data)


def load_data(config) -> Data:
    """Both splits of ``config.dataset`` (from ``config.data_dir``), each read once."""
    data_dir = config.data_dir or None
    splits = [train.Dataset(*data_lib.load(config.dataset, s, data_dir)) for s in data_lib.SPLITS]
    return Data(config.dataset, *splits)


class Net(NamedTuple):
    """A trained network, as every lens reads it.

    Attributes:
      name: what it is called in figures and reports (e.g. 'LeNet').
      model: the NNX model in inference mode.
      apply_fn, params: the pure pair, ``apply_fn(params, x) -> logits``.
      layers: ``cnn_layers.from_nnx(model)``.
      mean_image: ``(H, W, C)`` subtracted from the scaled pixels (None: nothing).
      pixel_scale: the pixels ``[0, 1]`` are multiplied by it first.
      summary: how it was trained (accuracy, epochs, speed); empty for a model you bring.
    """

    name: str
    model: nnx.Module
    apply_fn: Callable
    params: Any
    layers: list
    mean_image: np.ndarray | None
    pixel_scale: float
    summary: dict

    def preprocess(self, pixels: np.ndarray) -> np.ndarray:
        """Images in [0, 1] as the network sees them."""
        x = np.asarray(pixels, np.float32) * np.float32(self.pixel_scale)
        return x if self.mean_image is None else (x - self.mean_image[None]).astype(np.float32)

    @classmethod
    def from_model(
        cls,
        model: nnx.Module,
        *,
        name: str = "net",
        mean_image: np.ndarray | None = None,
        pixel_scale: float = 1.0,
        summary: dict | None = None,
    ) -> "Net":
        """Wraps any NNX CNN (put in inference mode here) for the lenses."""
        model.eval()
        graphdef, params = nnx.split(model)

        def apply_fn(params, x):
            return nnx.merge(graphdef, params)(x)

        layers = cnn_layers.from_nnx(model)
        return cls(name, model, apply_fn, params, layers, mean_image, pixel_scale, summary or {})


def build(recipe, in_channels: int) -> nnx.Module:
    """The freshly initialised model a recipe names."""
    if recipe.model not in models.MODELS:
        raise ValueError(f"model must be one of {tuple(models.MODELS)}, got {recipe.model!r}")
    arch = {name: recipe[name] for name in ARCHITECTURE[recipe.model]}
    return models.MODELS[recipe.model](in_channels, rngs=nnx.Rngs(recipe.seed), **arch)


def fit(
    recipe,
    data: Data,
    workdir: Workdir,
    make_model: Callable[[int], nnx.Module],
    *,
    name: str,
    checkpoint_dir: str = "checkpoints",
) -> Net:
    """Trains (or resumes) ``make_model(in_channels)`` in ``workdir`` on ``data``.

    ``recipe`` holds :func:`experiments.core.train.train`'s fields, ``pixel_scale`` and
    ``seed``; ``num_epochs < 0`` asks for the LeNet recipe's default
    (:func:`experiments.configs.common.num_epochs`). The inputs are the pixels times
    ``pixel_scale`` minus the mean training image.
    """
    check_recipe(recipe, data.name)
    recipe = recipe.copy_and_resolve_references()
    with recipe.unlocked():
        recipe.num_epochs = num_epochs(recipe, data.name)
    mean_image = (data.train.images * recipe.pixel_scale).mean(axis=0)

    def prep(split):
        x = (split.images * recipe.pixel_scale - mean_image).astype(np.float32)
        return train.Dataset(x, split.labels)

    model = make_model(data.train.images.shape[-1])
    start = time.perf_counter()
    result = train.train(
        jax.random.key(recipe.seed),
        model,
        prep(data.train),
        prep(data.test),
        recipe,
        workdir,
        checkpoint_dir=checkpoint_dir,
    )
    summary = {
        "dataset": data.name,
        "num_train": len(data.train.labels),
        "num_test": len(data.test.labels),
        "num_epochs": recipe.num_epochs,
        "test_accuracy": result.test["accuracy"],
        "test_error": 1.0 - result.test["accuracy"],
        "test_loss": result.test["loss"],
        "wall_seconds": time.perf_counter() - start,
        "examples_per_second": result.steps_per_second * recipe.batch_size,
        "resumed_from_step": result.resumed_from,
    }
    model = result.model()
    return Net(
        name,
        model,
        result.apply_fn,
        result.params,
        cnn_layers.from_nnx(model),
        mean_image,
        float(recipe.pixel_scale),
        summary,
    )


def get(recipe, data: Data, workdir: Workdir, *, checkpoint_dir: str = "checkpoints") -> Net:
    """The network ``recipe`` names, trained on ``data`` in ``workdir`` (or resumed there)."""
    net = fit(
        recipe,
        data,
        workdir,
        lambda c: build(recipe, c),
        name=TITLES.get(recipe.model, recipe.model),
        checkpoint_dir=checkpoint_dir,
    )
    net.summary["model"] = recipe.model
    return net


def _flat_names(tree: dict, prefix: str = "") -> dict[str, np.ndarray]:
    out = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        out |= _flat_names(value, f"{name}_") if isinstance(value, dict) else {name: value}
    return out


def write_net(wd: Workdir, net: Net, name: str) -> None:
    """Writes ``figures/loss_curve.png``, ``arrays/<name>.npz`` (every weight and batch
    statistic as ``<path>_<leaf>``, e.g. ``conv1_kernel``, with the mean image and the pixel
    scale) and ``summary.json``."""
    wd.save_figure("loss_curve", plot_history(wd.metrics(), net.name))
    wd.save_arrays(
        name,
        mean_image=net.mean_image,
        pixel_scale=np.float32(net.pixel_scale),
        **_flat_names(nnx.to_pure_dict(net.params)),
    )
    wd.write_summary(net.summary)


def recipe_name(config, *, smooth: bool = False) -> str:
    """``config.model`` (or its smooth twin's name), checked against ``config.nets``."""
    name = f"{config.model}_smooth" if smooth else config.model
    if name not in config.nets:
        known = tuple(k for k in config.nets if not k.endswith("_smooth"))
        raise ValueError(f"config.model must be one of {known}, got {config.model!r}")
    return name


def net_workdir(config, wd: Workdir, *, smooth: bool = False) -> Workdir:
    """Where :func:`trained` trains and reuses the net: ``<nets_dir or wd/nets>/<name>``."""
    root = Path(config.nets_dir) if config.nets_dir else wd.path / "nets"
    return Workdir(root / recipe_name(config, smooth=smooth))


def trained(config, data: Data, wd: Workdir, *, smooth: bool = False) -> Net:
    """The net ``config.model`` names among ``config.nets`` (its ``_smooth`` twin when
    ``smooth``), trained on ``data`` in ``<config.nets_dir or wd/nets>/<name>`` or resumed
    there; that workdir gets the whole training contract (:func:`write_net`)."""
    name = recipe_name(config, smooth=smooth)
    net_wd = net_workdir(config, wd, smooth=smooth)
    net_wd.write_config(config.nets[name])
    net = get(config.nets[name], data, net_wd)
    if smooth:
        net = net._replace(name=f"{net.name} (smooth twin)")
    write_net(net_wd, net, name)
    return net
