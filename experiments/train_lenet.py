"""Trains MatConvNet's MNIST LeNet (the decoding paper's network) with MatConvNet's recipe.

    python -m experiments.train_lenet --workdir=runs/train_lenet
    python -m experiments.train_lenet --config.data.dataset=mnist --config.data.data_dir=D

Writes the workdir contract (config.json, metrics.jsonl, summary.json, checkpoints/) plus
``figures/loss_curve.png`` and ``arrays/lenet.npz`` (HWIO weights, biases, the mean image).
Rerunning the same command resumes from the newest checkpoint. ``experiments.train_net``
trains the other networks (``--config.model=vgg|resnet``).
"""

from experiments import _app
from experiments.core import nets
from experiments.workdir import Workdir


def run(config, workdir: str) -> nets.Net:
    """Trains the LeNet and writes the workdir contract. Importable from a notebook."""
    wd = Workdir(workdir)
    nets.check_recipe(config.net, config.data.dataset)
    wd.write_config(config)
    net = nets.get(config.net, nets.load_data(config.data), wd)
    nets.write_net(wd, net, "lenet")
    return net


if __name__ == "__main__":
    _app.launch(run, "train_lenet")
