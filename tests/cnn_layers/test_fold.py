"""fold_batchnorm against its closed form, and folded nets against unfolded ones."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cnn_layers import (
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Pool,
    ReLU,
    Residual,
    fold_batchnorm,
    fold_batchnorms,
    forward,
)
from tests.cnn_layers import oracles

TOL = dict(rtol=1e-10, atol=1e-10)


def _bn(rng, c, scale=True, offset=True, eps=1e-3):
    return BatchNorm(
        rng.normal(size=c) if scale else None,
        rng.normal(size=c) if offset else None,
        rng.normal(size=c),
        rng.uniform(0.5, 2.0, c),
        eps,
    )


@pytest.mark.parametrize("kind", ["conv", "dense"])
def test_fold_batchnorm_closed_form(kind):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(3, 3, 2, 4) if kind == "conv" else (12, 4))
    b = rng.normal(size=4)
    layer = Conv(w, b, stride=2, padding="SAME") if kind == "conv" else Dense(w, b)
    bn = _bn(rng, 4)
    with jax.enable_x64(True):
        folded = fold_batchnorm(jax.tree.map(jnp.asarray, layer), jax.tree.map(jnp.asarray, bn))
    g = bn.scale / np.sqrt(bn.var + bn.eps)
    np.testing.assert_allclose(folded.w, w * g, rtol=1e-12)
    np.testing.assert_allclose(folded.b, g * (b - bn.mean) + bn.offset, rtol=1e-12)
    assert type(folded) is type(layer)


@pytest.mark.parametrize(
    "scale, offset", [(True, True), (False, True), (True, False), (False, False)]
)
@pytest.mark.parametrize("has_bias", [True, False])
def test_folded_net_equals_unfolded(scale, offset, has_bias):
    rng = np.random.default_rng(1)
    b = lambda n: rng.normal(size=n) if has_bias else None
    net = [
        Conv(rng.normal(size=(3, 3, 2, 3)), b(3), 2, "SAME"),
        _bn(rng, 3, scale, offset),
        ReLU(),
        Flatten(),
        Dense(rng.normal(size=(27, 4)), b(4)),
        _bn(rng, 4, scale, offset),
    ]
    x = rng.normal(size=(2, 6, 5, 2))
    with jax.enable_x64(True):
        net = jax.tree.map(jnp.asarray, net)
        folded = fold_batchnorms(net)
        assert [type(layer) for layer in folded] == [Conv, ReLU, Flatten, Dense]
        assert folded[0].stride == 2 and folded[0].padding == "SAME"
        jit_fold = jax.jit(fold_batchnorm)(net[4], net[5])  # layers are pytree arguments
        np.testing.assert_allclose(jit_fold.w, folded[3].w, rtol=1e-14)
        for bias in (True, False):  # bias=False: the folded bias and the bn shift both go
            out = forward(folded, jnp.asarray(x), bias=bias)
            np.testing.assert_allclose(out, forward(net, jnp.asarray(x), bias=bias), **TOL)
            np.testing.assert_allclose(out, oracles.forward(net, x, bias), **TOL)


def test_fold_batchnorms_inside_residual_paths_and_what_stays():
    rng = np.random.default_rng(2)
    conv = lambda i, o, s=1: Conv(rng.normal(size=(3, 3, i, o)), rng.normal(size=o), s, "SAME")
    proj = Conv(rng.normal(size=(1, 1, 2, 3)), None, 2)
    net = [
        _bn(rng, 2),  # first: nothing to fold into
        conv(2, 2),
        ReLU(),
        _bn(rng, 2),  # after a ReLU: stays
        Residual(
            [conv(2, 3, 2), _bn(rng, 3), ReLU(), Residual([conv(3, 3), _bn(rng, 3)])],
            [proj, _bn(rng, 3)],
        ),
        _bn(rng, 3),  # after a Residual: stays
        GlobalAvgPool(),
        Dense(rng.normal(size=(3, 2))),
        _bn(rng, 2),
    ]
    with jax.enable_x64(True):  # numpy float64 statistics fold in float64 only under x64
        folded = fold_batchnorms(net)
    kinds = lambda layers: [type(layer).__name__ for layer in layers]
    assert kinds(folded) == [
        "BatchNorm",
        "Conv",
        "ReLU",
        "BatchNorm",
        "Residual",
        "BatchNorm",
        "GlobalAvgPool",
        "Dense",
    ]
    res = folded[4]
    assert kinds(res.block) == ["Conv", "ReLU", "Residual"] and kinds(res.shortcut) == ["Conv"]
    assert kinds(res.block[2].block) == ["Conv"] and res.shortcut[0].b is not None
    assert res.block[0].stride == 2 and res.shortcut[0].stride == 2
    x = rng.normal(size=(2, 8, 7, 2))
    with jax.enable_x64(True):
        out = forward(jax.tree.map(jnp.asarray, folded), jnp.asarray(x))
    np.testing.assert_allclose(out, oracles.forward(net, x), **TOL)
    assert kinds(net).count("BatchNorm") == 4  # the input list is not changed


def test_fold_keeps_dtypes_and_promotes_integer_weights():
    bn = BatchNorm(None, None, np.zeros(2, np.float32), np.ones(2, np.float32), eps=0.0)
    folded = fold_batchnorm(Conv(jnp.ones((1, 1, 1, 2), jnp.float32)), bn)
    assert folded.w.dtype == jnp.float32 and folded.b.dtype == jnp.float32
    ints = fold_batchnorm(Dense(np.array([[2, 3]])), bn)
    assert jnp.issubdtype(ints.w.dtype, jnp.floating)
    np.testing.assert_array_equal(ints.w, [[2.0, 3.0]])


FOLD_ERRORS = {
    "channels": (
        lambda: fold_batchnorm(Conv(np.ones((3, 3, 1, 4))), _bn(np.random.default_rng(0), 3)),
        ValueError,
        r"bn has 3 channels but the Conv before it has 4 outputs",
    ),
    "dense channels": (
        lambda: fold_batchnorm(Dense(np.ones((8, 2))), _bn(np.random.default_rng(0), 8)),
        ValueError,
        r"bn has 8 channels but the Dense before it has 2 outputs",
    ),
    "not a conv": (
        lambda: fold_batchnorm(Pool(2), _bn(np.random.default_rng(0), 3)),
        TypeError,
        r"layer must be a Conv or Dense, got Pool",
    ),
    "not a batchnorm": (
        lambda: fold_batchnorm(Conv(np.ones((1, 1, 1, 1))), ReLU()),
        TypeError,
        r"bn must be a BatchNorm, got ReLU",
    ),
    "complex conv": (
        lambda: fold_batchnorm(Conv(np.ones((1, 1, 1, 1)) * 1j), _bn(np.random.default_rng(0), 1)),
        TypeError,
        r"layer\.w must be real",
    ),
    "complex statistics": (
        lambda: fold_batchnorm(
            Conv(np.ones((1, 1, 1, 1))), BatchNorm(None, None, np.ones(1) * 1j, np.ones(1))
        ),
        TypeError,
        r"bn\.mean must be real",
    ),
    "layers not a list": (
        lambda: fold_batchnorms(Conv(np.ones((1, 1, 1, 1)))),
        TypeError,
        r"layers must be a list of layers, got Conv",
    ),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", sorted(FOLD_ERRORS))
def test_fold_errors(case):
    make, error, pattern = FOLD_ERRORS[case]
    with pytest.raises(error, match=pattern):
        make()


def test_fold_batchnorms_under_jit():
    rng = np.random.default_rng(3)
    net = [Conv(rng.normal(size=(3, 3, 1, 2))), _bn(rng, 2), ReLU(), Residual([_bn(rng, 2)])]
    with jax.enable_x64(True):
        net = jax.tree.map(jnp.asarray, net)
        folded = jax.jit(fold_batchnorms)(net)  # a list of layers in, a list of layers out
        assert [type(layer) for layer in folded] == [Conv, ReLU, Residual]
        np.testing.assert_allclose(folded[0].w, fold_batchnorms(net)[0].w, rtol=1e-15)
        g, h = jax.jit(BatchNorm.gain_and_shift)(net[1])
        np.testing.assert_allclose(g, net[1].scale / jnp.sqrt(net[1].var + 1e-3), rtol=1e-14)
