"""The Volterra paper's validation on its two- and three-layer sigmoid structures.

Each structure stacks conv layers with unit-norm Gaussian kernels (no biases, one channel) and
sigmoids between them; 1-D-style structures use 1 x ``kernel_1d`` kernels, 2-D ones
``kernel_2d`` x ``kernel_2d``. The hacking network is trained with Adam (cosine decay from
``learning_rate``) on batches of unit-norm Gaussian inputs of ``image_1d`` / ``image_2d``.

Variants: ``:smoke`` (two structures, one seed, order-1 hacks, few steps, for tests).
"""

import ml_collections


def get_config(variant: str = ""):
    c = ml_collections.ConfigDict()
    c.structures = ("1d_two_layer", "1d_three_layer", "2d_two_layer", "2d_three_layer")
    c.seeds = 5
    c.kernel_1d = 9
    c.kernel_2d = 5
    c.image_1d = 64  # the hacking inputs are 1 x image_1d (1-D) or image_2d^2 (2-D)
    c.image_2d = 24
    c.taylor_degree = 5  # the authors replace the sigmoid by its degree-5 Taylor polynomial
    c.hack_orders = (1, 2)
    c.hack_rank = 4
    c.hack_steps = 2000
    c.hack_batch = 16
    c.learning_rate = 3e-2
    if variant == "smoke":
        c.structures = ("1d_two_layer", "2d_three_layer")
        c.seeds = 1
        c.hack_orders = (1,)
        c.kernel_2d = 3
        c.image_1d = 32
        c.image_2d = 12
        c.hack_steps = 150
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    return c
