"""Trains MatConvNet's MNIST LeNet (the decoding paper's network) with MatConvNet's recipe.

    python -m experiments.train_lenet --workdir=runs/train_lenet
    python -m experiments.train_lenet --config.dataset=mnist --config.data_dir=/path/to/mnist

Writes the workdir contract (config.json, metrics.jsonl, summary.json, checkpoints/) plus
``figures/loss_curve.png`` and ``arrays/lenet.npz`` (HWIO weights, biases, the mean image).
Rerunning the same command resumes from the newest checkpoint. ``experiments.train_net``
trains the other networks (``--config.model=vgg|resnet``).
"""

from flax import nnx

from experiments import _app, models
from experiments.configs.train_lenet import num_epochs  # noqa: F401  (the recipe's epochs)
from experiments.core import nets
from experiments.workdir import Workdir


def train_lenet(
    config,
    workdir: Workdir,
    *,
    activation: str = "relu",
    pool: str = "max",
    checkpoint_dir: str = "checkpoints",
) -> nets.TrainedNet:
    """Trains (or resumes) one LeNet in ``workdir`` and returns it with its data."""

    def make_model(in_channels):
        return models.LeNet(
            in_channels,
            activation=activation,
            pool=pool,
            init_scale=config.init_scale,
            rngs=nnx.Rngs(config.seed),
        )

    return nets.fit(config, workdir, make_model, checkpoint_dir=checkpoint_dir)


def run(config, workdir: str) -> nets.TrainedNet:
    """Trains the LeNet and writes the workdir contract. Importable from a notebook."""
    wd = Workdir(workdir)
    wd.write_config(config)
    net = train_lenet(config, wd)
    nets.write_net(wd, net, "lenet", "LeNet")
    return net


if __name__ == "__main__":
    _app.launch(run, "train_lenet")
