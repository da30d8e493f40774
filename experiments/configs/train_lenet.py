"""MatConvNet's cnn_mnist recipe for its MNIST LeNet (``experiments/configs/common.py``).

``c.data`` selects the data (``--config.data.dataset=mnist --config.data.data_dir=D``),
``c.net`` is the recipe (``--config.net.learning_rate=...``).

Variants: ``:smoke`` (a few steps, for tests).
"""

import ml_collections

from experiments.configs import common


def get_config(variant: str = ""):
    c = ml_collections.ConfigDict()
    c.data = common.data(variant)
    c.net = common.recipe("lenet", variant)
    return c
