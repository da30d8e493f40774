"""Fitting the analytic families to trained first-layer kernels.

Default: conv1 (20 slices of 5x5) of the mnist_5k LeNet (``--config.model`` picks another
recipe; the net is trained once in ``<nets_dir>/<model>``). ``--config.kernels_npy=path.npy``
fits any HWIO ``(k, k, I, O)`` tensor instead.

Variants: ``:smoke`` (a few LeNet steps and fitting steps, for tests).
"""

import ml_collections

from experiments.configs import common


def get_config(variant: str = ""):
    c = common.add_nets(ml_collections.ConfigDict(), variant)
    c.seed = 0
    c.kernels_npy = ""  # a (k, k, I, O) .npy file to fit instead of a trained network's conv1
    c.families = ("G", "Lg", "Lt", "Tf", "Ts")
    c.threshold = 0.1  # largest relative error for which a slice becomes analytic
    c.steps = 300
    c.learning_rate = 0.05
    c.n_angles = 4
    c.n_scales = 3
    # slices in figures/fit_slices.png (their per-family refits reuse the compiled fits when
    # max_show covers every slice)
    c.max_show = 20
    if variant == "smoke":
        c.steps = 30
        c.families = ("G", "Lg", "Tf")
        c.n_angles = 2
        c.n_scales = 2
    return c
