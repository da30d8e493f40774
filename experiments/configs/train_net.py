"""Recipes of the networks ``experiments.train_net`` trains (``--config.model``).

* ``lenet``: MatConvNet's recipe (``configs/train_lenet.py``).
* ``vgg`` and ``resnet`` (batch norms): SGD momentum 0.9, weight decay 5e-4, batch 100, the
  learning rate warmed up linearly to 0.4 over 40 steps and decayed to 0 by a cosine, 15
  epochs (600 steps on the 4000 training digits of ``mnist_5k``), the training images randomly
  translated by up to 3 pixels, inputs in [0, 1] minus the mean training image. Measured on
  ``mnist_5k`` (1000 test digits, a shared 2-core CPU): VGG 98.0%, ResNet 98.2% test accuracy,
  about 4 minutes each (270 and 240 examples/s). Without the shifts (lr 0.1, 10 epochs):
  97.9% and 97.5%.

``dataset``, ``data_dir`` and ``seed`` are shared by the recipes (``--config.dataset=cifar10
--config.data_dir=D`` reaches all of them).

Variants: ``:smoke`` (a few steps of tiny nets, for tests).
"""

import ml_collections

from experiments.configs import train_lenet


def batchnorm_recipe(
    variant: str = "", *, smoke_architecture: dict, **architecture
) -> ml_collections.ConfigDict:
    """The recipe of the batch-norm nets (VGG, ResNet), with their architecture fields
    (``smoke_architecture`` replaces some in the ``:smoke`` variant)."""
    c = ml_collections.ConfigDict()
    c.dataset = "mnist_5k"
    c.data_dir = ""
    c.seed = 0
    c.pixel_scale = 1.0
    c.batch_size = 100
    c.eval_batch_size = 1000
    c.schedule = "cosine"
    c.learning_rate = 0.4
    c.warmup_steps = 40
    c.momentum = 0.9
    c.weight_decay = 5e-4
    c.num_epochs = 15  # 600 steps
    c.max_shift = 3  # random translations of the training images by up to 3 pixels
    c.num_steps = 0  # > 0 overrides num_epochs
    c.log_every = 40
    c.eval_every = 0
    c.checkpoint_every = 200
    c.update(architecture)
    if variant == "smoke":
        c.num_steps = 4
        c.warmup_steps = 1
        c.batch_size = 16
        c.eval_batch_size = 256
        c.log_every = 2
        c.checkpoint_every = 2
        c.update(smoke_architecture)
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    return c


def get_config(variant: str = ""):
    c = ml_collections.ConfigDict()
    c.model = "lenet"
    c.dataset = "mnist_5k"
    c.data_dir = ""
    c.seed = 0
    c.lenet = train_lenet.get_config(variant)
    c.vgg = batchnorm_recipe(
        variant,
        blocks=((16, 16), (32, 32), (64,)),
        activation="relu",
        pool="max",
        smoke_architecture={"blocks": ((4, 4), (8,))},
    )
    c.resnet = batchnorm_recipe(
        variant, widths=(16, 32, 64), activation="relu", smoke_architecture={"widths": (4, 8)}
    )
    for name in ("lenet", "vgg", "resnet"):
        for field in ("dataset", "data_dir", "seed"):
            c[name][field] = c.get_ref(field)
    return c
