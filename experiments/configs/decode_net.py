"""Filter decoding of any of the project's trained networks (``--config.net.model``).

``config.net`` is the ``train_net`` config; the network is trained, or resumed from the
checkpoints of ``net_workdir`` (default: this workdir), then every conv layer (nested residual
paths included) and the head are decoded and measured on the test images.

Variants: ``:smoke`` (tiny nets, a few training steps, a few dozen test images, for tests).
"""

import ml_collections

from experiments.configs import train_net


def get_config(variant: str = ""):
    c = ml_collections.ConfigDict()
    c.net = train_net.get_config(variant)
    c.net.model = "vgg"
    c.net_workdir = ""
    c.unpool = "bicubic"  # the paper's interpolation through the pools
    c.num_images = 0  # test images for the Table-1 errors; 0 = the whole test split
    c.batch_size = 250
    c.units_shown = 32  # decoded filters shown per layer
    if variant == "smoke":
        c.num_images = 24
        c.batch_size = 12
        c.units_shown = 8
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    return c
