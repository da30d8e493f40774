"""AnaNN-LeNet and a four-layer AnaNN against their plain twins, with the family ablation.

Every network uses the LeNet's data and schedule (``lenet``: MatConvNet's recipe, 15 epochs =
600 steps of 100 on mnist_5k, SGD momentum 0.9, lr 1e-3, weight decay 5e-4, inputs 0-255 minus
the mean image, weights 0.01 * randn). Analytic kernels start with the norm of such a plain
slice; their shape AKPs get the learning rate ``lr * akp_lr_scale`` and no weight decay (a
reparametrised kernel a * s(phi) with a ~ 0.05 moves at lr * a^2 per unit gradient in phi, so
phi needs a far larger step than the plain weights).

Ablation: every family of the AnaNN-LeNet removed from the trained net (zeroed) and, when
``ablation.freeze_steps > 0``, frozen at its initial AKPs during a ``freeze_steps`` run.

Variants: ``:smoke`` (a few steps, small four-layer nets, for tests).
"""

import ml_collections

from experiments.configs import common


def get_config(variant: str = ""):
    c = common.add_nets(ml_collections.ConfigDict(), variant)
    c.akp_lr_scale = 100.0
    c.lenet_arrangements = ml_collections.ConfigDict(
        {
            "conv1": "(1x20)G6Lg2Lt2Tf6Ts4",
            "conv2": "(20x50)G200Lg100Lt100Tf300Ts300",
            "conv3": "(50x500)Tf5000Ts5000Lg2500Lt2500P10000",
            "conv4": "",
        }
    )
    c.four = ml_collections.ConfigDict()
    c.four.enabled = True
    c.four.convs = ((16, 5), (32, 5), (64, 3), (10, 3))
    c.four.arrangements = ml_collections.ConfigDict(
        {
            "conv1": "(1x16)G6Lg2Lt2Tf4Ts2",
            "conv2": "(16x32)G128Lg64Lt64Tf128Ts128",
            "conv3": "(32x64)Tf512Ts512Lg256Lt256P512",
            "conv4": "",
        }
    )
    c.ablation = ml_collections.ConfigDict()
    c.ablation.freeze_steps = 200  # 0: only the post-hoc removal
    c.mosaic_layer = "conv1"
    c.mosaic_max_slices = 40
    # The plain LeNet (c.nets.lenet, whose schedule every network shares) is trained once in
    # <nets_dir>/lenet, default <workdir>/nets.
    if variant == "smoke":
        # few families and only conv1 (LeNet) analytic: every family and layer costs compile time
        c.lenet_arrangements.conv1 = "(1x20)G10Tf8P2"
        c.lenet_arrangements.conv2 = ""
        c.lenet_arrangements.conv3 = ""
        c.four.convs = ((4, 5), (8, 5), (8, 3), (10, 3))
        c.four.arrangements.conv1 = "(1x4)G2Tf2"
        c.four.arrangements.conv2 = "(4x8)Tf16P16"
        c.four.arrangements.conv3 = ""
        c.ablation.freeze_steps = 2
    return c
