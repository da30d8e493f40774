"""The decoding paper's LeNet experiment: Table 1, Figures 1 and 4, self-consistency.

The LeNet (``c.nets.lenet``, MatConvNet's recipe) is trained once in ``<nets_dir>/lenet``
(default ``<workdir>/nets``) and reused. ``--config.data.dataset`` selects the data.

Variants: ``:smoke`` (a few training steps and a few dozen test images, for tests).
"""

import ml_collections

from experiments.configs import common


def get_config(variant: str = ""):
    c = common.add_nets(ml_collections.ConfigDict(), variant)
    c.unpool_methods = ("bicubic", "nearest", "bilinear")
    c.num_images = 0  # test images for Table 1 and Figure 1; 0 = the whole test split
    # The deconvnet baseline needs one backward projection per unit and image (500 per image
    # at L5), so it runs on the first deconvnet_images of those test images.
    c.deconvnet_images = 100
    c.batch_size = 250  # images per jitted batch (network and decoded responses)
    c.deconvnet_batch_size = 5  # images per jitted deconvnet batch
    c.self_consistency_layers = (2, 4, 6)
    c.figure_method = "bicubic"  # the unpooling shown in Figures 1 and 4
    c.figure4_layer5_units = 16  # L5 units shown: the most active ones on figure4_class
    c.figure4_class = 5
    c.max_failures_shown = 24
    if variant == "smoke":
        c.num_images = 40
        c.deconvnet_images = 2
        c.batch_size = 20
        c.deconvnet_batch_size = 2
        c.figure4_layer5_units = 8
        c.max_failures_shown = 8
    return c
