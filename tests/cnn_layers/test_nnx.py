"""from_nnx: forward(from_nnx(model), x) == model(x) in float64, and named refusals."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

import cnn_layers
from cnn_layers import (
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Pool,
    ReLU,
    Residual,
    Smooth,
    forward,
    from_nnx,
)

TOL = dict(rtol=1e-10, atol=1e-10)
# float64 parameters, initialised cheaply (zeros; eager random initialisers compile for every
# shape) and then set from numpy by _randomize
_ZEROS = nnx.initializers.zeros_init()
F64 = dict(param_dtype=jnp.float64, kernel_init=_ZEROS, bias_init=_ZEROS)
BN64 = dict(param_dtype=jnp.float64)


def _x(seed, shape):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), jnp.float64)


def _randomize(model, seed=0):
    """Random parameters, random batch-norm statistics, then eval (inference mode)."""
    rng = np.random.default_rng(seed)
    params = nnx.state(model, nnx.Param)
    nnx.update(model, jax.tree.map(lambda a: jnp.asarray(0.5 * rng.normal(size=a.shape)), params))
    for _, m in nnx.iter_modules(model):
        if isinstance(m, nnx.BatchNorm):
            c = m.mean.get_value().shape
            m.mean.set_value(jnp.asarray(rng.normal(size=c)))
            m.var.set_value(jnp.asarray(rng.uniform(0.5, 2.0, c)))
    model.eval()
    return model


_jit_forward = jax.jit(forward)  # one program per net: cheaper than compiling op by op


def _check(model, x, fold=(True, False)):
    """forward(from_nnx(model), x) == model(x) (jitted from its split state), folded and not;
    returns the folded list."""
    graphdef, state = nnx.split(model)
    expected = jax.jit(lambda state, x: nnx.merge(graphdef, state)(x))(state, x)  # eager is slow
    assert float(jnp.std(expected)) > 1e-3  # not a constant: the parameters are random
    for f in fold:
        layers = from_nnx(model, fold_batchnorm=f)
        out = _jit_forward(layers, x)
        assert out.dtype == jnp.float64 and out.shape == expected.shape
        np.testing.assert_allclose(out, expected, **TOL)
        if f:
            assert not any(isinstance(layer, BatchNorm) for layer in _flat(layers))
            folded = layers
    return folded


def _flat(layers):
    for layer in layers:
        yield layer
        if isinstance(layer, Residual):
            yield from _flat(layer.block)
            yield from _flat(layer.shortcut)


def _vgg(rngs):
    return nnx.Sequential(
        nnx.Conv(3, 8, (3, 3), padding="SAME", **F64, rngs=rngs),
        nnx.BatchNorm(8, **BN64, rngs=rngs),
        nnx.relu,
        partial(nnx.max_pool, window_shape=(2, 2), strides=(2, 2)),
        nnx.Conv(8, 8, (3, 3), padding="SAME", **F64, rngs=rngs),
        nnx.BatchNorm(8, **BN64, rngs=rngs),
        nnx.relu,
        partial(nnx.avg_pool, window_shape=(3, 3), strides=(2, 2), padding=((1, 1), (1, 1))),
        nnx.Conv(8, 6, (3, 3), strides=2, padding="SAME", **F64, rngs=rngs),
        nnx.relu,
        nnx.Dropout(0.5, rngs=rngs),
        cnn_layers.global_avg_pool,
        nnx.Linear(6, 10, **F64, rngs=rngs),
    )


def test_vgg_style_sequential():
    with jax.enable_x64(True):
        model = _randomize(_vgg(nnx.Rngs(0)))
        layers = _check(model, _x(0, (2, 15, 14, 3)))
        kinds = [type(layer).__name__ for layer in layers]
        assert kinds == ["Conv", "ReLU", "Pool", "Conv", "ReLU", "Pool", "Conv", "ReLU"] + [
            "GlobalAvgPool",
            "Dense",
        ]
        assert layers[2] == Pool(2, "max") and layers[5] == Pool(3, "avg", 2, ((1, 1), (1, 1)))
        assert (layers[6].stride, layers[6].padding) == (2, "SAME")


class Block(nnx.Module):
    """A ResNet basic block; a 1x1 strided projection when the shape changes."""

    def __init__(self, cin, cout, stride, rngs):
        conv = partial(nnx.Conv, padding="SAME", use_bias=False, **F64, rngs=rngs)
        self.c1 = conv(cin, cout, (3, 3), strides=stride)
        self.bn1 = nnx.BatchNorm(cout, **BN64, rngs=rngs)
        self.c2 = conv(cout, cout, (3, 3))
        self.bn2 = nnx.BatchNorm(cout, **BN64, rngs=rngs)
        self.proj = self.proj_bn = nnx.data(None)
        if stride != 1 or cin != cout:
            self.proj = nnx.Conv(
                cin, cout, (1, 1), strides=(stride, stride), padding="VALID", **F64, rngs=rngs
            )
            self.proj_bn = nnx.BatchNorm(cout, **BN64, rngs=rngs)

    def __call__(self, x):
        y = self.bn2(self.c2(nnx.relu(self.bn1(self.c1(x)))))
        return nnx.relu(y + (x if self.proj is None else self.proj_bn(self.proj(x))))

    def as_layers(self):
        shortcut = [] if self.proj is None else [self.proj, self.proj_bn]
        return [Residual([self.c1, self.bn1, nnx.relu, self.c2, self.bn2], shortcut), nnx.relu]


class ResNet(nnx.Module):
    def __init__(self, rngs):
        self.stem = nnx.Conv(2, 4, (3, 3), **F64, rngs=rngs)
        self.bn = nnx.BatchNorm(4, **BN64, rngs=rngs)
        self.b1 = Block(4, 4, 1, rngs)
        self.b2 = Block(4, 6, 2, rngs)
        self.head = nnx.Linear(6, 3, **F64, rngs=rngs)

    def __call__(self, x):
        x = self.b2(self.b1(nnx.relu(self.bn(self.stem(x)))))
        return self.head(cnn_layers.global_avg_pool(x))

    def as_layers(self):
        return [
            self.stem,
            self.bn,
            nnx.relu,
            self.b1,
            self.b2,
            cnn_layers.global_avg_pool,
            self.head,
        ]


def test_resnet_through_as_layers():
    with jax.enable_x64(True):
        model = _randomize(ResNet(nnx.Rngs(1)))
        # SAME stride 2 next to a VALID 1x1 stride 2 on an odd (9) and an even (10) axis
        layers = _check(model, _x(2, (2, 11, 12, 2)))
        res = layers[2]
        assert isinstance(res, Residual) and res.shortcut == ()  # identity shortcut
        proj = layers[4].shortcut
        assert len(proj) == 1 and proj[0].stride == 2 and np.shape(proj[0].w)[:2] == (1, 1)
        assert proj[0].b is not None  # the folded batch norm's shift


def test_linear_on_a_map_and_after_a_flatten():
    with jax.enable_x64(True):
        rngs = nnx.Rngs(2)
        model = nnx.Sequential(
            nnx.Conv(2, 4, (3, 3), padding="VALID", **F64, rngs=rngs),
            nnx.Linear(4, 3, **F64, rngs=rngs),  # on each pixel: a 1x1 conv
            nnx.tanh,
            cnn_layers.flatten,
            nnx.Linear(5 * 4 * 3, 6, **F64, rngs=rngs),  # after the flatten: a Dense
            nnx.relu,
            nnx.Linear(6, 2, **F64, rngs=rngs),
        )
        layers = _check(_randomize(model), _x(3, (2, 7, 6, 2)), fold=(True,))
        assert isinstance(layers[1], Conv) and np.shape(layers[1].w) == (1, 1, 4, 3)
        assert isinstance(layers[3], Flatten) and isinstance(layers[4], Dense)
        assert isinstance(layers[6], Dense) and np.shape(layers[6].w) == (6, 2)


# chains of nnx.Conv settings: kernel dilation, feature groups, explicit / int / per-axis
# padding, strides as int and tuple, even kernels, no bias
CONVS = {
    "dilation, groups, paddings": [
        dict(kernel_size=(2, 3), kernel_dilation=(2, 2), padding="VALID"),
        dict(kernel_size=(3, 3), kernel_dilation=2, padding="SAME"),
        dict(kernel_size=(3, 3), feature_group_count=2, strides=2, padding=1),
        dict(kernel_size=(3, 3), padding=((1, 2), (0, 1)), use_bias=False),
    ],
    "strides and even kernels": [
        dict(kernel_size=(2, 2), padding="SAME"),
        dict(kernel_size=(4, 4), strides=(3, 3), padding="SAME"),
        dict(kernel_size=(3, 3), feature_group_count=2, padding=(1, 0)),
    ],
    "int padding, int stride": [
        dict(kernel_size=(3, 3), padding=2, strides=2),
        dict(kernel_size=(3, 3), strides=1, padding="VALID"),
    ],
}


@pytest.mark.parametrize("case", sorted(CONVS))
def test_conv_settings(case):
    with jax.enable_x64(True):
        rngs = nnx.Rngs(3)
        model = nnx.Sequential(*[nnx.Conv(4, 4, **kw, **F64, rngs=rngs) for kw in CONVS[case]])
        layers = _check(_randomize(model), _x(4, (2, 11, 10, 4)), fold=(True,))
        strides = [np.max(kw.get("strides", 1)) for kw in CONVS[case]]
        assert [layer.stride for layer in layers] == strides


def test_conv_with_a_mask():
    with jax.enable_x64(True):
        mask = jnp.asarray(np.random.default_rng(5).integers(0, 2, (3, 3, 2, 3)), jnp.float64)
        conv = nnx.Conv(2, 3, (3, 3), mask=mask, **F64, rngs=nnx.Rngs(4))
        (layer,) = _check(_randomize(nnx.Sequential(conv)), _x(5, (1, 6, 6, 2)), fold=(True,))
        assert np.all(np.asarray(layer.w)[np.asarray(mask) == 0] == 0)


@pytest.mark.parametrize(
    "fn",
    [
        nnx.tanh,
        nnx.sigmoid,
        nnx.gelu,
        partial(nnx.gelu, approximate=False),
        nnx.silu,
        nnx.swish,
        nnx.softplus,
        nnx.log_sigmoid,
        jax.nn.tanh,
        jnp.tanh,
    ],
    ids=lambda f: getattr(f, "__name__", None) or repr(f)[:40],
)
def test_smooth_activations(fn):
    with jax.enable_x64(True):
        layers = _check(nnx.Sequential(fn, nnx.identity), 3 * _x(6, (1, 5, 5, 2)), fold=(True,))
        assert layers == [Smooth(fn)] and layers[0].fn is fn


def test_vocabulary_layers_pass_through_and_nested_sequentials():
    with jax.enable_x64(True):
        rngs = nnx.Rngs(6)
        inner = nnx.Sequential(
            nnx.Conv(2, 3, (3, 3), **F64, rngs=rngs), nnx.BatchNorm(3, **BN64, rngs=rngs)
        )
        model = nnx.Sequential(inner, nnx.relu, nnx.Sequential(nnx.Dropout(0.2, rngs=rngs)))
        model = _randomize(model)
        own = [model, Smooth(jnp.tanh), Pool(2, "avg"), GlobalAvgPool()]
        layers = from_nnx(own)
        assert [type(layer) for layer in layers] == [Conv, ReLU, Smooth, Pool, GlobalAvgPool]
        x = _x(7, (2, 6, 6, 2))
        expected = jnp.mean(nnx.avg_pool(jnp.tanh(model(x)), (2, 2), (2, 2)), axis=(1, 2))
        np.testing.assert_allclose(forward(layers, x), expected, **TOL)


def test_from_nnx_inside_jit():
    # a user's jitted function that merges the model from its state and converts it
    with jax.enable_x64(True):
        model = _randomize(_vgg(nnx.Rngs(7)))
        graphdef, state = nnx.split(model)
        x = _x(8, (1, 12, 12, 3))

        @jax.jit
        def run(state, x):
            return forward(from_nnx(nnx.merge(graphdef, state)), x)

        np.testing.assert_allclose(run(state, x), model(x), **TOL)


def _conv(**kw):
    size = kw.pop("kernel_size", (3, 3))
    return nnx.Conv(2, 2, size, **kw, kernel_init=_ZEROS, rngs=nnx.Rngs(0))


class Custom(nnx.Module):
    def __call__(self, x):
        return x


class BadBlock(nnx.Module):
    def __init__(self):
        self.conv = _conv()

    def as_layers(self):
        return [Residual([self.conv, nnx.elu])]


class BadProtocol(nnx.Module):
    def as_layers(self):
        return {"conv": 1}


def _seq(*items):
    return nnx.Sequential(_conv(), nnx.relu, *items)


# (model, exception, pattern): where the module sits, what it is, and the supported list
REFUSALS = {
    "layer norm": (
        lambda: _seq(nnx.LayerNorm(2, rngs=nnx.Rngs(0))),
        r"model\.layers\[2\] is a LayerNorm module",
    ),
    "a lambda": (lambda: _seq(lambda x: x), r"model\.layers\[2\] is the function <lambda>"),
    "leaky relu": (lambda: _seq(nnx.leaky_relu), r"model\.layers\[2\] is the function leaky_relu"),
    "elu": (lambda: _seq(nnx.elu), r"the function elu"),
    "softmax": (lambda: _seq(nnx.softmax), r"model\.layers\[2\] is the function softmax"),
    "gelu with a positional argument": (
        lambda: _seq(partial(nnx.gelu, False)),
        r"the function gelu",
    ),
    "circular padding": (
        lambda: nnx.Sequential(_conv(padding="CIRCULAR")),
        r"model\.layers\[0\] is an nnx\.Conv.*padding='CIRCULAR'",
    ),
    "reflect padding": (lambda: nnx.Sequential(_conv(padding="REFLECT")), r"padding='REFLECT'"),
    "causal padding": (lambda: nnx.Sequential(_conv(padding="CAUSAL")), r"padding='CAUSAL'"),
    "anisotropic strides": (
        lambda: nnx.Sequential(_conv(strides=(1, 2))),
        r"strides=\(1, 2\): only the same int on both axes",
    ),
    "anisotropic dilation": (
        lambda: nnx.Sequential(_conv(kernel_dilation=(1, 2))),
        r"kernel_dilation=\(1, 2\)",
    ),
    "a 1-D conv": (
        lambda: nnx.Sequential(_conv(kernel_size=(3,))),
        r"a 1-D convolution; only 2-D ones are",
    ),
    "a 3-D conv": (lambda: nnx.Sequential(_conv(kernel_size=(3, 3, 3))), r"a 3-D convolution"),
    "input dilation": (
        lambda: nnx.Sequential(_conv(input_dilation=2)),
        r"input_dilation > 1 \(a transposed convolution\)",
    ),
    "custom conv function": (
        lambda: nnx.Sequential(_conv(conv_general_dilated=partial(jax.lax.conv_general_dilated))),
        r"a custom conv_general_dilated",
    ),
    "avg pool excluding padding": (
        lambda: _seq(
            partial(nnx.avg_pool, window_shape=(3, 3), padding="SAME", count_include_pad=False)
        ),
        r"count_include_pad=False with padding is not linear",
    ),
    "max pool without partial": (
        lambda: _seq(nnx.max_pool),
        r"model\.layers\[2\] is max_pool without its window.*functools\.partial",
    ),
    "avg pool without a window": (
        lambda: _seq(partial(nnx.avg_pool, strides=(2, 2))),
        r"window_shape",
    ),
    "anisotropic pool": (
        lambda: _seq(partial(nnx.max_pool, window_shape=(2, 3))),
        r"window_shape=\(2, 3\)",
    ),
    "a custom module": (lambda: _seq(Custom()), r"model\.layers\[2\] is a Custom module"),
    "batch norm over axis 1": (
        lambda: _seq(nnx.BatchNorm(2, axis=1, use_running_average=True, rngs=nnx.Rngs(0))),
        r"axis=1; only the last axis",
    ),
    "inside as_layers": (
        lambda: nnx.Sequential(_conv(), BadBlock()),
        r"model\.layers\[1\]\.as_layers\(\)\[0\]\.block\[1\] is the function elu",
    ),
    "inside a residual path": (
        lambda: [Residual([_conv(), nnx.elu])],
        r"model\[0\]\.block\[1\] is the function elu",
    ),
    "an integer": (lambda: _seq(3), r"model\.layers\[2\] is an int"),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", sorted(REFUSALS))
def test_refusals_name_the_module_and_list_what_is_supported(case):
    make, pattern = REFUSALS[case]
    model = make()
    with pytest.raises(ValueError, match=pattern) as info:
        from_nnx(model)
    message = str(info.value)
    assert message.startswith("from_nnx: ") and "Supported: nnx.Sequential, nnx.Conv" in message
    assert "as_layers()" in message and "nnx.max_pool" in message


OTHER_ERRORS = {
    "as_layers returns a dict": (
        lambda: BadProtocol(),
        TypeError,
        r"model\.as_layers\(\) must return a list of layers, got dict",
    ),
    "nothing but dropout": (
        lambda: nnx.Sequential(nnx.Dropout(0.5, deterministic=True, rngs=nnx.Rngs(0))),
        ValueError,
        r"converts to no layers",
    ),
    "batch norm in training mode": (
        lambda: nnx.Sequential(_conv(), nnx.BatchNorm(2, rngs=nnx.Rngs(0))),
        ValueError,
        r"model\.layers\[1\] is an nnx\.BatchNorm in training mode.*call model\.eval\(\)",
    ),
    "dropout in training mode": (
        lambda: nnx.Sequential(_conv(), nnx.Dropout(0.5, rngs=nnx.Rngs(0))),
        ValueError,
        r"model\.layers\[1\] is an nnx\.Dropout in training mode",
    ),
    "channels do not chain": (
        lambda: nnx.Sequential(_conv(), nnx.Conv(3, 2, (3, 3), rngs=nnx.Rngs(0))),
        ValueError,
        r"layers\[1\] \(Conv\) expects 3 input channels",
    ),
    "dense after a map of other size": (
        lambda: [_conv(), cnn_layers.global_avg_pool, nnx.Linear(5, 2, rngs=nnx.Rngs(0))],
        ValueError,
        r"layers\[2\] \(Dense\) has 5 input features",
    ),
}


@pytest.mark.parametrize("case", sorted(OTHER_ERRORS))
def test_other_errors(case):
    make, error, pattern = OTHER_ERRORS[case]
    model = make()
    with pytest.raises(error, match=pattern):
        from_nnx(model)


class Stack(nnx.Module):
    """Blocks kept in an nnx.List (Flax 0.12's container for a list of modules)."""

    def __init__(self, rngs):
        self.blocks = nnx.List([Block(2, 2, 1, rngs), Block(2, 3, 2, rngs)])

    def __call__(self, x):
        for block in self.blocks:
            x = block(x)
        return x

    def as_layers(self):
        return self.blocks


def test_nnx_list_in_as_layers_and_as_an_item():
    with jax.enable_x64(True):
        model = _randomize(Stack(nnx.Rngs(8)))
        layers = _check(model, _x(9, (1, 7, 6, 2)), fold=(True,))
        assert [type(layer) for layer in layers] == [Residual, ReLU, Residual, ReLU]
        nested = from_nnx([model.blocks, nnx.relu])  # an nnx.List among the items
        assert [type(layer) for layer in nested] == [Residual, ReLU, Residual, ReLU, ReLU]


class PooledSum(nnx.Module):
    """A residual whose paths end in a global pool, then a Linear on the vector."""

    def __init__(self, rngs):
        self.conv = nnx.Conv(2, 2, (3, 3), **F64, rngs=rngs)
        self.head = nnx.Linear(2, 3, **F64, rngs=rngs)

    def __call__(self, x):
        pooled = cnn_layers.global_avg_pool
        return self.head(pooled(self.conv(x)) + pooled(x))

    def as_layers(self):
        pooled = cnn_layers.global_avg_pool
        return [Residual([self.conv, pooled], [pooled]), self.head]


def test_linear_after_a_residual_that_pools_is_a_dense():
    with jax.enable_x64(True):
        layers = _check(_randomize(PooledSum(nnx.Rngs(9))), _x(10, (2, 6, 5, 2)), fold=(True,))
        assert isinstance(layers[1], Dense)
