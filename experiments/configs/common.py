"""The values every experiment shares, in one place: the data, and the training recipe of each
network the experiments study (the trained nets and their smooth twins).

A recipe names its model (``model``: a key of ``experiments.models.MODELS``), that model's
architecture fields, and its training fields (those of ``experiments.core.train.train``);
``experiments.core.nets.get`` builds, trains or resumes it.

* ``lenet``: MatConvNet's cnn_mnist recipe for its MNIST LeNet: weights 0.01*randn, zero
  biases, inputs as 0-255 pixels minus the mean training image, SGD momentum 0.9, weight decay
  5e-4, batch 100, learning rate 1e-3; 15 epochs on the 4000 training digits of ``mnist_5k``
  (600 steps: the test accuracy plateaus at 96.4-96.6% from there on), MatConvNet's 20 on
  full MNIST.
* ``vgg`` and ``resnet`` (batch norms): SGD momentum 0.9, weight decay 5e-4, batch 100, the
  learning rate warmed up linearly to 0.4 over 40 steps and decayed to 0 by a cosine, 15
  epochs, training images randomly translated by up to 3 pixels, inputs in [0, 1] minus the
  mean training image: 98.0% and 98.2% on ``mnist_5k``.
* ``<name>_smooth``: the same recipe with tanh for ReLU and average for max pooling: the
  smooth twin the Volterra lens expands.
"""

import ml_collections

MODELS = ("lenet", "vgg", "resnet")


def data(variant: str = "") -> ml_collections.ConfigDict:
    """The data set: ``mnist_5k`` (embedded), ``mnist`` or ``cifar10`` from ``data_dir``."""
    del variant
    return ml_collections.ConfigDict({"dataset": "mnist_5k", "data_dir": ""})


def _training(variant: str, **fields) -> ml_collections.ConfigDict:
    c = ml_collections.ConfigDict()
    c.seed = 0
    c.batch_size = 100
    c.eval_batch_size = 1000
    c.momentum = 0.9
    c.weight_decay = 5e-4
    c.num_steps = 0  # > 0 overrides num_epochs
    c.log_every = 40
    c.eval_every = 0  # > 0: also log the test metrics every eval_every steps
    c.resume_policy = "strict"  # 'extend': a rerun may train longer (num_steps, num_epochs)
    c.update(fields)
    if variant == "smoke":
        c.num_steps = 6 if c.model == "lenet" else 4
        c.batch_size = 16
        c.eval_batch_size = 256
        c.log_every = 2
        c.checkpoint_every = 3 if c.model == "lenet" else 2
        if "warmup_steps" in c:
            c.warmup_steps = 1
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    return c


def recipe(model: str, variant: str = "", *, smooth: bool = False) -> ml_collections.ConfigDict:
    """The training recipe of ``model`` ('lenet', 'vgg', 'resnet'), its smooth twin when
    ``smooth`` (tanh, average pools)."""
    activation = "tanh" if smooth else "relu"
    pool = "avg" if smooth else "max"
    if model == "lenet":
        c = _training(
            variant,
            model="lenet",
            activation=activation,
            pool=pool,
            init_scale=0.01,
            pixel_scale=255.0,
            learning_rate=1e-3,
            num_epochs=-1,  # 15 on mnist_5k, MatConvNet's 20 on full MNIST
            checkpoint_every=400,
        )
    elif model in ("vgg", "resnet"):
        arch = (
            {"blocks": ((16, 16), (32, 32), (64,)), "pool": pool}
            if model == "vgg"
            else {"widths": (16, 32, 64)}
        )
        c = _training(
            variant,
            model=model,
            activation=activation,
            pixel_scale=1.0,
            schedule="cosine",
            learning_rate=0.4,
            warmup_steps=40,
            num_epochs=15,  # 600 steps
            max_shift=3,  # random translations of the training images by up to 3 pixels
            checkpoint_every=200,
            **arch,
        )
        if variant == "smoke":
            c.update({"blocks": ((4, 4), (8,))} if model == "vgg" else {"widths": (4, 8)})
    else:
        raise ValueError(f"model must be one of {MODELS}, got {model!r}")
    return c


def nets(variant: str = "") -> ml_collections.ConfigDict:
    """Every recipe: ``lenet``, ``lenet_smooth``, ``vgg``, ``vgg_smooth``, ``resnet``,
    ``resnet_smooth``."""
    c = ml_collections.ConfigDict()
    for model in MODELS:
        c[model] = recipe(model, variant)
        c[f"{model}_smooth"] = recipe(model, variant, smooth=True)
    return c


def add_nets(c: ml_collections.ConfigDict, variant: str = "") -> ml_collections.ConfigDict:
    """The fields of an experiment that runs on a trained net: ``model`` (a recipe of
    :func:`nets`, default the LeNet), ``data``, ``nets`` (every recipe) and ``nets_dir`` (where
    the nets are trained and reused, one workdir each; default ``<workdir>/nets``)."""
    c.model = "lenet"
    c.data = data(variant)
    c.nets = nets(variant)
    c.nets_dir = ""
    return c


def num_epochs(recipe_config, dataset: str) -> int:
    """The epochs a recipe asks for: ``num_epochs`` when >= 0; -1 means 15 on ``mnist_5k`` and
    20 (MatConvNet's) on the other data sets."""
    if recipe_config.num_epochs >= 0:
        return int(recipe_config.num_epochs)
    return 15 if dataset == "mnist_5k" else 20
