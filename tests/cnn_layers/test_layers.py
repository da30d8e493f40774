"""The layer constructors: validation, padding normalisation, pytree behaviour."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnn_layers
from cnn_layers import (
    BatchNorm,
    Conv,
    Dense,
    Flatten,
    GlobalAvgPool,
    Poly,
    Pool,
    ReLU,
    Residual,
    Smooth,
)

W = np.ones((3, 3, 2, 4))
V = np.ones(4)

# (constructor, exception, pattern): every bad setting names the class and the field
BAD_LAYERS = {
    "conv w rank 3": (lambda: Conv(np.ones((3, 3, 2))), ValueError, r"Conv\.w must have shape"),
    "conv w rank 5": (lambda: Conv(np.ones((1,) * 5)), ValueError, r"Conv\.w must have shape"),
    "conv w empty kernel": (lambda: Conv(np.ones((0, 3, 2, 4))), ValueError, r"Conv\.w .*>= 1"),
    "conv w no outputs": (lambda: Conv(np.ones((3, 3, 2, 0))), ValueError, r"Conv\.w .*>= 1"),
    "conv b rank 2": (lambda: Conv(W, np.ones((4, 1))), ValueError, r"Conv\.b must have shape"),
    "conv b length": (lambda: Conv(W, np.ones(3)), ValueError, r"Conv\.b must have shape \(4,\)"),
    "conv stride 0": (lambda: Conv(W, stride=0), ValueError, r"Conv\.stride must be a positive"),
    "conv stride -1": (lambda: Conv(W, stride=-1), ValueError, r"Conv\.stride"),
    "conv stride float": (lambda: Conv(W, stride=1.5), ValueError, r"Conv\.stride"),
    "conv stride bool": (lambda: Conv(W, stride=True), ValueError, r"Conv\.stride"),
    "conv stride str": (lambda: Conv(W, stride="2"), ValueError, r"Conv\.stride"),
    "conv stride pair": (lambda: Conv(W, stride=(2, 2)), ValueError, r"Conv\.stride"),
    "conv padding FULL": (lambda: Conv(W, padding="FULL"), ValueError, r"Conv\.padding.*'FULL'"),
    "conv padding CIRCULAR": (
        lambda: Conv(W, padding="CIRCULAR"),
        ValueError,
        r"Conv\.padding.*unknown padding 'CIRCULAR'",
    ),
    "conv padding causal": (lambda: Conv(W, padding="causal"), ValueError, r"Conv\.padding"),
    "conv padding SAME_LOWER": (
        lambda: Conv(W, padding="SAME_LOWER"),
        ValueError,
        r"Conv\.padding",
    ),
    "conv padding empty str": (lambda: Conv(W, padding=""), ValueError, r"Conv\.padding"),
    "conv padding -1": (lambda: Conv(W, padding=-1), ValueError, r"Conv\.padding.*>= 0"),
    "conv padding (1, -1)": (lambda: Conv(W, padding=(1, -1)), ValueError, r"Conv\.padding"),
    "conv padding negative pair": (
        lambda: Conv(W, padding=((0, 0), (-1, 1))),
        ValueError,
        r"Conv\.padding",
    ),
    "conv padding short pair": (
        lambda: Conv(W, padding=((1, 1), (1,))),
        ValueError,
        r"Conv\.padding",
    ),
    "conv padding three axes": (
        lambda: Conv(W, padding=((1, 1),) * 3),
        ValueError,
        r"Conv\.padding",
    ),
    "conv padding float": (lambda: Conv(W, padding=1.5), ValueError, r"Conv\.padding"),
    "conv padding float pair": (
        lambda: Conv(W, padding=((1.0, 1), (1, 1))),
        ValueError,
        r"Conv\.padding",
    ),
    "conv padding bool": (lambda: Conv(W, padding=True), ValueError, r"Conv\.padding"),
    "conv padding None": (lambda: Conv(W, padding=None), ValueError, r"Conv\.padding"),
    "pool window 0": (lambda: Pool(0), ValueError, r"Pool\.window must be a positive int"),
    "pool window -2": (lambda: Pool(-2), ValueError, r"Pool\.window"),
    "pool window float": (lambda: Pool(2.5), ValueError, r"Pool\.window"),
    "pool window bool": (lambda: Pool(True), ValueError, r"Pool\.window"),
    "pool window None": (lambda: Pool(None), ValueError, r"Pool\.window"),
    "pool window pair": (lambda: Pool((2, 2)), ValueError, r"Pool\.window"),
    "pool kind median": (lambda: Pool(2, "median"), ValueError, r"Pool\.kind must be one of"),
    "pool kind sum": (lambda: Pool(2, "sum"), ValueError, r"Pool\.kind.*'sum'"),
    "pool kind None": (lambda: Pool(2, None), ValueError, r"Pool\.kind"),
    "pool kind stride swapped": (lambda: Pool(2, 2, "max"), ValueError, r"Pool\.kind"),
    "pool stride 0": (lambda: Pool(2, stride=0), ValueError, r"Pool\.stride must be a positive"),
    "pool stride float": (lambda: Pool(2, stride=1.5), ValueError, r"Pool\.stride"),
    "pool padding FULL": (lambda: Pool(2, padding="FULL"), ValueError, r"Pool\.padding.*FULL"),
    "pool padding CIRCULAR": (lambda: Pool(2, padding="CIRCULAR"), ValueError, r"Pool\.padding"),
    "pool padding -1": (lambda: Pool(2, padding=-1), ValueError, r"Pool\.padding"),
    "bn mean rank 2": (
        lambda: BatchNorm(V, V, np.ones((4, 1)), V),
        ValueError,
        r"BatchNorm\.mean must have shape \(C,\)",
    ),
    "bn mean rank 0": (
        lambda: BatchNorm(V, V, np.float64(0.0), V),
        ValueError,
        r"BatchNorm\.mean",
    ),
    "bn var length": (
        lambda: BatchNorm(V, V, V, np.ones(3)),
        ValueError,
        r"BatchNorm\.var must have shape \(4,\)",
    ),
    "bn scale length": (
        lambda: BatchNorm(np.ones(5), V, V, V),
        ValueError,
        r"BatchNorm\.scale must have shape \(4,\)",
    ),
    "bn offset rank 2": (
        lambda: BatchNorm(V, np.ones((2, 2)), V, V),
        ValueError,
        r"BatchNorm\.offset",
    ),
    "bn eps negative": (lambda: BatchNorm(V, V, V, V, -1e-5), ValueError, r"BatchNorm\.eps"),
    "bn eps str": (lambda: BatchNorm(V, V, V, V, "1e-5"), ValueError, r"BatchNorm\.eps"),
    "bn eps bool": (lambda: BatchNorm(V, V, V, V, True), ValueError, r"BatchNorm\.eps"),
    "bn eps nan": (lambda: BatchNorm(V, V, V, V, float("nan")), ValueError, r"BatchNorm\.eps"),
    "bn eps inf": (lambda: BatchNorm(V, V, V, V, float("inf")), ValueError, r"BatchNorm\.eps"),
    "bn eps array": (lambda: BatchNorm(V, V, V, V, np.ones(4)), ValueError, r"BatchNorm\.eps"),
    "dense w rank 1": (lambda: Dense(np.ones(4)), ValueError, r"Dense\.w must have shape"),
    "dense w rank 3": (lambda: Dense(np.ones((2, 2, 2))), ValueError, r"Dense\.w"),
    "dense w empty": (lambda: Dense(np.ones((0, 3))), ValueError, r"Dense\.w .*>= 1"),
    "dense b length": (lambda: Dense(np.ones((4, 3)), V), ValueError, r"Dense\.b .*\(3,\)"),
    "dense b rank 2": (lambda: Dense(np.ones((4, 3)), np.ones((1, 3))), ValueError, r"Dense\.b"),
    "smooth int": (lambda: Smooth(3), TypeError, r"Smooth\.fn must be callable"),
    "smooth name": (lambda: Smooth("tanh"), TypeError, r"Smooth\.fn must be callable, got str"),
    "poly rank 2": (lambda: Poly(np.ones((2, 2))), ValueError, r"Poly\.coeffs must have shape"),
    "poly rank 0": (lambda: Poly(np.float64(1.0)), ValueError, r"Poly\.coeffs"),
    "poly empty": (lambda: Poly(np.ones(0)), ValueError, r"Poly\.coeffs .*at least one"),
    "residual empty block": (lambda: Residual([]), ValueError, r"Residual\.block must hold"),
    "residual block a layer": (lambda: Residual(ReLU()), TypeError, r"Residual\.block must be"),
    "residual block None": (lambda: Residual(None), TypeError, r"Residual\.block"),
    "residual shortcut a layer": (
        lambda: Residual([ReLU()], Conv(W)),
        TypeError,
        r"Residual\.shortcut must be a list of layers, got Conv",
    ),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", sorted(BAD_LAYERS))
def test_bad_layer_settings_name_the_class_and_field(case):
    make, error, pattern = BAD_LAYERS[case]
    with pytest.raises(error, match=pattern):
        make()


@pytest.mark.parametrize(
    "padding, expected",
    [
        ("VALID", "VALID"),
        ("same", "SAME"),
        ("Valid", "VALID"),
        (0, ((0, 0), (0, 0))),
        (2, ((2, 2), (2, 2))),
        (np.int64(1), ((1, 1), (1, 1))),
        ((1, 2), ((1, 1), (2, 2))),
        ([1, 0], ((1, 1), (0, 0))),
        (((0, 1), (2, 3)), ((0, 1), (2, 3))),
        ([[0, 1], [2, 3]], ((0, 1), (2, 3))),
        (((np.int32(1), 0), (0, 0)), ((1, 0), (0, 0))),
    ],
)
def test_padding_normalisation(padding, expected):
    for layer in (Conv(W, padding=padding), Pool(3, padding=padding)):
        assert layer.padding == expected
        if not isinstance(expected, str):  # plain ints: hashable, static under jit
            assert all(type(v) is int for pair in layer.padding for v in pair)


def test_pool_backward_compatible_and_defaults():
    assert Pool(2, "max") == Pool(window=2, kind="max", stride=2, padding="VALID")
    assert Pool(2) == Pool(2, "max")
    assert Pool(2, "avg").size == 2 and Pool(2, "avg").stride == 2
    overlapping = Pool(3, "avg", stride=2, padding="SAME")
    assert (overlapping.size, overlapping.window, overlapping.stride) == (3, 3, 2)
    assert overlapping.padding == "SAME" and Pool().window == 2
    assert cnn_layers.PADDINGS == ("VALID", "SAME") and cnn_layers.POOL_KINDS == ("max", "avg")


def _all_layers(rng):
    conv = Conv(rng.normal(size=(3, 3, 2, 2)), rng.normal(size=2), stride=2, padding="SAME")
    bn = BatchNorm(rng.normal(size=2), None, rng.normal(size=2), rng.uniform(1, 2, 2), 1e-3)
    return [
        conv,
        bn,
        Pool(3, "avg", stride=2, padding=((1, 1), (0, 1))),
        Residual([conv, ReLU(), Smooth(jnp.tanh)], [Conv(rng.normal(size=(1, 1, 2, 2)))]),
        Poly(rng.normal(size=3)),
        Flatten(),
        GlobalAvgPool(),
        Dense(rng.normal(size=(8, 3))),
    ]


def test_pytree_round_trip_keeps_settings_and_arrays_are_leaves():
    net = _all_layers(np.random.default_rng(0))
    leaves, treedef = jax.tree.flatten(net)
    # conv (w, b) x2 in block, shortcut w, bn (scale, mean, var), poly, dense w; None is no leaf
    expected = [net[0].w, net[0].b, net[1].scale, net[1].mean, net[1].var]
    expected += [net[0].w, net[0].b, net[3].shortcut[0].w, net[4].coeffs, net[7].w]
    assert len(leaves) == len(expected)
    assert all(a is b for a, b in zip(leaves, expected, strict=True))
    rebuilt = jax.tree.unflatten(treedef, leaves)
    assert rebuilt[0].stride == 2 and rebuilt[0].padding == "SAME"
    assert rebuilt[1].eps == 1e-3 and rebuilt[1].offset is None
    assert rebuilt[2] == net[2] and rebuilt[2].padding == ((1, 1), (0, 1))
    assert rebuilt[3].block[2].fn is jnp.tanh and rebuilt[3].shortcut[0].b is None
    assert isinstance(rebuilt[3].block, tuple)
    # a tree map (here: to jax arrays) keeps every setting; same settings -> same treedef
    mapped = jax.tree.map(jnp.asarray, net)
    assert jax.tree.structure(mapped) == treedef
    other = _all_layers(np.random.default_rng(1))
    assert jax.tree.structure(other) == treedef
    changed = list(net)
    changed[2] = Pool(3, "max", stride=2, padding=((1, 1), (0, 1)))
    assert jax.tree.structure(changed) != treedef


def test_settings_are_static_under_jit():
    net = _all_layers(np.random.default_rng(0))

    @jax.jit
    def settings(layers):
        conv, _, pool, res = layers[:4]
        assert isinstance(conv.w, jax.core.Tracer) and not isinstance(conv.stride, jax.Array)
        return jnp.asarray(conv.stride * 100 + pool.window * 10 + len(res.block), jnp.int32)

    assert int(settings(net)) == 233


def test_batchnorm_gain_and_shift_closed_form():
    rng = np.random.default_rng(2)
    scale, offset, mean, var = rng.normal(size=(4, 3))
    var = np.abs(var) + 0.5
    with jax.enable_x64(True):
        bn = BatchNorm(jnp.asarray(scale), jnp.asarray(offset), mean, var, eps=0.01)
        g, h = bn.gain_and_shift(jnp.float64)
        assert g.dtype == jnp.float64 and bn.channels == 3
        gain = scale / np.sqrt(var + 0.01)
        np.testing.assert_allclose(g, gain, rtol=1e-14)
        np.testing.assert_allclose(h, offset - gain * mean, rtol=1e-14)
        g0, h0 = BatchNorm(None, None, mean, var, eps=np.float32(0.01)).gain_and_shift(jnp.float64)
        eps = float(np.float32(0.01))  # a numpy eps is kept as the Python float it equals
        np.testing.assert_allclose(g0, 1 / np.sqrt(var + eps), rtol=1e-14)
        np.testing.assert_allclose(h0, -mean / np.sqrt(var + eps), rtol=1e-14)


def test_activations_closed_form():
    rng = np.random.default_rng(3)
    coeffs, u = rng.normal(size=4), rng.normal(size=(2, 5))
    with jax.enable_x64(True):
        np.testing.assert_allclose(
            Poly(jnp.asarray(coeffs))(jnp.asarray(u)),
            np.polynomial.polynomial.polyval(u, coeffs),
            rtol=1e-12,
        )
        np.testing.assert_array_equal(ReLU()(jnp.asarray(u)), np.maximum(u, 0))
        np.testing.assert_allclose(Smooth(jnp.tanh)(jnp.asarray(u)), np.tanh(u), rtol=1e-14)
    assert np.asarray(Poly(np.array([2.0]))(jnp.zeros(3))).tolist() == [2.0, 2.0, 2.0]
