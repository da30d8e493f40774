"""Trains one of the project's networks on MNIST-like data or CIFAR-10.

    python -m experiments.train_net --config.model=vgg --workdir=runs/train_vgg
    python -m experiments.train_net --config.model=resnet --workdir=runs/train_resnet
    python -m experiments.train_net --config.model=vgg --config.dataset=cifar10 --config.data_dir=D

``--config.model`` is ``lenet`` (MatConvNet's LeNet, as ``experiments.train_lenet``), ``vgg``
(:class:`experiments.models.VGG`) or ``resnet`` (:class:`experiments.models.ResNet`); each
trains with its own recipe, ``config.<model>`` (``--config.vgg.learning_rate=...``). Writes the
workdir contract (config.json, metrics.jsonl, summary.json, checkpoints/) plus
``figures/loss_curve.png`` and ``arrays/<model>.npz`` (every weight and batch statistic, the
mean image). Rerunning the same command resumes from the newest checkpoint.
"""

from flax import nnx

from experiments import _app, models, trained
from experiments._outputs import Workdir

# the recipe fields that are constructor arguments of each model
ARCHITECTURE = {
    "lenet": ("init_scale",),
    "vgg": ("blocks", "activation", "pool"),
    "resnet": ("widths", "activation"),
}
TITLES = {"lenet": "LeNet", "vgg": "VGG", "resnet": "ResNet"}


def train_net(config, workdir: Workdir) -> trained.TrainedNet:
    """Trains (or resumes) ``config.model`` with its recipe ``config[config.model]``."""
    if config.model not in models.MODELS:
        known = tuple(models.MODELS)
        raise ValueError(f"config.model must be one of {known}, got {config.model!r}")
    recipe = config[config.model]
    arch = {name: recipe[name] for name in ARCHITECTURE[config.model]}

    def make_model(in_channels):
        return models.MODELS[config.model](in_channels, rngs=nnx.Rngs(recipe.seed), **arch)

    net = trained.fit(recipe, workdir, make_model)
    net.summary["model"] = config.model
    return net


def run(config, workdir: str) -> trained.TrainedNet:
    """Trains the network and writes the workdir contract. Importable from a notebook."""
    wd = Workdir(workdir)
    wd.write_config(config)
    net = train_net(config, wd)
    trained.write_net(wd, net, config.model, TITLES[config.model])
    return net


if __name__ == "__main__":
    _app.launch(run, "train_net")
