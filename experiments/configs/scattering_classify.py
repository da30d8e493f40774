"""Scattering features + a linear classifier on MNIST (Bruna & Mallat's setting).

Variants: ``:smoke`` (a small subset, few steps, for tests).
"""

import ml_collections

from experiments.configs import train_lenet


def get_config(variant: str = ""):
    c = ml_collections.ConfigDict()
    c.dataset = "mnist_5k"
    c.data_dir = ""
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
    # The LeNet is trained (or resumed) in lenet_workdir, default <workdir>/lenet: point several
    # experiments at one folder to share one trained network.
    c.lenet_workdir = ""
    c.lenet = train_lenet.get_config("smoke" if variant == "smoke" else "")
    if variant == "smoke":
        c.J = 2
        c.L = 4
        c.max_train = 200
        c.max_test = 100
        c.steps = 20
        c.feature_batch = 64
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    c.lenet.dataset = c.get_ref("dataset")
    c.lenet.data_dir = c.get_ref("data_dir")
    return c
