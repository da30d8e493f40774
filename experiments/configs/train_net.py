"""Training any of the experiments' networks (``experiments/configs/common.py``).

``--config.model`` picks the recipe among ``c.nets`` (``lenet``, ``vgg``, ``resnet`` and their
``*_smooth`` twins), e.g. ``--config.model=vgg --config.nets.vgg.learning_rate=0.2``;
``c.data`` selects the data.

Variants: ``:smoke`` (a few steps of tiny nets, for tests).
"""

import ml_collections

from experiments.configs import common


def get_config(variant: str = ""):
    c = ml_collections.ConfigDict()
    c.model = "lenet"
    c.data = common.data(variant)
    c.nets = common.nets(variant)
    return c
