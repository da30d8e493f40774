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

from experiments import _app
from experiments.core import nets
from experiments.workdir import Workdir


def run(config, workdir: str) -> nets.TrainedNet:
    """Trains the network and writes the workdir contract. Importable from a notebook."""
    wd = Workdir(workdir)
    wd.write_config(config)
    net = nets.fit_named(config, wd)
    nets.write_net(wd, net, config.model, nets.TITLES[config.model])
    return net


if __name__ == "__main__":
    _app.launch(run, "train_net")
