"""AnalyticConv: nnx.Conv equivalence, parameter count, gradients reaching every AKP."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

import cnn_layers
from analytic_jax import AnalyticConv, kernel_slices, mosaic_kernels, param_count, parse_mosaic

MIXED = "(2x3)G1Lg1Lt1Tf1Ts1P1"


def _n_params(module):
    return sum(x.size for x in jax.tree.leaves(nnx.state(module, nnx.Param)))


@pytest.mark.parametrize("strides, padding", [(1, "SAME"), (2, "VALID"), ((1, 2), 1)])
def test_all_plain_equals_nnx_conv(strides, padding):
    ref = nnx.Conv(2, 3, (3, 3), strides, padding=padding, rngs=nnx.Rngs(0))
    ref.bias[...] = jnp.asarray([0.1, -0.2, 0.3])
    layer = AnalyticConv(2, 3, 3, strides, padding=padding, rngs=nnx.Rngs(1))
    assert layer.spec.codes == ("P",) * 6
    layer.akp_P[...] = kernel_slices(ref.kernel[...]).reshape(6, 9)
    layer.bias[...] = ref.bias[...]
    x = jax.random.normal(jax.random.key(2), (2, 9, 8, 2))
    np.testing.assert_allclose(layer(x), ref(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(layer.kernel(), ref.kernel[...], rtol=0, atol=0)


def test_param_count_equals_nnx_params():
    spec = parse_mosaic(MIXED, kernel_size=5)
    no_bias = AnalyticConv(2, 3, 5, mosaic=spec, use_bias=False, rngs=nnx.Rngs(0))
    assert _n_params(no_bias) == param_count(spec) == 6 + 2 + 2 + 3 + 3 + 25
    with_bias = AnalyticConv(2, 3, (5, 5), mosaic=MIXED, rngs=nnx.Rngs(0))
    assert _n_params(with_bias) == param_count(spec) + 3
    assert set(with_bias.akp_tables()) == {"G", "Lg", "Lt", "Tf", "Ts", "P"}


def test_forward_matches_lax_conv_with_mosaic_kernel_under_jit():
    layer = AnalyticConv(2, 3, 5, mosaic="G1Lg1Lt1Tf1Ts1P1", rngs=nnx.Rngs(0))
    x = jax.random.normal(jax.random.key(1), (2, 7, 7, 2))
    y = nnx.jit(lambda m, v: m(v))(layer, x)
    kern = mosaic_kernels(layer.akp_tables(), layer.spec)
    want = jax.lax.conv_general_dilated(
        x, kern, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )
    np.testing.assert_allclose(y, want, rtol=1e-5, atol=1e-6)
    assert layer(x[0]).shape == (7, 7, 3)  # unbatched input, like nnx.Conv
    with pytest.raises(ValueError, match=r"shape \(\.\.\., H, W, 2\)"):
        layer(jnp.ones((1, 7, 7, 3)))


@pytest.mark.parametrize(
    "strides, padding, use_bias",
    [
        (1, "SAME", True),
        (2, "VALID", False),
        (2, "SAME", True),
        (1, 2, True),
        (2, ((2, 0), (1, 3)), True),
    ],
)
def test_as_layers_is_the_same_convolution(strides, padding, use_bias):
    """float64: cnn_layers.forward of the converted layer equals the module, any padding."""
    with jax.enable_x64(True):
        layer = AnalyticConv(
            2, 3, 5, strides, padding=padding, use_bias=use_bias, mosaic=MIXED,
            dtype=jnp.float64, rngs=nnx.Rngs(0),
        )  # fmt: skip
        if use_bias:
            layer.bias[...] = jnp.asarray([0.1, -0.2, 0.3])
        x = jax.random.normal(jax.random.key(1), (2, 11, 10, 2), jnp.float64)
        [conv] = layer.as_layers()
        assert (conv.b is None) == (not use_bias) and conv.stride == strides
        np.testing.assert_array_equal(conv.w, layer.kernel())
        got = cnn_layers.forward(cnn_layers.from_nnx(nnx.Sequential(layer)), x)
        np.testing.assert_allclose(got, layer(x), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match=r"strides \(1, 2\) differ"):
        AnalyticConv(2, 3, 3, (1, 2), rngs=nnx.Rngs(0)).as_layers()


def test_one_optax_step_changes_every_akp():
    # the GaborNet trap: kernels built outside the traced pass never train their parameters
    layer = AnalyticConv(2, 3, 5, mosaic=MIXED, rngs=nnx.Rngs(0))
    graphdef, params = nnx.split(layer, nnx.Param)
    x = jax.random.normal(jax.random.key(1), (4, 8, 8, 2))
    target = jax.random.normal(jax.random.key(2), (4, 8, 8, 3))

    def loss(p):
        return jnp.mean((nnx.merge(graphdef, p)(x) - target) ** 2)

    opt = optax.adam(1e-3)
    grads = jax.jit(jax.grad(loss))(params)
    updates, _ = opt.update(grads, opt.init(params), params)
    new = optax.apply_updates(params, updates)
    for path, g in jax.tree.leaves_with_path(grads):
        assert bool(jnp.all(g != 0)), f"zero gradient for {path}"
    changed = jax.tree.map(lambda a, b: bool(jnp.all(a != b)), params, new)
    assert all(jax.tree.leaves(changed)), changed


@pytest.mark.bad_input
def test_constructor_errors():
    with pytest.raises(ValueError, match="square"):
        AnalyticConv(1, 1, (3, 5), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="declares out_features=4, but out_features=3"):
        AnalyticConv(2, 3, 5, mosaic="(2x4)P8", rngs=nnx.Rngs(0))
    spec = parse_mosaic("(2x3)P6", kernel_size=3)
    with pytest.raises(ValueError, match="mosaic spec is for"):
        AnalyticConv(2, 3, 5, mosaic=spec, rngs=nnx.Rngs(0))
    with pytest.raises(TypeError, match="mosaic must be"):
        AnalyticConv(2, 3, 5, mosaic=3, rngs=nnx.Rngs(0))
