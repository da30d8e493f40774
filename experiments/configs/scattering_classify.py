"""Scattering + a linear classifier on the digits (Bruna & Mallat's MNIST experiment), next to
the trained net ``--config.model`` (``compare_net``).

Variants: ``:smoke`` (a small subset, few steps, for tests).
"""

import ml_collections

from experiments.configs import common


def get_config(variant: str = ""):
    smoke = variant == "smoke"
    c = common.add_nets(ml_collections.ConfigDict(), variant)
    c.J = 2 if smoke else 3
    c.L = 4 if smoke else 8
    c.max_order = 2
    c.feature_batch = 64 if smoke else 1000
    c.l2 = 1e-3
    c.steps = 20 if smoke else 300
    c.max_train = 200 if smoke else 0  # > 0: that many evenly spaced training images
    c.max_test = 100 if smoke else 0
    c.compare_net = True  # also train (or reuse) the net for its test error
    return c
