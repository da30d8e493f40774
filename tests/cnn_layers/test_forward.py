"""forward against the brute-force loops of tests/cnn_layers/oracles.py, float64, under jit."""

import functools

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
    forward,
)
from tests.cnn_layers import oracles

TOL = dict(rtol=1e-10, atol=1e-10)
jit_forward = jax.jit(forward, static_argnames=("upto", "bias", "relu"))


def _check(net, x, jit=False, **kw):
    """forward (under jit: the layer list a pytree argument) equals the oracle, float64. Most
    checks run eagerly: each op compiles once for all tests, a jitted net once per setting."""
    with jax.enable_x64(True):
        run = jit_forward if jit else forward
        out = run(jax.tree.map(jnp.asarray, net), jnp.asarray(x), **kw)
        assert out.dtype == jnp.float64
    upto = kw.pop("upto", None)
    layers = net if upto is None else oracles.upto_layers(net, upto)
    expected = oracles.forward(layers, x, **kw)
    assert out.shape == expected.shape
    np.testing.assert_allclose(out, expected, **TOL)
    return out


def _bn(rng, c, scale=True, offset=True):
    return BatchNorm(
        rng.normal(size=c) if scale else None,
        rng.normal(size=c) if offset else None,
        rng.normal(size=c),
        rng.uniform(0.5, 2.0, c),
        1e-3,
    )


def test_biases_and_batchnorm_broadcast_explicitly():
    # tests/conftest.py sets jax_numpy_rank_promotion='raise', as a careful user may
    rng = np.random.default_rng(0)
    net = [
        Conv(rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3)),
        _bn(rng, 3),
        ReLU(),
        Flatten(),
        Dense(rng.normal(size=(48, 2)), rng.normal(size=2)),
        _bn(rng, 2, scale=False),
    ]
    x = rng.normal(size=(2, 6, 6, 2))
    for bias in (True, False):
        _check(net, x, bias=bias)


CONVS = [
    # (kh, kw, stride, padding, H, W)
    (3, 3, 1, "VALID", 7, 7),
    (3, 3, 1, "SAME", 7, 6),
    (2, 2, 1, "SAME", 6, 6),
    (4, 4, 2, "SAME", 9, 8),
    (3, 3, 2, "SAME", 8, 8),
    (3, 3, 2, "SAME", 7, 7),
    (3, 3, 3, "SAME", 10, 8),
    (5, 5, 3, "SAME", 7, 7),
    (1, 1, 2, "SAME", 7, 6),
    (2, 3, 2, "SAME", 7, 8),
    (4, 2, 1, "SAME", 5, 6),
    (3, 3, 2, "VALID", 8, 9),
    (2, 2, 3, "VALID", 8, 8),
    (3, 3, 1, ((1, 1), (1, 1)), 6, 6),
    (3, 3, 2, ((0, 2), (1, 0)), 7, 8),
    (2, 2, 3, ((3, 1), (0, 2)), 6, 7),
    (5, 3, 1, ((2, 0), (0, 4)), 5, 5),
]


@pytest.mark.parametrize("kh, kw, stride, padding, h, w", CONVS)
def test_conv(kh, kw, stride, padding, h, w):
    rng = np.random.default_rng(kh * 100 + kw * 10 + stride)
    conv = Conv(rng.normal(size=(kh, kw, 2, 3)), rng.normal(size=3), stride, padding)
    _check([conv], rng.normal(size=(2, h, w, 2)), jit=True)


POOLS = [
    # (window, stride, padding, H)
    (2, None, "VALID", 8),
    (2, None, "VALID", 7),
    (3, 2, "VALID", 9),
    (3, 2, "SAME", 8),
    (3, 2, "SAME", 7),
    (3, 1, "SAME", 6),
    (2, 1, "SAME", 5),
    (3, 2, ((1, 1), (1, 1)), 8),
    (2, 2, ((1, 0), (0, 1)), 7),
    (4, 3, ((2, 1), (1, 2)), 9),
]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("window, stride, padding, h", POOLS)
def test_pool(kind, window, stride, padding, h):
    rng = np.random.default_rng(window * 10 + h)
    x = rng.normal(size=(2, h, h + 1, 3))
    out = _check([Pool(window, kind, stride, padding)], x, jit=True)
    if kind == "avg" and padding != "VALID":  # zero padding counted: the border mean shrinks
        assert np.all(np.isfinite(out))


def test_pools_pad_max_with_minus_inf_and_avg_with_zeros():
    x = -np.ones((1, 3, 3, 1))  # every window of a 3x3 stride-1 SAME pool at the border pads
    with jax.enable_x64(True):
        mx = forward([Pool(3, "max", 1, "SAME")], jnp.asarray(x))
        avg = forward([Pool(3, "avg", 1, "SAME")], jnp.asarray(x))
    np.testing.assert_array_equal(mx, x)  # max ignores the padding
    counts = np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]])  # avg divides by 9 whatever the count
    np.testing.assert_allclose(avg[0, :, :, 0], -counts / 9, rtol=1e-15)


@pytest.mark.parametrize("scale, offset", [(True, True), (False, True), (True, False)])
def test_batchnorm_gap_flatten_dense(scale, offset):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(3, 5, 4, 2))
    _check([_bn(rng, 2, scale, offset)], x)
    _check([_bn(rng, 2, scale, offset)], x, bias=False)
    _check([GlobalAvgPool()], x)
    _check([Flatten()], x)
    _check([Dense(rng.normal(size=(40, 3)), rng.normal(size=3))], x)  # on the map
    _check([Dense(rng.normal(size=(40, 3)))], x)
    head = [GlobalAvgPool(), Dense(rng.normal(size=(2, 4)), rng.normal(size=4))]
    _check(head + [_bn(rng, 4, scale, offset), Dense(rng.normal(size=(4, 2)))], x)  # on vectors
    _check([Flatten(), Dense(rng.normal(size=(40, 3)), rng.normal(size=3)), ReLU()], x)


def test_activations():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(2, 4, 4, 2))
    for act in (
        ReLU(),
        Smooth(jnp.tanh),
        Smooth(jax.nn.sigmoid),
        Smooth(jax.nn.softplus),
        Smooth(functools.partial(jax.nn.gelu, approximate=False)),
        Poly(rng.normal(size=4)),
        Poly(np.array([0.5])),
    ):
        _check([act], x)
    out = _check([ReLU()], x, relu=False)
    np.testing.assert_array_equal(out, x)  # relu=False skips ReLU, not Smooth or Poly
    np.testing.assert_allclose(_check([Smooth(jnp.tanh)], x, relu=False), np.tanh(x), **TOL)


def _resnet(rng):
    """A stem, an identity block, a 1x1 stride-2 projection block with a nested residual."""
    c = lambda k, i, o, s=1, p="SAME": Conv(rng.normal(size=(k, k, i, o)), rng.normal(size=o), s, p)
    inner = Residual([c(3, 4, 4), ReLU()])  # identity shortcut, nested
    return [
        c(3, 2, 3),
        _bn(rng, 3),
        ReLU(),
        Residual([c(3, 3, 3), _bn(rng, 3), ReLU(), c(3, 3, 3), _bn(rng, 3)]),
        ReLU(),
        Residual(
            [c(3, 3, 4, 2), _bn(rng, 4), ReLU(), inner, c(3, 4, 4)],
            [c(1, 3, 4, 2, "VALID"), _bn(rng, 4)],
        ),
        ReLU(),
        Pool(3, "avg", 2, ((1, 1), (1, 1))),
        GlobalAvgPool(),
        Dense(rng.normal(size=(4, 3)), rng.normal(size=3)),
    ]


@pytest.mark.parametrize("bias, relu", [(True, True), (False, False), (False, True)])
def test_residual_net(bias, relu):
    rng = np.random.default_rng(6)
    _check(_resnet(rng), rng.normal(size=(2, 9, 8, 2)), jit=bias, bias=bias, relu=relu)


def test_residual_sums_its_paths():
    rng = np.random.default_rng(7)
    conv = Conv(rng.normal(size=(3, 3, 2, 2)), padding="SAME")
    x = jnp.asarray(rng.normal(size=(1, 6, 6, 2)))
    with jax.enable_x64(True):
        x = jnp.asarray(x, jnp.float64)
        np.testing.assert_allclose(forward([Residual([conv])], x), forward([conv], x) + x, **TOL)
        both = forward([Residual([conv], [conv, conv])], x)
        np.testing.assert_allclose(both, forward([conv], x) + forward([conv, conv], x), **TOL)


UPTOS = [0, 2, 3, 5, (3, "block", 0), (3, "block", 4), (5, "block", 3), (5, "shortcut", 0)]
UPTOS += [(5, "shortcut", 1), (5, "block", 3, "block", 0), (5, "block", 3, "block", 1), 9]


@pytest.mark.parametrize("upto", UPTOS, ids=str)
def test_upto(upto):
    rng = np.random.default_rng(6)
    _check(_resnet(rng), rng.normal(size=(1, 9, 8, 2)), upto=upto, bias=False)


def test_upto_as_list_equals_tuple():
    rng = np.random.default_rng(6)
    net, x = _resnet(rng), jnp.asarray(rng.normal(size=(1, 9, 8, 2)), jnp.float32)
    np.testing.assert_array_equal(
        forward(net, x, upto=[5, "block", 1]), forward(net, x, upto=(5, "block", 1))
    )


def test_dtypes():
    rng = np.random.default_rng(8)
    w = rng.integers(-3, 4, size=(2, 2, 1, 2))
    ints = rng.integers(-5, 5, size=(2, 5, 5, 1))
    net = [Conv(w, np.array([1, -2])), Pool(2, "avg")]
    out = forward(net, ints)  # integer images and weights promoted to the default float
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, oracles.forward(net, ints), rtol=1e-6)
    with jax.enable_x64(True):
        assert forward(net, ints).dtype == jnp.float64
        np.testing.assert_allclose(forward(net, ints), oracles.forward(net, ints), rtol=1e-14)
        assert forward(net, jnp.asarray(ints, jnp.float32)).dtype == jnp.float32


x8 = np.zeros((1, 8, 8, 2))
conv2 = Conv(np.ones((3, 3, 2, 2)))
conv3 = Conv(np.ones((3, 3, 3, 3)))

# (layers, images, kwargs, exception, pattern): each names the layer by path and type
BAD_FORWARD = {
    "images rank 3": ([ReLU()], np.zeros((8, 8, 2)), {}, ValueError, r"images must have shape"),
    "images rank 5": ([ReLU()], np.zeros((1,) * 5), {}, ValueError, r"images must have shape"),
    "images complex": ([ReLU()], x8 + 1j, {}, TypeError, r"images must be real.*complex"),
    "images bool": ([ReLU()], x8 > 0, {}, TypeError, r"images must be a real number.*bool"),
    "images str": ([ReLU()], np.array(["a"]), {}, TypeError, r"images must be a real number"),
    "images objects": ([ReLU()], [[[[None]]]], {}, TypeError, r"images must be a real number"),
    "images empty": ([ReLU()], np.zeros((1, 0, 8, 2)), {}, ValueError, r"images must have .*>= 1"),
    "channels of images": (
        [conv3],
        x8,
        {},
        ValueError,
        r"layers\[0\] \(Conv\) expects 3 input channels .* give 2",
    ),
    "channels between layers": (
        [conv2, ReLU(), conv3],
        x8,
        {},
        ValueError,
        r"layers\[2\] \(Conv\) expects 3 input channels",
    ),
    "channels in a residual": (
        [Residual([conv2, conv3], [conv2])],
        np.zeros((1, 9, 9, 2)),
        {},
        ValueError,
        r"layers\[0\]\.block\[1\] \(Conv\) expects 3",
    ),
    "channels of a batchnorm": (
        [conv2, BatchNorm(None, None, np.zeros(3), np.ones(3))],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(BatchNorm\) expects 3 input channels",
    ),
    "conv window larger than map": (
        [Conv(np.ones((5, 5, 2, 1)))],
        np.zeros((1, 4, 6, 2)),
        {},
        ValueError,
        r"layers\[0\] \(Conv\): its 5x5 window is larger than its 4x6 input map",
    ),
    "pool window larger than map": (
        [conv2, Pool(7)],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(Pool\): its 7x7 window is larger than its 6x6 input map",
    ),
    "pool window larger in a shortcut": (
        [Residual([Pool(3, "avg", 3)], [Pool(9, "avg", 3)])],
        x8,
        {},
        ValueError,
        r"layers\[0\]\.shortcut\[0\] \(Pool\): its 9x9 window",
    ),
    "dense size": (
        [conv2, Dense(np.ones((10, 2)))],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(Dense\) has 10 input features but .* 6\*6\*2 = 72",
    ),
    "dense size after pooling": (
        [GlobalAvgPool(), Dense(np.ones((3, 2)))],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(Dense\) has 3 input features",
    ),
    "conv after flatten": (
        [Flatten(), conv2],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(Conv\) needs a spatial map.*flattened",
    ),
    "pool after dense": (
        [Dense(np.ones((128, 4))), Pool(2)],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(Pool\) needs a spatial map",
    ),
    "global pool twice": (
        [GlobalAvgPool(), GlobalAvgPool()],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(GlobalAvgPool\) needs a spatial map",
    ),
    "batchnorm after flatten": (
        [Flatten(), BatchNorm(None, None, np.zeros(2), np.ones(2))],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(BatchNorm\) follows a Flatten.*before the Flatten",
    ),
    "residual after flatten": (
        [Flatten(), Residual([ReLU()])],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(Residual\) needs a spatial map",
    ),
    "batchnorm after flatten (counts channels)": (
        [Flatten(), BatchNorm(None, None, np.zeros(128), np.ones(128))],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(BatchNorm\) follows a Flatten of a 8x8x2 .*positions, not channels",
    ),
    "residual channels differ": (
        [Residual([Conv(np.ones((3, 3, 2, 3)), padding="SAME")])],
        x8,
        {},
        ValueError,
        r"layers\[0\] \(Residual\): its block gives a 8x8x3 map but its shortcut gives 8x8x2",
    ),
    "residual sizes differ": (
        [ReLU(), Residual([Conv(np.ones((3, 3, 2, 2)), stride=2, padding="SAME")])],
        x8,
        {},
        ValueError,
        r"layers\[1\] \(Residual\): its block gives a 4x4x2 map",
    ),
    "residual valid block": (
        [Residual([conv2], [Conv(np.ones((1, 1, 2, 2)))])],
        x8,
        {},
        ValueError,
        r"layers\[0\] \(Residual\).*6x6x2.*8x8x2",
    ),
    "nested residual differs": (
        [Residual([Residual([conv2], [conv2]), ReLU()])],
        x8,
        {},
        ValueError,
        r"layers\[0\] \(Residual\): its block gives a 6x6x2",
    ),
    "residual flattens one path": (
        [Residual([GlobalAvgPool()], [Pool(8, "avg")])],
        x8,
        {},
        ValueError,
        r"layers\[0\] \(Residual\).*1x1x2 \(flattened\)",
    ),
    "not a layer": ([conv2, "relu"], x8, {}, TypeError, r"layers\[1\] must be one of the layer"),
    "a function as a layer": (
        [jax.nn.relu],
        x8,
        {},
        TypeError,
        r"layers\[0\] must be one of the layer types .*; got",
    ),
    "not a layer in a residual": (
        [Residual([ReLU(), {"w": 1}])],
        x8,
        {},
        TypeError,
        r"layers\[0\]\.block\[1\] must be one of the layer types",
    ),
    "no layers": ([], x8, {}, ValueError, r"layers must be a non-empty list"),
    "one layer, not a list": (
        Conv(np.ones((3, 3, 2, 1))),
        x8,
        {},
        ValueError,
        r"^layers must be a non-empty list of layers, got a Conv$",  # not its weights' repr
    ),
    "a dict of layers": ({"conv": conv2}, x8, {}, ValueError, r"got a dict$"),
    "conv weights complex": (
        [Conv(np.ones((3, 3, 2, 1)) * 1j)],
        x8,
        {},
        TypeError,
        r"layers\[0\]\.w must be real",
    ),
    "conv bias complex": (
        [Conv(np.ones((3, 3, 2, 1)), np.ones(1) * 1j)],
        x8,
        {},
        TypeError,
        r"layers\[0\]\.b must be real",
    ),
    "dense weights bool": (
        [Dense(np.ones((128, 2), bool))],
        x8,
        {},
        TypeError,
        r"layers\[0\]\.w must be a real number array, got dtype bool",
    ),
    "conv weights None": (
        [Conv(None)],
        x8,
        {},
        TypeError,
        r"layers\[0\] \(Conv\): w must be an array .*, got NoneType",
    ),
    "conv weights a list": (
        [Conv([[[[1.0, 2.0]]]])],
        x8,
        {},
        TypeError,
        r"layers\[0\] \(Conv\): w must be an array .*, got list",
    ),
    "conv bias a list": (
        [Conv(np.ones((1, 1, 2, 2)), [1.0, 2.0, 3.0])],
        x8,
        {},
        TypeError,
        r"layers\[0\] \(Conv\): b must be None or an array",
    ),
    "dense weights None": (
        [Flatten(), Dense(None)],
        x8,
        {},
        TypeError,
        r"layers\[1\] \(Dense\): w must be an array",
    ),
    "batchnorm mean None": (
        [BatchNorm(None, None, None, None)],
        x8,
        {},
        TypeError,
        r"layers\[0\] \(BatchNorm\): mean must be an array",
    ),
    "batchnorm var a list": (
        [Residual([BatchNorm(None, None, np.zeros(2), [1.0, 1.0])])],
        x8,
        {},
        TypeError,
        r"layers\[0\]\.block\[0\] \(BatchNorm\): var must be an array",
    ),
    "batchnorm scale a list": (
        [BatchNorm([1.0, 2.0], None, np.zeros(2), np.ones(2))],
        x8,
        {},
        TypeError,
        r"layers\[0\] \(BatchNorm\): scale must be None or an array",
    ),
    "poly coeffs None": ([Poly(None)], x8, {}, TypeError, r"layers\[0\] \(Poly\): coeffs must"),
    "poly coeffs complex": (
        [Poly(np.array([0.0, 1.0 + 1j]))],
        x8,
        {},
        TypeError,
        r"layers\[0\]\.coeffs must be real, got the complex dtype",
    ),
    "upto too large": ([ReLU()] * 3, x8, {"upto": 3}, ValueError, r"upto must be .*\[0, 2\]"),
    "upto negative": ([ReLU()] * 3, x8, {"upto": -1}, ValueError, r"upto must be .*got -1"),
    "upto path out of range": (
        [ReLU(), Residual([ReLU()])],
        x8,
        {"upto": (1, "block", 1)},
        ValueError,
        r"upto must be .*\[0, 0\] of the 1 layers of layers\[1\]\.block, got 1",
    ),
    "upto path into a conv": (
        [conv2],
        x8,
        {"upto": (0, "block", 0)},
        ValueError,
        r"upto path \(0, 'block', 0\) goes into layers\[0\], which is a Conv, not a Residual",
    ),
    "upto into an identity": (
        [Residual([ReLU()])],
        x8,
        {"upto": (0, "shortcut", 0)},
        ValueError,
        r"layers\[0\]\.shortcut is empty \(the identity\)",
    ),
    "upto path bad branch": (
        [Residual([ReLU()])],
        x8,
        {"upto": (0, "side", 0)},
        TypeError,
        r"upto must be an int index into layers or a path .*\(3, 'block', 1\).*got \(0, 'side'",
    ),
    "upto str": ([ReLU()], x8, {"upto": "a"}, TypeError, r"upto must be an int index.*got 'a'"),
    "upto float": ([ReLU()], x8, {"upto": 1.0}, TypeError, r"upto must be an int index.*1\.0"),
    "upto bool": ([ReLU()] * 2, x8, {"upto": True}, TypeError, r"upto must be an int index"),
    "upto path without index": (
        [Residual([ReLU()])],
        x8,
        {"upto": (0, "block")},
        TypeError,
        r"upto must be an int index",
    ),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", sorted(BAD_FORWARD))
def test_bad_forward_input_is_named(case):
    layers, images, kwargs, error, pattern = BAD_FORWARD[case]
    with pytest.raises(error, match=pattern):
        forward(layers, images, **kwargs)


@pytest.mark.bad_input
def test_bad_input_is_caught_at_trace_time_under_jit():
    layers, images, _, error, pattern = BAD_FORWARD["channels in a residual"]
    with pytest.raises(error, match=pattern):
        jax.jit(forward)(layers, images)
    with pytest.raises(TypeError, match=r"layers\[0\]\.w must be real"):
        jax.jit(forward)([Conv(jnp.ones((3, 3, 2, 1), jnp.complex64))], x8)


@pytest.mark.parametrize("kind", ["avg", "max"])
def test_pools_are_differentiable(kind):
    # the input gradient of a sum of pooled values: how often each pixel is counted
    x = np.random.default_rng(9).normal(size=(1, 5, 5, 1))
    pool = Pool(3, kind, 2, "SAME")
    total = lambda x: forward([pool], x).sum()
    with jax.enable_x64(True):
        x = jnp.asarray(x)
        grad = jax.grad(total)(x)
        np.testing.assert_array_equal(jax.jit(jax.grad(total))(x), grad)
        if kind == "avg":
            counts = np.array([1, 2, 1, 2, 1])  # windows [-1, 2), [1, 4), [3, 6) per axis
            np.testing.assert_allclose(grad[0, :, :, 0], np.outer(counts, counts) / 9, rtol=1e-15)
            return
        assert float(grad.sum()) == 9  # one winner per window
        eps = 1e-6  # finite differences at a generic point
        for i, j in [(0, 0), (2, 3), (4, 4)]:
            bump = jnp.zeros_like(x).at[0, i, j, 0].set(eps)
            fd = (total(x + bump) - total(x - bump)) / (2 * eps)
            np.testing.assert_allclose(grad[0, i, j, 0], fd, atol=1e-8)


def test_flatten_and_global_avg_pool_functions():
    x = np.random.default_rng(10).normal(size=(2, 3, 4, 5))
    with jax.enable_x64(True):
        flat = jax.jit(cnn_layers.flatten)(jnp.asarray(x))
        pooled = jax.jit(cnn_layers.global_avg_pool)(jnp.asarray(x))
    np.testing.assert_array_equal(flat, x.reshape(2, 60))  # row-major (h, w, c)
    np.testing.assert_allclose(pooled, x.mean(axis=(1, 2)), rtol=1e-14)
    np.testing.assert_array_equal(flat, oracles.forward([Flatten()], x))
