"""The tour: every lens on one trained network (``--config.model=lenet|vgg|resnet``, default
the LeNet) and its smooth twin, in minutes on a CPU.

The nets are trained once in ``<workdir>/nets/<name>`` (or ``--config.nets_dir``, shared with
other experiments) and reused by every later run. Each lens's fields are its own sub-config.

Variants: ``:smoke`` (a few training steps and a few images per lens, for tests).
"""

import ml_collections

from experiments.configs import common


def get_config(variant: str = ""):
    smoke = variant == "smoke"
    c = common.add_nets(ml_collections.ConfigDict(), variant)
    c.seed = 0
    c.decoding = ml_collections.ConfigDict(
        {"num_images": 40 if smoke else 1000, "unpool": "bicubic", "batch_size": 250}
    )
    c.decoding.units_shown = 8 if smoke else 16
    c.volterra = ml_collections.ConfigDict()
    c.volterra.num_images = 40 if smoke else 300
    c.volterra.hack_steps = 30 if smoke else 2000
    c.volterra.hack_rank = 4 if smoke else 16
    c.volterra.hack_batch = 16 if smoke else 64
    c.volterra.hack_learning_rate = 1e-2
    c.volterra.hack_input_norm = 0.3  # norm of the black-box inputs, pixels in [0, 1]
    c.volterra.attack_eps = (0.0, 0.05, 0.1) if smoke else (0.0, 0.025, 0.05, 0.1, 0.15, 0.2)
    c.volterra.attack_steps = 1
    c.analytic = ml_collections.ConfigDict()
    c.analytic.fit_steps = 20 if smoke else 300
    c.analytic.fit_threshold = 0.3
    c.scattering = ml_collections.ConfigDict()
    c.scattering.J = 2 if smoke else 3
    c.scattering.L = 4 if smoke else 8
    c.scattering.max_order = 2
    c.scattering.feature_batch = 64 if smoke else 1000
    c.scattering.l2 = 1e-3
    c.scattering.steps = 20 if smoke else 300
    c.scattering.max_train = 200 if smoke else 0  # 0: the whole split
    c.scattering.max_test = 100 if smoke else 0
    c.scattering.num_images = 16 if smoke else 100  # the stability test's digits
    c.scattering.deformation_sizes = (
        (0.0, 0.1, 0.2) if smoke else (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    )
    c.scattering.translations = (0.0, 1.0, 2.0) if smoke else (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    return c
