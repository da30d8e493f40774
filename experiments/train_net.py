"""Trains one of the experiments' networks on MNIST-like data or CIFAR-10.

    python -m experiments.train_net --config.model=vgg --workdir=runs/vgg
    python -m experiments.train_net --config.model=resnet --workdir=runs/resnet
    python -m experiments.train_net --config.model=vgg_smooth --config.data.dataset=cifar10 \
        --config.data.data_dir=D

``--config.model`` is a recipe of ``experiments/configs/common.py``: ``lenet`` (MatConvNet's
LeNet, as ``experiments.train_lenet``), ``vgg`` (:class:`experiments.models.VGG`), ``resnet``
(:class:`experiments.models.ResNet`) or a ``*_smooth`` twin. Writes the workdir contract
(config.json, metrics.jsonl, summary.json, checkpoints/) plus ``figures/loss_curve.png`` and
``arrays/<model>.npz`` (every weight and batch statistic, the mean image). Rerunning the same
command resumes from the newest checkpoint.
"""

from experiments import _app
from experiments.core import nets
from experiments.workdir import Workdir


def run(config, workdir: str) -> nets.Net:
    """Trains the network and writes the workdir contract. Importable from a notebook."""
    if config.model not in config.nets:
        raise ValueError(f"config.model must be one of {tuple(config.nets)}, got {config.model!r}")
    wd = Workdir(workdir)
    nets.check_recipe(config.nets[config.model], config.data.dataset)
    wd.write_config(config)
    net = nets.get(config.nets[config.model], nets.load_data(config.data), wd)
    nets.write_net(wd, net, config.model)
    return net


if __name__ == "__main__":
    _app.launch(run, "train_net")
