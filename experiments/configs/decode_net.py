"""Filter decoding of any of the project's trained networks (``--config.model``, default the
VGG): every conv layer (nested residual paths included) and the head, decoded and measured on
the test images (``c.decoding``). The net is trained once in ``<nets_dir>/<model>``.

Variants: ``:smoke`` (tiny nets, a few training steps, a few dozen test images, for tests).
"""

import ml_collections

from experiments.configs import common


def get_config(variant: str = ""):
    smoke = variant == "smoke"
    c = common.add_nets(ml_collections.ConfigDict(), variant)
    c.model = "vgg"
    c.decoding = ml_collections.ConfigDict()
    c.decoding.unpool = "bicubic"  # the paper's interpolation through the pools
    c.decoding.num_images = 24 if smoke else 0  # 0 = the whole test split
    c.decoding.batch_size = 12 if smoke else 250
    c.units_shown = 8 if smoke else 32  # decoded filters shown per layer
    return c
