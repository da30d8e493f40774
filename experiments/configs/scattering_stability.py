"""Deformation and translation stability of pixels, scattering and LeNet features.

Variants: ``:smoke`` (few images and sizes, for tests).
"""

import ml_collections

from experiments.configs import train_lenet


def get_config(variant: str = ""):
    c = train_lenet.add_lenet(ml_collections.ConfigDict(), variant)
    c.num_images = 200
    c.seed = 0
    c.J = 3
    c.L = 8
    c.max_order = 2
    # Deformation sizes ||grad tau||_inf, and translations in pixels.
    c.deformation_sizes = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    c.translations = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    if variant == "smoke":
        c.num_images = 16
        c.J = 2
        c.L = 4
        c.deformation_sizes = (0.0, 0.1, 0.2)
        c.translations = (0.0, 1.0, 2.0)
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    return c
