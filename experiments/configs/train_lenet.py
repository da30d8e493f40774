"""MatConvNet's cnn_mnist recipe for the LeNet.

Weights 0.01*randn, zero biases, inputs as 0-255 pixels minus the mean training image, SGD
momentum 0.9, weight decay 5e-4, batch 100, learning rate 1e-3. On the 4000 training digits
of the embedded ``mnist_5k`` set 15 epochs (600 steps: the test accuracy plateaus at
96.4-96.6% from there on while the training loss goes to zero); on full MNIST
(``--config.dataset=mnist --config.data_dir=D``) MatConvNet's 20 epochs.

Variants: ``:smoke`` (a few steps, for tests).
"""

import ml_collections


def get_config(variant: str = ""):
    c = ml_collections.ConfigDict()
    c.dataset = "mnist_5k"
    c.data_dir = ""
    c.seed = 0
    c.init_scale = 0.01
    c.pixel_scale = 255.0
    c.batch_size = 100
    c.eval_batch_size = 1000
    c.learning_rate = 1e-3
    c.momentum = 0.9
    c.weight_decay = 5e-4
    # num_epochs < 0 means: 15 on mnist_5k, 20 (MatConvNet's) on full MNIST.
    c.num_epochs = -1
    c.num_steps = 0  # > 0 overrides num_epochs
    c.log_every = 40
    c.eval_every = 0  # > 0: also log the test metrics every eval_every steps
    c.checkpoint_every = 400
    if variant == "smoke":
        c.num_steps = 6
        c.batch_size = 16
        c.eval_batch_size = 256
        c.log_every = 2
        c.checkpoint_every = 3
    elif variant:
        raise ValueError(f"unknown variant {variant!r}; known: 'smoke'")
    return c


def num_epochs(config) -> int:
    """The epochs a recipe asks for: ``config.num_epochs`` when >= 0; -1 means 15 on
    ``mnist_5k`` and 20 (MatConvNet's) on the other data sets."""
    if config.num_epochs >= 0:
        return int(config.num_epochs)
    return 15 if config.dataset == "mnist_5k" else 20


def add_lenet(c: ml_collections.ConfigDict, variant: str = "") -> ml_collections.ConfigDict:
    """Gives an experiment config the fields of the LeNet it studies.

    ``c.dataset`` and ``c.data_dir`` (shared with the LeNet through references, so
    ``--config.dataset=mnist`` reaches both), ``c.lenet`` (this recipe, ``:smoke`` when the
    experiment's variant is) and ``c.lenet_workdir``: where the LeNet is trained or resumed,
    default the experiment's own workdir (or a sub-folder of it); point several experiments at
    one folder to share one trained network.
    """
    c.dataset = "mnist_5k"
    c.data_dir = ""
    c.lenet_workdir = ""
    c.lenet = get_config("smoke" if variant == "smoke" else "")
    c.lenet.dataset = c.get_ref("dataset")
    c.lenet.data_dir = c.get_ref("data_dir")
    return c
