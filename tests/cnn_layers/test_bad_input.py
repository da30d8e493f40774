"""Bad input to every public function of cnn_layers: a clear error naming the argument."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import cnn_layers as cl
from tests.bad_input import case, check, params, unchecked

W = jnp.ones((3, 3, 1, 2))
NET = [cl.Conv(W), cl.ReLU(), cl.Pool(2, "avg")]
IMAGES = jnp.ones((2, 8, 8, 1))
ONE = jnp.ones((2,))
BN = cl.BatchNorm(ONE, ONE, ONE, ONE)

with unchecked():  # some cases build their bad arguments up front
    CASES = [
        # the layer constructors
        case("Conv/w rank 3", cl.Conv, jnp.ones((3, 3, 1)), exc=ValueError, words="Conv.w"),
        case("Conv/w empty", cl.Conv, jnp.ones((3, 0, 1, 2)), exc=ValueError, words="Conv.w"),
        case("Conv/b shape", cl.Conv, W, jnp.ones((3,)), exc=ValueError, words="Conv.b"),
        case("Conv/stride 0", cl.Conv, W, stride=0, exc=ValueError, words="Conv.stride"),
        case("Conv/stride float", cl.Conv, W, stride=1.5, exc=ValueError, words="Conv.stride"),
        case("Conv/stride bool", cl.Conv, W, stride=True, exc=ValueError, words="Conv.stride"),
        case("Conv/padding name", cl.Conv, W, padding="FULL", exc=ValueError, words="Conv.padding"),
        case("Conv/padding negative", cl.Conv, W, padding=-1, exc=ValueError, words="Conv.padding"),
        case("Conv/padding pairs", cl.Conv, W, padding=((1,), (1,)), exc=ValueError,
             words="Conv.padding"),
        case("BatchNorm/mean rank", cl.BatchNorm, ONE, ONE, jnp.ones((2, 2)), ONE, exc=ValueError,
             words="BatchNorm.mean"),
        case("BatchNorm/var length", cl.BatchNorm, ONE, ONE, ONE, jnp.ones(3), exc=ValueError,
             words="BatchNorm.var"),
        case("BatchNorm/scale length", cl.BatchNorm, jnp.ones(3), ONE, ONE, ONE, exc=ValueError,
             words="BatchNorm.scale"),
        case("BatchNorm/eps negative", cl.BatchNorm, ONE, ONE, ONE, ONE, eps=-1.0, exc=ValueError,
             words="BatchNorm.eps"),
        case("BatchNorm/eps nan", cl.BatchNorm, ONE, ONE, ONE, ONE, eps=float("nan"),
             exc=ValueError, words="BatchNorm.eps"),
        case("BatchNorm/eps str", cl.BatchNorm, ONE, ONE, ONE, ONE, eps="1e-5", exc=ValueError,
             words="BatchNorm.eps"),
        case("Pool/window 0", cl.Pool, 0, exc=ValueError, words="Pool.window"),
        case("Pool/window float", cl.Pool, 2.0, exc=ValueError, words="Pool.window"),
        case("Pool/kind", cl.Pool, 2, "min", exc=ValueError, words="Pool.kind"),
        case("Pool/stride 0", cl.Pool, 2, stride=0, exc=ValueError, words="Pool.stride"),
        case("Pool/padding", cl.Pool, 2, padding="FULL", exc=ValueError, words="Pool.padding"),
        case("Dense/w rank", cl.Dense, jnp.ones((2, 2, 2)), exc=ValueError, words="Dense.w"),
        case("Dense/b length", cl.Dense, jnp.ones((4, 2)), jnp.ones(3), exc=ValueError,
             words="Dense.b"),
        case("Smooth/fn", cl.Smooth, 3.0, exc=TypeError, words="Smooth.fn"),
        case("Poly/coeffs rank", cl.Poly, jnp.ones((2, 2)), exc=ValueError, words="Poly.coeffs"),
        case("Poly/coeffs empty", cl.Poly, jnp.ones((0,)), exc=ValueError, words="Poly.coeffs"),
        case("Residual/block type", cl.Residual, cl.ReLU(), exc=TypeError, words="Residual.block"),
        case("Residual/block empty", cl.Residual, [], exc=ValueError, words="Residual.block"),
        case("Residual/shortcut type", cl.Residual, [cl.ReLU()], 3, exc=TypeError,
             words="Residual.shortcut"),
        # describe, and the checks every lens runs through it
        case("describe/layers type", cl.describe, cl.ReLU(), exc=ValueError, words="layers"),
        case("describe/layers empty", cl.describe, [], exc=ValueError, words="layers"),
        case("describe/element", cl.describe, [cl.ReLU(), "relu"], exc=TypeError,
             words="layers[1]"),
        case("describe/w list", lambda: cl.describe([cl.Conv([[1.0]])]), exc=TypeError,
             words="w"),
        case("describe/input_shape rank", cl.describe, NET, (8, 8), exc=ValueError,
             words="input_shape"),
        case("describe/input_shape zero", cl.describe, NET, (8, 0, 1), exc=ValueError,
             words="input_shape"),
        case("describe/input_shape float", cl.describe, NET, (8.0, 8.0, 1.0), exc=ValueError,
             words="input_shape"),
        case("describe/channels", cl.describe, [cl.Conv(W), cl.Conv(W)], exc=ValueError,
             words=("layers[1]", "channels")),
        case("describe/window", cl.describe, NET, (2, 2, 1), exc=ValueError,
             words=("layers[0]", "window")),
        case("describe/dense size", cl.describe, [cl.Conv(W), cl.Dense(jnp.ones((5, 1)))],
             (4, 4, 1), exc=ValueError, words="layers[1]"),
        case("describe/conv after flatten", cl.describe, [cl.Flatten(), cl.Conv(W)], exc=ValueError,
             words="layers[1]"),
        case("describe/residual shapes", cl.describe,
             [cl.Residual([cl.Conv(jnp.ones((3, 3, 1, 1)))])], (8, 8, 1), exc=ValueError,
             words="layers[0]"),
        # forward
        case("forward/images rank", cl.forward, NET, jnp.ones((8, 8, 1)), exc=ValueError,
             words="images"),
        case("forward/images complex", cl.forward, NET, jnp.ones((1, 8, 8, 1), jnp.complex64),
             exc=TypeError, words="images"),
        case("forward/images bool", cl.forward, NET, jnp.ones((1, 8, 8, 1), bool), exc=TypeError,
             words="images"),
        case("forward/images str", cl.forward, NET, np.full((1, 8, 8, 1), "a"), exc=TypeError,
             words="images"),
        case("forward/images channels", cl.forward, NET, jnp.ones((1, 8, 8, 3)), exc=ValueError,
             words="channels"),
        case("forward/w complex", cl.forward, [cl.Conv(W.astype(jnp.complex64))], IMAGES,
             exc=TypeError, words="layers[0].w"),
        case("forward/upto range", cl.forward, NET, IMAGES, upto=3, exc=ValueError, words="upto"),
        case("forward/upto type", cl.forward, NET, IMAGES, upto="conv", exc=TypeError,
             words="upto"),
        case("forward/upto path", cl.forward, NET, IMAGES, upto=(0, "block", 0), exc=ValueError,
             words="upto"),
        case("forward/layers", cl.forward, None, IMAGES, exc=ValueError, words="layers"),
        # geometry, chain, layer_paths
        case("geometry/layer range", cl.geometry, NET, 7, exc=ValueError, words="layer"),
        case("geometry/layer type", cl.geometry, NET, 1.0, exc=TypeError, words="layer"),
        case("geometry/needs input_shape", cl.geometry, NET + [cl.GlobalAvgPool()], exc=ValueError,
             words="input_shape"),
        case("geometry/input_shape", cl.geometry, NET, input_shape=(8, 8, 1, 1), exc=ValueError,
             words="input_shape"),
        case("chain/path", cl.chain, cl.describe(NET), -1, exc=ValueError, words="layer"),
        case("chain/infos", cl.chain, NET, 0, exc=TypeError, words="infos"),
        case("layer_paths/layers", cl.layer_paths, cl.ReLU(), exc=TypeError, words="layers"),
        case("layer_paths/types", cl.layer_paths, NET, "Conv", exc=TypeError, words="types"),
        # batch-norm folding
        case("fold_batchnorm/layer", cl.fold_batchnorm, cl.Pool(2), BN, exc=TypeError,
             words="layer"),
        case("fold_batchnorm/bn", cl.fold_batchnorm, cl.Conv(W), cl.ReLU(), exc=TypeError,
             words="bn"),
        case("fold_batchnorm/channels", cl.fold_batchnorm, cl.Conv(jnp.ones((3, 3, 1, 3))), BN,
             exc=ValueError, words="bn"),
        case("fold_batchnorm/complex", cl.fold_batchnorm, cl.Conv(W.astype(jnp.complex64)), BN,
             exc=TypeError, words="layer.w"),
        case("fold_batchnorms/layers", cl.fold_batchnorms, cl.Conv(W), exc=TypeError,
             words="layers"),
        # helpers and from_nnx
        case("flatten/rank", cl.flatten, jnp.ones((3,)), exc=ValueError, words="x"),
        case("global_avg_pool/rank", cl.global_avg_pool, jnp.ones((8, 8, 2)), exc=ValueError,
             words="x"),
        case("global_avg_pool/complex", cl.global_avg_pool, jnp.ones((1, 8, 8, 2), jnp.complex64),
             exc=TypeError, words="x"),
        case("from_nnx/model", cl.from_nnx, 3, exc=ValueError, words=("model", "int")),
        case("from_nnx/fold_batchnorm", cl.from_nnx, [cl.ReLU()], fold_batchnorm="yes",
             exc=TypeError, words="fold_batchnorm"),
    ]  # fmt: skip

VALUES, IDS = params(CASES)


@pytest.mark.parametrize("c, jit", VALUES, ids=IDS)
def test_bad_input_raises_a_clear_error(c, jit):
    check(c, jit=jit)


def test_integer_weights_are_promoted_not_truncated():
    w = np.arange(-4, 5).reshape(3, 3, 1, 1)
    x = jnp.linspace(-1.0, 1.0, 25).reshape(1, 5, 5, 1)
    got = cl.forward([cl.Conv(jnp.asarray(w)), cl.Smooth(jnp.tanh)], x)
    want = cl.forward([cl.Conv(jnp.asarray(w, jnp.float32)), cl.Smooth(jnp.tanh)], x)
    assert got.dtype == jnp.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert float(jnp.abs(got).max()) > 0.1


def test_integer_images_are_promoted():
    x = jnp.arange(64).reshape(1, 8, 8, 1)
    np.testing.assert_allclose(cl.forward(NET, x), cl.forward(NET, x.astype(jnp.float32)))
    assert jax.jit(lambda v: cl.forward(NET, v))(x).dtype == jnp.float32
