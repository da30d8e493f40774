"""The networks of the ACL experiments (Cui et al., arXiv 2407.06087, Figure 5), Flax NNX, NHWC.

* :class:`AnaLeNet`: MatConvNet's MNIST LeNet (:class:`experiments.models.LeNet`: conv 20@5x5,
  maxpool 2, conv 50@5x5, maxpool 2, conv 500@4x4, ReLU, conv 10@1x1, VALID) whose convolutions
  named in ``arrangements`` are :class:`analytic_jax.AnalyticConv` mosaics (AnaNN-LeNet); with
  no arrangement it has exactly the parameters of the plain LeNet.
* :class:`FourLayerNet`: a small four-convolution net (conv-ReLU-maxpool three times, SAME
  padding, then a 3x3 conv to the classes and a global average), plain or with mosaics: the
  four-layer AnaNN of Figure 5b and its plain twin, and the small CIFAR-10 net of ``acl_fit``.
* :func:`conv_param_counts`: trainable kernel scalars per conv layer, read from the nnx.Params.
* :func:`build`: constructs a model under ``jax.jit`` (one compile instead of one per op).
* :func:`match_plain_init`: rescales an AnalyticConv so that every slice has the norm of a
  plain ``init_scale * randn`` slice (MatConvNet's initialisation, needed with 0-255 inputs).
"""

import math
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
from flax import nnx

import cnn_layers
from analytic_jax import AnalyticConv, family_kernels, get_family
from experiments.models import LENET_CONVS, pool_fn

# AnaNN-LeNet's default arrangements (also in experiments/benchmarks/analytic.py):
# -51.6% conv params.
LENET_ARRANGEMENTS = {
    "conv1": "(1x20)G6Lg2Lt2Tf6Ts4",
    "conv2": "(20x50)G200Lg100Lt100Tf300Ts300",
    "conv3": "(50x500)Tf5000Ts5000Lg2500Lt2500P10000",
    "conv4": "",
}

# The four-layer net: (features, kernel size) of each convolution; the last gives the classes.
FOUR_LAYER_CONVS = ((16, 5), (32, 5), (64, 3), (10, 3))
FOUR_LAYER_ARRANGEMENTS = {
    "conv1": "(1x16)G6Lg2Lt2Tf4Ts2",
    "conv2": "(16x32)G128Lg64Lt64Tf128Ts128",
    "conv3": "(32x64)Tf512Ts512Lg256Lt256P512",
    "conv4": "",
}


def match_plain_init(conv: AnalyticConv, key: jax.Array, init_scale: float) -> None:
    """Rescales the mosaic of ``conv`` in place to MatConvNet's initial kernel scale.

    Every analytic slice keeps its shape and sign and gets the Frobenius norm
    ``init_scale * k`` (the expected norm of a ``k x k`` slice of ``init_scale * randn``); the
    plain slices are redrawn as ``init_scale * randn``.
    """
    spec = conv.spec
    k = spec.kernel_size
    target = init_scale * k
    for j, code in enumerate(spec.family_order):
        param = getattr(conv, f"akp_{code}")
        table = param[...]
        if get_family(code).plain:
            param[...] = init_scale * jax.random.normal(
                jax.random.fold_in(key, j), table.shape, table.dtype
            )
            continue
        norms = jnp.sqrt(jnp.sum(family_kernels(table, code, k) ** 2, axis=(1, 2)))
        param[...] = table.at[:, 0].multiply(target / norms)


def _conv(cin, cout, k, arrangement, padding, init_scale, rngs):
    if arrangement:
        conv = AnalyticConv(cin, cout, k, padding=padding, mosaic=arrangement, rngs=rngs)
        if init_scale is not None:
            match_plain_init(conv, rngs.params(), init_scale)
        return conv
    init = (
        nnx.initializers.lecun_normal()
        if init_scale is None
        else nnx.initializers.normal(init_scale)
    )
    return nnx.Conv(
        cin,
        cout,
        kernel_size=(k, k),
        padding=padding,
        kernel_init=init,
        bias_init=nnx.initializers.zeros_init(),
        conv_general_dilated=cnn_layers.conv_general_dilated,
        rngs=rngs,
    )


_pool = pool_fn("max")


class AnaLeNet(nnx.Module):
    """The LeNet with AnalyticConv mosaics where ``arrangements`` names one (AnaNN-LeNet).

    Args:
      in_channels: image channels.
      num_classes: outputs.
      arrangements: ``{conv name: arrangement string}``; a missing or empty entry keeps a
        plain ``nnx.Conv`` (so ``{}`` gives the plain LeNet's parameters).
      init_scale: plain weights ``init_scale * randn`` and mosaics rescaled by
        :func:`match_plain_init`; None keeps LeCun-normal / the library's initialiser.
      rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        *,
        arrangements: Mapping[str, str] = LENET_ARRANGEMENTS,
        init_scale: float | None = 0.01,
        rngs: nnx.Rngs,
    ):
        channels = in_channels
        for name, features, size in LENET_CONVS:
            if name == "conv4":
                features = num_classes
            arrangement = arrangements.get(name, "")
            setattr(
                self,
                name,
                _conv(channels, features, size, arrangement, "VALID", init_scale, rngs),
            )
            channels = features

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits ``(N, num_classes)`` for images ``(N, 28, 28, C)``."""
        x = _pool(self.conv1(x))
        x = _pool(self.conv2(x))
        x = self.conv4(jax.nn.relu(self.conv3(x)))
        return x.reshape(x.shape[0], -1)

    def as_layers(self) -> list:
        """The LeNet's layer list for :func:`cnn_layers.from_nnx` (AnalyticConvs convert
        through their own ``as_layers``)."""
        pool = cnn_layers.Pool(2, "max")
        conv1, conv2, conv3, conv4 = (getattr(self, n) for n in CONV_NAMES)
        return [conv1, pool, conv2, pool, conv3, jax.nn.relu, conv4, cnn_layers.Flatten()]


class FourLayerNet(nnx.Module):
    """Four convolutions: three conv(SAME)-ReLU-maxpool blocks, a conv to the classes, a mean.

    Args:
      in_channels: image channels.
      convs: ``(features, kernel size)`` of the four convolutions (the last features are the
        classes).
      arrangements: ``{"conv1".."conv4": arrangement}``; missing/empty keeps ``nnx.Conv``.
      init_scale: as in :class:`AnaLeNet`.
      rngs: ``nnx.Rngs``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        *,
        convs: Sequence[tuple[int, int]] = FOUR_LAYER_CONVS,
        arrangements: Mapping[str, str] | None = None,
        init_scale: float | None = 0.01,
        rngs: nnx.Rngs,
    ):
        if len(convs) != 4:
            raise ValueError(f"convs must list 4 (features, kernel size) pairs, got {convs!r}")
        arrangements = arrangements or {}
        channels = in_channels
        for j, (features, size) in enumerate(convs):
            name = f"conv{j + 1}"
            arrangement = arrangements.get(name, "")
            setattr(
                self,
                name,
                _conv(channels, features, size, arrangement, "SAME", init_scale, rngs),
            )
            channels = features

    def __call__(self, x: jax.Array) -> jax.Array:
        """Logits ``(N, classes)`` for images ``(N, H, W, C)``."""
        for name in ("conv1", "conv2", "conv3"):
            x = _pool(jax.nn.relu(getattr(self, name)(x)))
        return jnp.mean(self.conv4(x), axis=(1, 2))

    def as_layers(self) -> list:
        """``[conv1, ReLU, Pool, conv2, ReLU, Pool, conv3, ReLU, Pool, conv4, GlobalAvgPool]``
        for :func:`cnn_layers.from_nnx`."""
        pool = cnn_layers.Pool(2, "max")
        blocks = [[getattr(self, n), jax.nn.relu, pool] for n in ("conv1", "conv2", "conv3")]
        return [*sum(blocks, []), self.conv4, cnn_layers.GlobalAvgPool()]


CONV_NAMES = ("conv1", "conv2", "conv3", "conv4")


def build(ctor):
    """``ctor()`` (a model constructor without arguments) run as one compiled program.

    Built eagerly, every initialiser and AKP rescaling op compiles on its own (hundreds of
    small compiles on a CPU); under ``jax.jit`` the whole initialisation is one program.
    """
    graphdef, _ = nnx.split(nnx.eval_shape(ctor))
    state = jax.jit(lambda: nnx.split(ctor())[1])()
    return nnx.merge(graphdef, state)


def conv_param_counts(model: nnx.Module, *, with_bias: bool = False) -> dict[str, int]:
    """Trainable scalars of each conv layer ``conv1..conv4`` (kernels/AKPs, biases optional),
    counted from the model's ``nnx.Param`` leaves."""
    counts = {}
    for name in CONV_NAMES:
        state = nnx.state(getattr(model, name), nnx.Param)
        total = 0
        for path, leaf in jax.tree.leaves_with_path(state):
            if with_bias or "bias" not in jax.tree_util.keystr(path):
                total += math.prod(leaf.shape)
        counts[name] = total
    return counts


def analytic_layers(model: nnx.Module) -> dict[str, AnalyticConv]:
    """The AnalyticConv layers of a model, by name."""
    return {n: getattr(model, n) for n in CONV_NAMES if isinstance(getattr(model, n), AnalyticConv)}
