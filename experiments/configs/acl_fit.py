"""Fitting the analytic families to trained first-layer kernels.

Default: conv1 (20 slices of 5x5) of the mnist_5k LeNet of ``train_lenet`` (trained or resumed
in ``lenet_workdir``, default ``<workdir>/lenet``). ``--config.kernels_npy=path.npy`` fits any
HWIO ``(k, k, I, O)`` tensor instead; ``--config.dataset=cifar10 --config.data_dir=D`` fits
the first layer of a small plain four-layer net trained on CIFAR-10.

Variants: ``:smoke`` (a few LeNet steps and fitting steps, for tests).
"""

import ml_collections

from experiments.configs import train_lenet


def get_config(variant: str = ""):
    c = ml_collections.ConfigDict()
    c.dataset = "mnist_5k"
    c.data_dir = ""
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
    # (features, kernel size) of the plain four-layer net trained on cifar10
    c.cifar_convs = ((32, 5), (64, 5), (64, 3), (10, 3))
    c.lenet_workdir = ""
    c.lenet = train_lenet.get_config("smoke" if variant == "smoke" else "")
    if variant == "smoke":
        c.steps = 30
        c.families = ("G", "Lg", "Tf")
        c.n_angles = 2
        c.n_scales = 2
        c.cifar_convs = ((4, 5), (8, 5), (8, 3), (10, 3))
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    c.lenet.dataset = c.get_ref("dataset")
    c.lenet.data_dir = c.get_ref("data_dir")
    return c
