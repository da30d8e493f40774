"""The project's networks and their layer lists: ``forward(from_nnx(model), x) == model(x)``."""

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

import cnn_layers
from analytic_jax import AnalyticConv
from cnn_layers import Conv, Pool, ReLU
from experiments import models
from experiments.models import anann, sigmoid_net


def _randomize(model: nnx.Module, seed: int) -> nnx.Module:
    """Random float64 weights, analytic kernel parameters and batch-norm statistics (scale,
    offset, mean, var) in place of whatever ``model`` holds (e.g. shapes only), then inference
    mode."""
    rng = np.random.default_rng(seed)
    leaves, treedef = jax.tree.flatten_with_path(nnx.state(model))
    new = []
    for path, leaf in leaves:
        name, shape = jax.tree_util.keystr(path), leaf.shape
        if "var" in name:
            value = rng.uniform(0.3, 2.0, shape)
        elif len(shape) >= 2 and "akp_" not in name:  # kernels: outputs of unit variance
            value = rng.normal(size=shape) / math.sqrt(math.prod(shape[:-1]))
        else:  # biases, BN scales, offsets and means, raw AKP tables (any real is valid)
            value = 0.5 * rng.normal(size=shape)
        new.append(jnp.asarray(value, jnp.float64))
    nnx.update(model, jax.tree.unflatten(treedef, new))
    model.eval()
    return model


F64 = {"param_dtype": jnp.float64}
TWIN = {"activation": "tanh", "pool": "avg"}
MNIST, CIFAR = (28, 28, 1), (32, 32, 3)
SMALL_ANANN = {"conv1": "(1x20)G6Lg2Lt2Tf6Ts4", "conv2": "(20x50)G200Lg100Lt100Tf300Ts300"}
# name: (constructor, its arguments, input shape)
NETS = {
    "lenet": (models.LeNet, F64, MNIST),
    "lenet_tanh_avg": (models.LeNet, F64 | TWIN, MNIST),
    "vgg": (models.VGG, F64, MNIST),
    "vgg_tanh_avg": (models.VGG, F64 | TWIN, MNIST),
    "vgg_cifar": (models.VGG, F64 | {"in_channels": 3, "blocks": ((4,), (6, 6), (8,))}, CIFAR),
    "resnet": (models.ResNet, F64, MNIST),
    "resnet_cifar": (models.ResNet, F64 | {"in_channels": 3, "widths": (4, 6, 8)}, CIFAR),
    "sigmoid_net": (sigmoid_net.SigmoidNet, F64 | {"widths": (3, 4)}, (21, 19, 1)),
    "anann_lenet": (anann.AnaLeNet, {"arrangements": SMALL_ANANN}, MNIST),
    "anann_four": (
        anann.FourLayerNet,
        {
            "convs": ((4, 5), (6, 3), (8, 3), (10, 3)),
            "arrangements": {"conv1": "G2Lg1P1", "conv3": "Tf20Ts20P8"},
        },
        (20, 20, 1),
    ),
}


def _net(name: str) -> nnx.Module:
    ctor, kwargs, _ = NETS[name]
    return nnx.eval_shape(lambda: ctor(**kwargs, rngs=nnx.Rngs(0)))  # shapes; _randomize fills


@functools.partial(jax.jit, static_argnames=("graphdef", "fold"))
def _converted_forward(graphdef, state, x, *, fold):
    """``forward(from_nnx(model), x)``, the conversion included, as one compiled program."""
    layers = cnn_layers.from_nnx(nnx.merge(graphdef, state), fold_batchnorm=fold)
    return cnn_layers.forward(layers, x)


@pytest.mark.parametrize("name", list(NETS))
def test_layer_list_computes_the_model(name):
    """forward(from_nnx(model), x) == model(x) in float64, batch norms folded and kept."""
    shape = NETS[name][2]
    with jax.enable_x64(True):
        model = _randomize(_net(name), seed=1)
        x = jax.random.normal(jax.random.key(2), (2, *shape), jnp.float64)
        graphdef, state = nnx.split(model)
        want = np.asarray(jax.jit(lambda s, x: nnx.merge(graphdef, s)(x))(state, x))
        for fold in (True, False):
            got = _converted_forward(graphdef, state, x, fold=fold)
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())
            layers = jax.eval_shape(
                lambda s, f=fold: cnn_layers.from_nnx(nnx.merge(graphdef, s), fold_batchnorm=f),
                state,
            )
            kinds = {type(layer).__name__ for layer in layers}
            assert ("BatchNorm" in kinds) == (not fold and name.startswith(("vgg", "resnet")))
    assert want.dtype == np.float64 and want.shape == (2, 10)
    assert np.abs(want).max() > 1e-3  # a net that does something
    if name.startswith("anann"):
        assert isinstance(model.conv1, AnalyticConv)


def _reference_lenet(layers, x):
    """The LeNet written out with lax primitives: an oracle independent of Flax and of
    cnn_layers.forward."""
    for layer in layers:
        if isinstance(layer, Conv):
            dims = ("NHWC", "HWIO", "NHWC")
            x = lax.conv_general_dilated(x, layer.w, (1, 1), "VALID", dimension_numbers=dims)
            x = x + layer.b[None, None, None, :]
        elif isinstance(layer, Pool):
            x = lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        elif isinstance(layer, ReLU):
            x = jax.nn.relu(x)
    return x.reshape(x.shape[0], -1)


def test_lenet_layers_and_a_lax_transcription():
    model = models.LeNet(rngs=nnx.Rngs(0), init_scale=0.1)
    layers = cnn_layers.from_nnx(model)
    assert [type(layer).__name__ for layer in layers] == [
        "Conv", "Pool", "Conv", "Pool", "Conv", "ReLU", "Conv", "Flatten"
    ]  # fmt: skip
    assert [layers[i].w.shape for i in models.CONV_INDICES] == [
        (5, 5, 1, 20),
        (5, 5, 20, 50),
        (4, 4, 50, 500),
        (1, 1, 500, 10),
    ]
    np.testing.assert_array_equal(layers[0].w, model.conv1.kernel[...])
    x = jax.random.normal(jax.random.key(1), (3, 28, 28, 1))
    apply_fn, params = models.split_model(model)
    logits = jax.jit(apply_fn)(params, x)
    assert logits.shape == (3, 10)
    np.testing.assert_allclose(logits, model(x), rtol=1e-6)
    np.testing.assert_allclose(logits, _reference_lenet(layers, x), rtol=1e-5, atol=1e-6)
    # every index up to conv4 gives the map the decoding lens reads
    assert cnn_layers.forward(layers, x, upto=models.CONV_INDICES[-1]).shape == (3, 1, 1, 10)
    twin = cnn_layers.from_nnx(models.LeNet(activation="softplus", pool="avg", rngs=nnx.Rngs(0)))
    assert twin[5] == cnn_layers.Smooth(jax.nn.softplus) and twin[1] == Pool(2, "avg")


def test_vgg_and_resnet_structure():
    def converted(ctor):  # shapes only: nothing is initialised or computed
        def build():
            model = ctor(rngs=nnx.Rngs(0))
            model.eval()
            return cnn_layers.from_nnx(model)

        return jax.eval_shape(build)

    vgg = converted(models.VGG)
    convs = [layer for layer in vgg if isinstance(layer, Conv)]
    assert [c.w.shape for c in convs] == [
        (3, 3, 1, 16), (3, 3, 16, 16), (3, 3, 16, 32), (3, 3, 32, 32), (3, 3, 32, 64)
    ]  # fmt: skip
    assert {c.padding for c in convs} == {"SAME"} and {c.stride for c in convs} == {1}
    assert [type(layer).__name__ for layer in vgg[-3:]] == ["ReLU", "GlobalAvgPool", "Dense"]
    assert vgg[-1].w.shape == (64, 10)
    assert [layer for layer in vgg if isinstance(layer, Pool)] == [Pool(2, "max")] * 2

    resnet = converted(models.ResNet)
    assert [type(layer).__name__ for layer in resnet] == [
        "Conv", "ReLU", "Residual", "ReLU", "Residual", "ReLU", "Residual", "ReLU",
        "GlobalAvgPool", "Dense",
    ]  # fmt: skip
    blocks = [layer for layer in resnet if isinstance(layer, cnn_layers.Residual)]
    assert blocks[0].shortcut == ()
    for block, (cin, cout) in zip(blocks[1:], ((16, 32), (32, 64)), strict=True):
        (proj,) = block.shortcut  # its batch norm folded into it
        assert proj.w.shape == (1, 1, cin, cout) and proj.stride == 2
        c1 = block.block[0]
        assert c1.w.shape == (3, 3, cin, cout) and c1.stride == 2
        assert c1.padding == ((1, 1), (1, 1))
    shapes = [info.out_shape for info in cnn_layers.describe(resnet, (28, 28, 1))]
    assert [(s.h, s.w, s.c) for s in shapes[2:7:2]] == [(28, 28, 16), (14, 14, 32), (7, 7, 64)]


def test_sigmoid_net_maps_are_the_list_without_its_mean():
    with jax.enable_x64(True):
        model = _randomize(_net("sigmoid_net"), seed=0)
        x = jax.random.normal(jax.random.key(2), (2, 21, 19, 1), jnp.float64)
        layers = cnn_layers.from_nnx(model)
        maps = np.asarray(model.maps(x))
        got = np.asarray(cnn_layers.forward(layers[:-1], x))
    assert maps.shape == (2, 3, 2, 10)
    assert layers[1] == cnn_layers.Smooth(sigmoid_net.centred_sigmoid)
    np.testing.assert_allclose(got, maps, rtol=1e-12, atol=1e-12)
    # the centred sigmoid: the sigmoid net with the -1/2 folded into the next bias
    with jax.enable_x64(True):
        w, b = layers[2].w, layers[2].b
        folded = [layers[0], cnn_layers.Smooth(jax.nn.sigmoid),
                  Conv(w, b - 0.5 * w.sum(axis=(0, 1, 2)), layers[2].stride)]  # fmt: skip
        np.testing.assert_allclose(
            cnn_layers.forward(folded, x), cnn_layers.forward(layers[:3], x), atol=1e-12
        )


def test_lenet_init_follows_matconvnet():
    model = models.LeNet(rngs=nnx.Rngs(0))
    _, params = models.split_model(model)
    w = nnx.to_pure_dict(params)["conv3"]["kernel"]
    assert abs(float(jnp.std(w)) - 0.01) < 5e-4
    assert all(float(jnp.abs(p["bias"]).max()) == 0.0 for p in nnx.to_pure_dict(params).values())


def test_bad_settings():
    assert models.LeNet(activation="tanh", pool="avg", rngs=nnx.Rngs(0))(
        jnp.zeros((1, 28, 28, 1))
    ).shape == (1, 10)
    make = {
        "lenet": functools.partial(models.LeNet, rngs=nnx.Rngs(0)),
        "vgg": functools.partial(models.VGG, rngs=nnx.Rngs(0)),
        "resnet": functools.partial(models.ResNet, rngs=nnx.Rngs(0)),
    }
    for name, ctor in make.items():
        with pytest.raises(ValueError, match="activation must be one of"):
            ctor(activation="gelu")
        if name != "resnet":
            with pytest.raises(ValueError, match="pool must be one of"):
                ctor(pool="min")
    with pytest.raises(ValueError, match="blocks must be non-empty"):
        models.VGG(blocks=((16,), ()), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="widths must list"):
        models.ResNet(widths=(), rngs=nnx.Rngs(0))
