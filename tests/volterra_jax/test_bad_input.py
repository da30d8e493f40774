"""Bad input to every public function of volterra_jax: a clear error naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import volterra_jax as vj
from cnn_layers import Conv, GlobalAvgPool, Pool, ReLU, Smooth
from tests.bad_input import case, check, params, unchecked

H1 = jnp.ones((2, 2, 1, 2))
K = vj.VolterraKernels(jnp.zeros(2), H1)
K2 = vj.VolterraKernels(jnp.zeros(2), H1, jnp.ones((2, 2, 1, 2, 2, 1, 2)))
X = jnp.ones((1, 3, 3, 1))
LABEL = jnp.array([0])
NET = [Conv(jnp.ones((2, 2, 1, 2))), Smooth(jnp.tanh)]
KEY = jax.random.key(0)


def box(x):
    return jax.lax.conv_general_dilated(
        x, H1, (1, 1), "VALID", dimension_numbers=("NHWC", "HWIO", "NHWC")
    )


def net(params, x):
    return box(x) * params


with unchecked():  # some cases build their bad arguments up front
    CASES = [
        # VolterraKernels
        case("VolterraKernels/no terms", vj.VolterraKernels, exc=ValueError, words="h0"),
        case("VolterraKernels/h0 rank", vj.VolterraKernels, jnp.zeros((2, 2)), exc=ValueError,
             words="h0"),
        case("VolterraKernels/h1 rank", vj.VolterraKernels, jnp.zeros(2), jnp.ones((2, 2, 2)),
             exc=ValueError, words="h1"),
        case("VolterraKernels/h1 outputs", vj.VolterraKernels, jnp.zeros(3), H1, exc=ValueError,
             words="h1"),
        case("VolterraKernels/h2 shape", vj.VolterraKernels, jnp.zeros(2), H1,
             jnp.ones((2, 2, 1, 2)), exc=ValueError, words="h2"),
        case("VolterraKernels/name", vj.VolterraKernels, g0=jnp.zeros(2), exc=TypeError,
             words="g0"),
        case("VolterraKernels/gap", vj.VolterraKernels, h0=jnp.zeros(2), h2=H1, exc=ValueError,
             words="h0..hN"),
        case("VolterraKernels/h0 list", vj.VolterraKernels, [0.0, 0.0], exc=TypeError, words="h0"),
        case("VolterraKernels/h1 complex", vj.VolterraKernels, jnp.zeros(2),
             H1.astype(jnp.complex64), exc=TypeError, words="h1"),
        # volterra_conv, series, perturbation, patches
        case("volterra_conv/x rank", vj.volterra_conv, jnp.ones((3, 3, 1)), H1, order=1,
             exc=ValueError, words="x"),
        case("volterra_conv/x channels", vj.volterra_conv, jnp.ones((1, 3, 3, 2)), H1, order=1,
             exc=ValueError, words=("x", "channels")),
        case("volterra_conv/x small", vj.volterra_conv, jnp.ones((1, 1, 3, 1)), H1, order=1,
             exc=ValueError, words="x"),
        case("volterra_conv/x complex", vj.volterra_conv, X.astype(jnp.complex64), H1, order=1,
             exc=TypeError, words="x"),
        case("volterra_conv/x bool", vj.volterra_conv, X.astype(bool), H1, order=1, exc=TypeError,
             words="x"),
        case("volterra_conv/h complex", vj.volterra_conv, X, H1.astype(jnp.complex64), order=1,
             exc=TypeError, words="h"),
        case("volterra_conv/h shape", vj.volterra_conv, X, jnp.ones((2, 2, 1)), order=1,
             exc=ValueError, words="h"),
        case("volterra_conv/order mismatch", vj.volterra_conv, X, H1, order=2, exc=ValueError,
             words="order"),
        case("volterra_conv/order 0", vj.volterra_conv, X, H1, order=0, exc=ValueError,
             words="order"),
        case("volterra_conv/order float", vj.volterra_conv, X, H1, order=1.0, exc=TypeError,
             words="order"),
        case("volterra_conv/stride 0", vj.volterra_conv, X, H1, order=1, stride=0, exc=ValueError,
             words="stride"),
        case("volterra_conv/stride float", vj.volterra_conv, X, H1, order=1, stride=1.0,
             exc=TypeError, words="stride"),
        case("volterra_conv/padding", vj.volterra_conv, X, H1, order=1, padding=1, exc=ValueError,
             words="padding"),
        case("series/kernels type", vj.series, X, (jnp.zeros(2), H1), exc=TypeError,
             words="kernels"),
        case("series/kernels order 0", vj.series, X, vj.VolterraKernels(jnp.zeros(2)),
             exc=ValueError, words="kernels"),
        case("series/x rank", vj.series, jnp.ones((3, 3)), K, exc=ValueError, words="x"),
        case("series/x complex", vj.series, X.astype(jnp.complex64), K, exc=TypeError, words="x"),
        case("series/stride", vj.series, X, K, stride=-1, exc=ValueError, words="stride"),
        case("series/padding", vj.series, X, K, padding=((1, 1),), exc=ValueError,
             words="padding"),
        case("perturbation/kernels", vj.perturbation, H1, X, X, exc=TypeError, words="kernels"),
        case("perturbation/delta shape", vj.perturbation, K, X, jnp.ones((1, 3, 3, 2)),
             exc=ValueError, words="delta"),
        case("perturbation/delta complex", vj.perturbation, K, X, X.astype(jnp.complex64),
             exc=TypeError, words="delta"),
        case("perturbation/x rank", vj.perturbation, K, jnp.ones((3, 3, 1)), jnp.ones((3, 3, 1)),
             exc=ValueError, words="x"),
        case("patches/rf_shape", vj.patches, X, (2, 2), exc=ValueError, words="rf_shape"),
        case("patches/rf_shape zero", vj.patches, X, (0, 2, 1), exc=ValueError, words="rf_shape"),
        case("patches/stride", vj.patches, X, (2, 2, 1), stride=0, exc=ValueError, words="stride"),
        case("patches/x rank", vj.patches, jnp.ones((3, 3, 1)), (2, 2, 1), exc=ValueError,
             words="x"),
        case("symmetrize/h type", vj.symmetrize, [1.0, 2.0], exc=TypeError, words="h"),
        case("symmetrize/h shape", vj.symmetrize, jnp.ones((2, 2, 1, 2, 2)), exc=ValueError,
             words="h"),
        case("symmetrize/h slots", vj.symmetrize, jnp.ones((2, 2, 1, 3, 2, 1, 2)), exc=ValueError,
             words="h"),
        # compose
        case("compose/outer", vj.compose, H1, K, exc=TypeError, words="outer"),
        case("compose/inner", vj.compose, K, None, exc=TypeError, words="inner"),
        case("compose/inner order 0", vj.compose, K, vj.VolterraKernels(jnp.zeros(1)),
             exc=ValueError, words="inner"),
        case("compose/channels", vj.compose, K,
             vj.VolterraKernels(jnp.zeros(3), jnp.ones((1, 1, 1, 3))),
             exc=ValueError, words=("outer", "inner")),
        case("compose/inner_stride", vj.compose, K, K, inner_stride=0, exc=ValueError,
             words="inner_stride"),
        case("compose/order", vj.compose, K, K, order=-1, exc=ValueError, words="order"),
        # taylor_coefficients, proxy_kernels
        case("taylor/fn", vj.taylor_coefficients, "tanh", 2, exc=TypeError, words="fn"),
        case("taylor/order negative", vj.taylor_coefficients, jnp.tanh, -1, exc=ValueError,
             words="order"),
        case("taylor/order float", vj.taylor_coefficients, jnp.tanh, 2.0, exc=TypeError,
             words="order"),
        case("taylor/at complex", vj.taylor_coefficients, jnp.tanh, 2, 1j, exc=TypeError,
             words="at"),
        case("taylor/at str", vj.taylor_coefficients, jnp.tanh, 2, "0", exc=TypeError, words="at"),
        case("proxy_kernels/apply_fn", vj.proxy_kernels, None, 1.0, (2, 2, 1), exc=TypeError,
             words="apply_fn"),
        case("proxy_kernels/rf_shape", vj.proxy_kernels, net, 1.0, (2, 2), exc=ValueError,
             words="rf_shape"),
        case("proxy_kernels/rf_shape float", vj.proxy_kernels, net, 1.0, (2.0, 2.0, 1.0),
             exc=ValueError, words="rf_shape"),
        case("proxy_kernels/rf_shape output", vj.proxy_kernels, net, 1.0, (3, 3, 1), exc=ValueError,
             words="rf_shape"),
        case("proxy_kernels/order", vj.proxy_kernels, net, 1.0, (2, 2, 1), order=-1,
             exc=ValueError, words="order"),
        case("proxy_kernels/at shape", vj.proxy_kernels, net, 1.0, (2, 2, 1), at=jnp.zeros((2, 2)),
             exc=ValueError, words="at"),
        case("proxy_kernels/at complex", vj.proxy_kernels, net, 1.0, (2, 2, 1),
             at=jnp.zeros((2, 2, 1), jnp.complex64), exc=TypeError, words="at"),
        # hack, unit_norm_sampler
        case("hack/key", vj.hack, 0, box, (2, 2, 1), 2, steps=2, exc=TypeError, words="key"),
        case("hack/black_box", vj.hack, KEY, None, (2, 2, 1), 2, steps=2, exc=TypeError,
             words="black_box"),
        case("hack/rf_shape", vj.hack, KEY, box, (2, 2), 2, steps=2, exc=ValueError,
             words="rf_shape"),
        case("hack/out_channels", vj.hack, KEY, box, (2, 2, 1), 0, steps=2, exc=ValueError,
             words="out_channels"),
        case("hack/out_channels wrong", vj.hack, KEY, box, (2, 2, 1), 3, steps=2, exc=ValueError,
             words="black_box"),
        case("hack/order", vj.hack, KEY, box, (2, 2, 1), 2, order=-1, steps=2, exc=ValueError,
             words="order"),
        case("hack/rank", vj.hack, KEY, box, (2, 2, 1), 2, rank=0, steps=2, exc=ValueError,
             words="rank"),
        case("hack/steps", vj.hack, KEY, box, (2, 2, 1), 2, steps=0, exc=ValueError,
             words="steps"),
        case("hack/steps float", vj.hack, KEY, box, (2, 2, 1), 2, steps=10.0, exc=ValueError,
             words="steps"),
        case("hack/batch_size", vj.hack, KEY, box, (2, 2, 1), 2, batch_size=0, steps=2,
             exc=ValueError, words="batch_size"),
        case("hack/stride", vj.hack, KEY, box, (2, 2, 1), 2, stride=0, steps=2, exc=ValueError,
             words="stride"),
        case("hack/learning_rate", vj.hack, KEY, box, (2, 2, 1), 2, learning_rate=-1.0, steps=2,
             exc=ValueError, words="learning_rate"),
        case("hack/learning_rate nan", vj.hack, KEY, box, (2, 2, 1), 2, learning_rate=float("nan"),
             steps=2, exc=ValueError, words="learning_rate"),
        case("hack/learning_rate str", vj.hack, KEY, box, (2, 2, 1), 2, learning_rate="fast",
             steps=2, exc=TypeError, words="learning_rate"),
        case("hack/sampler", vj.hack, KEY, box, (2, 2, 1), 2, sampler=lambda k: jnp.ones((4, 2)),
             steps=2, exc=ValueError, words="sampler"),
        case("hack/sampler nan", vj.hack, KEY, box, (2, 2, 1), 2,
             sampler=lambda k: jnp.full((4, 2, 2, 1), jnp.nan), steps=2, exc=ValueError,
             words="sampler", traced=False),
        case("hack/sampler complex", vj.hack, KEY, box, (2, 2, 1), 2,
             sampler=lambda k: jnp.ones((4, 2, 2, 1), jnp.complex64), steps=2, exc=TypeError,
             words="sampler"),
        case("unit_norm_sampler/rf_shape", vj.unit_norm_sampler, (2, 2), exc=ValueError,
             words="rf_shape"),
        case("unit_norm_sampler/batch_size", vj.unit_norm_sampler, (2, 2, 1), 0, exc=ValueError,
             words="batch_size"),
        # receptive_field, from_layers
        case("receptive_field/layers", vj.receptive_field, Conv(H1), exc=ValueError,
             words="layers"),
        case("receptive_field/input_shape", vj.receptive_field, NET, input_shape=(3, 3),
             exc=ValueError, words="input_shape"),
        case("receptive_field/needs input_shape", vj.receptive_field, NET + [GlobalAvgPool()],
             exc=ValueError, words="input_shape"),
        case("from_layers/order", vj.from_layers, NET, order=-1, exc=ValueError, words="order"),
        case("from_layers/order float", vj.from_layers, NET, order=2.0, exc=TypeError,
             words="order"),
        case("from_layers/method", vj.from_layers, NET, order=1, method="taylor", exc=ValueError,
             words="method"),
        case("from_layers/chain order", vj.from_layers, NET, order=3, method="chain",
             exc=ValueError, words="method"),
        case("from_layers/relu", vj.from_layers, [Conv(H1), ReLU()], order=1, exc=ValueError,
             words=("layers[1]", "ReLU")),
        case("from_layers/max pool", vj.from_layers, [Conv(H1), Pool(2)], order=1,
             exc=ValueError, words=("layers[1]", "max")),
        case("from_layers/complex", vj.from_layers, [Conv(H1.astype(jnp.complex64))], order=1,
             exc=TypeError, words="layers[0].w"),
        case("from_layers/bool", vj.from_layers, [Conv(H1.astype(bool))], order=1, exc=TypeError,
             words="layers[0].w"),
        case("from_layers/input_shape", vj.from_layers, NET + [GlobalAvgPool()], order=1,
             exc=ValueError, words="input_shape"),
        case("from_layers/layers", vj.from_layers, "net", order=1, exc=ValueError, words="layers"),
        # proxy_attack
        case("proxy_attack/label range", vj.proxy_attack, K, X, jnp.array([5]), eps=0.1,
             exc=ValueError, words="label", traced=False),
        case("proxy_attack/label negative", vj.proxy_attack, K, X, jnp.array([-1]), eps=0.1,
             exc=ValueError, words="label", traced=False),
        case("proxy_attack/label float", vj.proxy_attack, K, X, jnp.array([0.0]), eps=0.1,
             exc=TypeError, words="label"),
        case("proxy_attack/label shape", vj.proxy_attack, K, X, jnp.array([0, 1, 0]), eps=0.1,
             exc=ValueError, words="label"),
        case("proxy_attack/label python", vj.proxy_attack, K, X, 7, eps=0.1, exc=ValueError,
             words="label"),
        case("proxy_attack/target range", vj.proxy_attack, K, X, LABEL, eps=0.1,
             target=jnp.array([7]), exc=ValueError, words="target", traced=False),
        case("proxy_attack/target float", vj.proxy_attack, K, X, LABEL, eps=0.1,
             target=jnp.array([1.0]), exc=TypeError, words="target"),
        case("proxy_attack/eps negative", vj.proxy_attack, K, X, LABEL, eps=-0.1, exc=ValueError,
             words="eps"),
        case("proxy_attack/eps nan", vj.proxy_attack, K, X, LABEL, eps=float("nan"),
             exc=ValueError, words="eps"),
        case("proxy_attack/eps str", vj.proxy_attack, K, X, LABEL, eps="0.1", exc=TypeError,
             words="eps"),
        case("proxy_attack/clip order", vj.proxy_attack, K, X, LABEL, eps=0.1, clip=(1.0, 0.0),
             exc=ValueError, words="clip"),
        case("proxy_attack/clip length", vj.proxy_attack, K, X, LABEL, eps=0.1, clip=(0.0,),
             exc=ValueError, words="clip"),
        case("proxy_attack/clip nan", vj.proxy_attack, K, X, LABEL, eps=0.1,
             clip=(0.0, float("nan")), exc=ValueError, words="clip"),
        case("proxy_attack/norm", vj.proxy_attack, K, X, LABEL, eps=0.1, norm="l1", exc=ValueError,
             words="norm"),
        case("proxy_attack/steps", vj.proxy_attack, K, X, LABEL, eps=0.1, steps=0, exc=ValueError,
             words="steps"),
        case("proxy_attack/stride", vj.proxy_attack, K, X, LABEL, eps=0.1, stride=0,
             exc=ValueError, words="stride"),
        case("proxy_attack/kernels", vj.proxy_attack, H1, X, LABEL, eps=0.1, exc=TypeError,
             words="kernels"),
        case("proxy_attack/x rank", vj.proxy_attack, K, jnp.ones((3, 3, 1)), LABEL, eps=0.1,
             exc=ValueError, words="x"),
        case("proxy_attack/x complex", vj.proxy_attack, K, X.astype(jnp.complex64), LABEL, eps=0.1,
             exc=TypeError, words="x"),
        case("proxy_attack/x channels", vj.proxy_attack, K, jnp.ones((1, 3, 3, 2)), LABEL,
             eps=0.1, exc=ValueError, words="x"),
    ]  # fmt: skip

VALUES, IDS = params(CASES)


@pytest.mark.parametrize("c, jit", VALUES, ids=IDS)
def test_bad_input_raises_a_clear_error(c, jit):
    check(c, jit=jit)


def test_integer_weights_are_promoted_not_truncated():
    int_net = [Conv(jnp.ones((3, 3, 1, 2), int)), Smooth(jax.nn.sigmoid)]
    float_net = [Conv(jnp.ones((3, 3, 1, 2))), Smooth(jax.nn.sigmoid)]
    got, want = vj.from_layers(int_net, order=2), vj.from_layers(float_net, order=2)
    np.testing.assert_allclose(got.h0, 0.5)
    np.testing.assert_allclose(got.h1, 0.25)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(a, b)


def test_traced_out_of_range_labels_give_nan_not_a_plausible_input():
    attack = jax.jit(lambda lab, tgt: vj.proxy_attack(K, X, lab, eps=0.1, target=tgt))
    assert bool(jnp.isnan(attack(jnp.array([5]), None)).all())
    assert bool(jnp.isnan(attack(jnp.array([-1]), None)).all())
    assert bool(jnp.isnan(attack(LABEL, jnp.array([2]))).all())
    assert bool(jnp.isfinite(attack(LABEL, jnp.array([1]))).all())
