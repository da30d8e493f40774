"""cnn_layers.conv_general_dilated and cnn_layers.max_pool against the originals they replace
(values and every derivative, float64), and cnn_layers._random.normal against jax.random."""

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx
from jax import lax

import cnn_layers
from cnn_layers._random import normal

DN = ("NHWC", "HWIO", "NHWC")
TOL = dict(rtol=1e-12, atol=1e-12)


@pytest.fixture(autouse=True)
def _float64():
    with jax.enable_x64(True):
        yield


def _x(seed, shape, dtype=jnp.float64):
    return jnp.asarray(np.random.default_rng(seed).normal(size=shape), dtype)


CONV_CASES = [  # (input shape, kernel shape, strides, padding, kernel dilation)
    ((2, 9, 9, 1), (5, 5, 1, 3), (1, 1), "VALID", None),
    ((2, 12, 12, 4), (5, 5, 4, 6), (1, 1), "VALID", (1, 1)),
    ((2, 9, 10, 3), (3, 3, 3, 5), (2, 2), "SAME", None),
    ((1, 11, 8, 2), (3, 2, 2, 4), (3, 2), "SAME", None),
    ((2, 8, 8, 3), (3, 3, 3, 2), (1, 1), ((1, 2), (0, 1)), None),
    ((2, 10, 10, 2), (3, 3, 2, 3), (1, 1), "SAME", (2, 2)),
    ((2, 4, 4, 5), (4, 4, 5, 7), (1, 1), "VALID", None),  # the kernel covers the map
    ((3, 6, 6, 2), (1, 1, 2, 4), (2, 2), "VALID", None),
]


@pytest.mark.parametrize("shape, kshape, strides, padding, dilation", CONV_CASES)
def test_conv_equals_lax_in_value_and_both_gradients(shape, kshape, strides, padding, dilation):
    x, w = _x(0, shape), _x(1, kshape)

    def conv(f):
        return lambda x, w: f(x, w, strides, padding, rhs_dilation=dilation, dimension_numbers=DN)

    ours, ref = conv(cnn_layers.conv_general_dilated), conv(lax.conv_general_dilated)
    y = ref(x, w)
    np.testing.assert_allclose(ours(x, w), y, **TOL)
    g = _x(2, y.shape)
    loss = lambda f: lambda x, w: jnp.sum(f(x, w) * g)  # noqa: E731
    grads = [jax.jit(jax.grad(loss(f), (0, 1)))(x, w) for f in (ours, ref)]
    for a, b in zip(*grads, strict=True):
        np.testing.assert_allclose(a, b, **TOL)
    np.testing.assert_allclose(jax.jit(ours)(x, w), y, **TOL)


def test_conv_second_derivatives_equal_lax():
    x, w = _x(0, (1, 6, 6, 2)), _x(1, (3, 3, 2, 2))

    def energy(f):
        return lambda x: jnp.sum(jnp.tanh(f(x, w, (1, 1), "SAME", dimension_numbers=DN)) ** 2)

    ours, ref = (
        jax.jit(jax.hessian(energy(f)))(x)
        for f in (cnn_layers.conv_general_dilated, lax.conv_general_dilated)
    )
    np.testing.assert_allclose(ours, ref, **TOL)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(feature_group_count=2),
        dict(lhs_dilation=(2, 2)),
        dict(dimension_numbers=("NCHW", "OIHW", "NCHW")),
    ],
    ids=["groups", "lhs_dilation", "nchw"],
)
def test_conv_cases_it_does_not_speed_up_are_lax_itself(kwargs):
    kwargs = {"dimension_numbers": DN} | kwargs
    if kwargs["dimension_numbers"] == DN:
        groups = kwargs.get("feature_group_count", 1)
        x, w = _x(0, (2, 7, 7, 4)), _x(1, (3, 3, 4 // groups, 4))
    else:
        x, w = _x(0, (2, 4, 7, 7)), _x(1, (4, 4, 3, 3))
    pads = ((1, 1), (1, 1))
    got = cnn_layers.conv_general_dilated(x, w, (1, 1), pads, **kwargs)
    np.testing.assert_array_equal(got, lax.conv_general_dilated(x, w, (1, 1), pads, **kwargs))


def test_conv_refuses_channels_that_do_not_match():
    with pytest.raises(ValueError, match=r"rhs.*input channels.*lhs has 3"):
        cnn_layers.conv_general_dilated(
            jnp.ones((1, 5, 5, 3)), jnp.ones((3, 3, 2, 4)), (1, 1), "VALID", dimension_numbers=DN
        )


def test_conv_keeps_a_sharded_batch_sharded():
    mesh = jax.make_mesh((8,), ("data",))
    x = jax.device_put(_x(0, (16, 10, 10, 2)), jax.NamedSharding(mesh, jax.P("data")))
    w = _x(1, (3, 3, 2, 4))
    f = jax.jit(
        lambda x: cnn_layers.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=DN)
    )
    y = f(x)
    np.testing.assert_allclose(
        y, lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=DN), **TOL
    )
    assert y.sharding.spec[0] == "data"


def _reference_pool(x, k=2):
    return nnx.max_pool(x, (k, k), (k, k))


POOL_INPUTS = {
    "random": lambda: _x(0, (2, 8, 8, 3)),
    "ties": lambda: jnp.round(_x(1, (2, 8, 8, 3)) * 0.7),  # many equal maxima per window
    "constant": lambda: jnp.ones((1, 4, 4, 2)),  # every window all ties
    "odd": lambda: _x(2, (2, 9, 7, 2)),  # a trailing partial window, dropped
    "inf": lambda: _x(3, (1, 4, 4, 1)).at[0, 0, 0, 0].set(-jnp.inf).at[0, 2, 3, 0].set(jnp.inf),
}


@pytest.mark.parametrize("name", sorted(POOL_INPUTS))
@pytest.mark.parametrize("k", [2, 3])
def test_max_pool_value_gradient_and_jvp_are_xla_s_ties_included(name, k):
    x = POOL_INPUTS[name]()
    ours = partial(cnn_layers.max_pool, window_shape=(k, k), strides=(k, k))
    ref = partial(_reference_pool, k=k)
    y = ref(x)
    np.testing.assert_array_equal(ours(x), y)
    g = _x(4, y.shape)
    grad = lambda f: jax.jit(jax.grad(lambda x: jnp.sum(f(x) * g)))(x)  # noqa: E731
    np.testing.assert_array_equal(grad(ours), grad(ref))
    t = _x(5, x.shape)
    jvp = lambda f: jax.jit(lambda x, t: jax.jvp(f, (x,), (t,))[1])(x, t)  # noqa: E731
    np.testing.assert_array_equal(jvp(ours), jvp(ref))


def test_max_pool_second_derivative_equals_xla_s():
    x = _x(0, (1, 4, 4, 2))
    energy = lambda pool: lambda x: jnp.sum(jnp.tanh(pool(x)) ** 3)  # noqa: E731
    ours = partial(cnn_layers.max_pool, window_shape=(2, 2), strides=(2, 2))
    a, b = (jax.jit(jax.hessian(energy(f)))(x) for f in (ours, _reference_pool))
    np.testing.assert_allclose(a, b, **TOL)


@pytest.mark.parametrize(
    "kwargs",
    [dict(window_shape=(3, 3), strides=(2, 2)), dict(window_shape=(2, 2), padding="SAME")],
    ids=["overlapping", "padded"],
)
def test_max_pool_cases_it_does_not_speed_up_are_nnx_itself(kwargs):
    x = _x(0, (2, 7, 7, 2))
    np.testing.assert_array_equal(cnn_layers.max_pool(x, **kwargs), nnx.max_pool(x, **kwargs))


def test_from_nnx_reads_a_model_built_with_them():
    rngs = nnx.Rngs(0)
    conv = partial(nnx.Conv, conv_general_dilated=cnn_layers.conv_general_dilated, rngs=rngs)
    model = nnx.Sequential(
        conv(1, 4, (3, 3), param_dtype=jnp.float64),
        nnx.relu,
        partial(cnn_layers.max_pool, window_shape=(2, 2), strides=(2, 2)),
        conv(4, 3, (3, 3), strides=2, padding="VALID", param_dtype=jnp.float64),
    )
    layers = cnn_layers.from_nnx(model)
    assert [type(layer).__name__ for layer in layers] == ["Conv", "ReLU", "Pool", "Conv"]
    x = _x(0, (2, 12, 12, 1))
    np.testing.assert_allclose(
        jax.jit(cnn_layers.forward)(layers, x), nnx.jit(lambda m, x: m(x))(model, x), **TOL
    )


@pytest.mark.parametrize(
    "shape, dtype", [((3,), None), ((4, 5), jnp.float32), ((1, 6, 6, 1, 2, 3), jnp.float64)]
)
def test_flat_normal_is_jax_random_normal_bit_for_bit(shape, dtype):
    key = jax.random.key(7)
    kwargs = {} if dtype is None else {"dtype": dtype}
    np.testing.assert_array_equal(
        normal(key, shape, dtype), jax.random.normal(key, shape, **kwargs)
    )
