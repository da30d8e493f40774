"""Scattering features + a linear classifier on MNIST (Bruna & Mallat's setting).

Variants: ``:smoke`` (a small subset, few steps, for tests).
"""

import ml_collections

from experiments.configs import train_lenet


def get_config(variant: str = ""):
    c = train_lenet.add_lenet(ml_collections.ConfigDict(), variant)
    c.J = 3
    c.L = 8
    c.max_order = 2
    c.feature_batch = 1000
    c.l2 = 1e-3
    c.steps = 300
    c.max_train = 0  # > 0: use only the first max_train training images
    c.max_test = 0
    # The LeNet trained on the same split, for comparison (its own workdir under lenet/).
    c.compare_lenet = True
    if variant == "smoke":
        c.J = 2
        c.L = 4
        c.max_train = 200
        c.max_test = 100
        c.steps = 20
        c.feature_batch = 64
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    return c
