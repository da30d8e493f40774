"""Mallat's stability theorems on real digits: pixels, scattering and the trained net's
features (``--config.model``) under smooth deformations and translations.

Variants: ``:smoke`` (few images and sizes, for tests).
"""

import ml_collections

from experiments.configs import common


def get_config(variant: str = ""):
    smoke = variant == "smoke"
    c = common.add_nets(ml_collections.ConfigDict(), variant)
    c.seed = 0
    c.num_images = 16 if smoke else 200
    c.J = 2 if smoke else 3
    c.L = 4 if smoke else 8
    c.max_order = 2
    # Deformation sizes ||grad tau||_inf, and translations in pixels.
    c.deformation_sizes = (0.0, 0.1, 0.2) if smoke else (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    c.translations = (0.0, 1.0, 2.0) if smoke else (0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)
    return c
