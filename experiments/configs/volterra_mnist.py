"""The Volterra paper's MNIST study: a conv-sigmoid net ending in a global mean.

The net (``experiments.models.sigmoid_net.SigmoidNet``) is trained with the SGD recipe of
``experiments.core.train`` on images in [0, 1] minus the mean training image. Its kernels: white box
by ``from_layers`` (order ``white_order``), black box by ``hack`` on (input, output) pairs of
the net on receptive-field-sized inputs, fed either unit-norm Gaussian inputs or random crops
of training digits (``hack_inputs``). Budgets ``eps`` are L-inf in those pixel units.

Variants: ``:smoke`` (a few steps and images, for tests).
"""

import ml_collections

from experiments.configs import common


def get_config(variant: str = ""):
    c = ml_collections.ConfigDict()
    c.data = common.data(variant)
    c.seed = 0
    c.width1 = 32
    c.width2 = 64
    # training (experiments.core.train)
    c.pixel_scale = 1.0
    c.batch_size = 100
    c.eval_batch_size = 1000
    c.learning_rate = 1.0
    c.momentum = 0.9
    c.weight_decay = 1e-4
    c.num_epochs = 40  # 1600 steps: 96.1% test accuracy on mnist_5k
    c.num_steps = 0  # > 0 overrides num_epochs
    c.log_every = 40
    c.eval_every = 0
    c.checkpoint_every = 400
    # kernels
    c.white_order = 2
    c.proxy_eval_images = 500  # test images on which the series' own accuracy is measured
    c.hack_inputs = ("unit_norm", "images")
    # L2 norm of the Gaussian hacking inputs (the authors: 1); the trained net is strongly
    # nonlinear at norm 1 on a 17x17 crop, so orders >= 3 bias the fitted h1 (0.36 error at
    # norm 1 against 0.04 at norm 0.1 with these settings)
    c.hack_input_norm = 0.1
    c.hack_order = 2
    c.hack_rank = 8
    c.hack_steps = 6000
    c.hack_batch = 64
    c.hack_learning_rate = 5e-2  # cosine decay; at 1e-2 and 3000 steps h1 is still 0.78 off
    # perturbation analysis and attacks
    c.perturb_images = 200
    c.perturb_eps = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3)
    c.attack_images = 500
    c.attack_eps = (0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3)
    if variant == "smoke":
        c.num_steps = 10
        c.learning_rate = 0.5
        c.batch_size = 32
        c.eval_batch_size = 500
        c.log_every = 5
        c.checkpoint_every = 10
        c.width1 = 4
        c.width2 = 8
        c.proxy_eval_images = 16
        c.hack_inputs = ("images",)
        c.hack_steps = 40
        c.hack_batch = 16
        c.hack_rank = 2
        c.perturb_images = 16
        c.perturb_eps = (0.001, 0.3)
        c.attack_images = 16
        c.attack_eps = (0.0, 0.3)
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    return c
