"""The tour: all four lenses on one trained LeNet (and its smooth twin), in minutes on a CPU.

Variants: ``:smoke`` (a few training steps and a few images per lens, for tests).
"""

import ml_collections

from experiments.configs import decode_lenet, scattering_classify, scattering_stability, train_lenet


def get_config(variant: str = ""):
    smoke = variant == "smoke"
    if variant and not smoke:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    c = train_lenet.add_lenet(ml_collections.ConfigDict(), variant)
    c.seed = 0
    # The smooth twin for the Volterra lens: tanh instead of ReLU, average pooling.
    c.smooth_activation = "tanh"
    c.decoding = decode_lenet.get_config(variant)
    c.decoding.num_images = 40 if smoke else 1000
    c.decoding.deconvnet_images = 2 if smoke else 10
    c.decoding.unpool_methods = ("bicubic", "nearest", "bilinear")
    c.scattering_classify = scattering_classify.get_config(variant)
    c.scattering_classify.compare_lenet = False
    c.scattering_stability = scattering_stability.get_config(variant)
    c.scattering_stability.num_images = 16 if smoke else 100
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
    return c
