"""Bad input to every public function of decoding_jax: a clear error naming the argument."""

import jax.numpy as jnp
import numpy as np
import pytest

import decoding_jax as dj
from tests.bad_input import case, check, params, unchecked

NET = [dj.Conv(jnp.ones((3, 3, 1, 2))), dj.ReLU(), dj.Pool(2), dj.Conv(jnp.ones((2, 2, 2, 3)))]
IMAGES = jnp.ones((2, 8, 8, 1))
IMAGE = jnp.ones((8, 8, 1))
DECODED = jnp.ones((3, 3, 3, 1))
R = jnp.ones((2, 3, 3, 3))
C64 = jnp.complex64

with unchecked():  # some cases build their bad arguments up front
    CASES = [
        # unpool and resize_matrix
        case("unpool/x complex", dj.unpool, jnp.ones((1, 2, 2, 1), C64), method="nearest",
             exc=TypeError, words="x"),
        case("unpool/x bool", dj.unpool, jnp.ones((1, 2, 2, 1), bool), method="nearest",
             exc=TypeError, words="x"),
        case("unpool/x rank", dj.unpool, jnp.ones((2, 2)), method="nearest", exc=ValueError,
             words="x"),
        case("unpool/x str", dj.unpool, np.full((2, 2, 1), "a"), method="nearest", exc=TypeError,
             words="x"),
        case("unpool/method", dj.unpool, jnp.ones((2, 2, 1)), method="lanczos", exc=ValueError,
             words="method"),
        case("unpool/factor 0", dj.unpool, jnp.ones((2, 2, 1)), method="nearest", factor=0,
             exc=ValueError, words="factor"),
        case("unpool/factor float", dj.unpool, jnp.ones((2, 2, 1)), method="nearest", factor=2.0,
             exc=TypeError, words="factor"),
        case("unpool/window 0", dj.unpool, jnp.ones((2, 2, 1)), method="nearest", window=0,
             exc=ValueError, words="window"),
        case("unpool/factor huge", dj.unpool, jnp.ones((2, 2, 1)), method="nearest",
             factor=10**9, exc=ValueError, words="factor"),
        case("resize_matrix/n", dj.resize_matrix, 0, method="nearest", exc=ValueError, words="n"),
        case("resize_matrix/n float", dj.resize_matrix, 2.0, method="nearest", exc=TypeError,
             words="n"),
        case("resize_matrix/method", dj.resize_matrix, 2, method="cubic", exc=ValueError,
             words="method"),
        case("resize_matrix/factor", dj.resize_matrix, 2, method="nearest", factor=-1,
             exc=ValueError, words="factor"),
        case("resize_matrix/window", dj.resize_matrix, 2, method="nearest", window=2.5,
             exc=TypeError, words="window"),
        case("resize_matrix/huge", dj.resize_matrix, 10**6, method="nearest", factor=10**6,
             exc=ValueError, words="n"),
        # forward and total_stride
        case("forward/images complex", dj.forward, NET, IMAGES.astype(C64), exc=TypeError,
             words="images"),
        case("forward/images rank", dj.forward, NET, IMAGE, exc=ValueError, words="images"),
        case("forward/upto", dj.forward, NET, IMAGES, upto=9, exc=ValueError, words="upto"),
        case("forward/w complex", dj.forward, [dj.Conv(jnp.ones((3, 3, 1, 2), C64))], IMAGES,
             exc=TypeError, words="layers[0].w"),
        case("total_stride/layer", dj.total_stride, NET, 4, exc=ValueError, words="layer"),
        case("total_stride/layer type", dj.total_stride, NET, "conv", exc=TypeError,
             words="layer"),
        case("total_stride/input_shape", dj.total_stride, NET, 0, input_shape=(8, 8),
             exc=ValueError, words="input_shape"),
        # decode
        case("decode/layer", dj.decode, NET, 4, exc=ValueError, words="layer"),
        case("decode/layer type", dj.decode, NET, 1.5, exc=TypeError, words="layer"),
        case("decode/layer missing", dj.decode, NET, None, exc=TypeError, words="layer"),
        case("decode/unpool", dj.decode, NET, 3, unpool="cubic", exc=ValueError, words="unpool"),
        case("decode/avg_weighting", dj.decode, NET, 3, avg_weighting="yes", exc=TypeError,
             words="avg_weighting"),
        case("decode/input_shape", dj.decode, NET, 3, input_shape=(8, 8, 2), exc=ValueError,
             words="channels"),
        case("decode/complex", dj.decode, [dj.Conv(jnp.ones((3, 3, 1, 2), C64))], 0,
             exc=TypeError, words="layers[0].w"),
        case("decode/bool", dj.decode, [dj.Conv(jnp.ones((3, 3, 1, 2), bool))], 0, exc=TypeError,
             words="layers[0].w"),
        case("decode/flatten", dj.decode, NET + [dj.Flatten()], 4, input_shape=(8, 8, 1),
             exc=ValueError, words="layer"),
        case("decode/layers", dj.decode, dj.Conv(jnp.ones((3, 3, 1, 2))), 0, exc=ValueError,
             words="layers"),
        case("decode/needs input_shape", dj.decode, NET + [dj.GlobalAvgPool()], 4,
             exc=ValueError, words="input_shape"),
        # decoded_response
        case("decoded_response/stride", dj.decoded_response, IMAGES, DECODED, stride=0,
             exc=ValueError, words="stride"),
        case("decoded_response/stride float", dj.decoded_response, IMAGES, DECODED, stride=2.0,
             exc=TypeError, words="stride"),
        case("decoded_response/images complex", dj.decoded_response, IMAGES.astype(C64), DECODED,
             stride=2, exc=TypeError, words="images"),
        case("decoded_response/images rank", dj.decoded_response, IMAGE, DECODED, stride=2,
             exc=ValueError, words="images"),
        case("decoded_response/decoded complex", dj.decoded_response, IMAGES, DECODED.astype(C64),
             stride=2, exc=TypeError, words="decoded"),
        case("decoded_response/decoded rank", dj.decoded_response, IMAGES, jnp.ones((3, 3, 1)),
             stride=2, exc=ValueError, words="decoded"),
        case("decoded_response/channels", dj.decoded_response, IMAGES, jnp.ones((3, 3, 3, 2)),
             stride=2, exc=ValueError, words="decoded"),
        case("decoded_response/large", dj.decoded_response, IMAGES, jnp.ones((3, 9, 9, 1)),
             stride=2, exc=ValueError, words="decoded"),
        case("decoded_response/padding", dj.decoded_response, IMAGES, DECODED, stride=2,
             padding="SAME", exc=ValueError, words="padding"),
        # response_error
        case("response_error/normalize", dj.response_error, R, R, normalize="l2", exc=ValueError,
             words="normalize"),
        case("response_error/shape", dj.response_error, R, R[:, :2], exc=ValueError,
             words="decoded_response"),
        case("response_error/rank", dj.response_error, jnp.ones(3), jnp.ones(3), exc=ValueError,
             words="net_response"),
        case("response_error/net complex", dj.response_error, R.astype(C64), R, exc=TypeError,
             words="net_response"),
        case("response_error/decoded complex", dj.response_error, R, R.astype(C64),
             exc=TypeError, words="decoded_response"),
        case("response_error/bool", dj.response_error, R.astype(bool), R, exc=TypeError,
             words="net_response"),
        # deconvnet
        case("deconvnet/keep", dj.deconvnet, NET, 3, IMAGE, keep="all", exc=ValueError,
             words="keep"),
        case("deconvnet/image complex", dj.deconvnet, NET, 3, IMAGE.astype(C64), exc=TypeError,
             words="image"),
        case("deconvnet/image rank", dj.deconvnet, NET, 3, IMAGES, exc=ValueError, words="image"),
        case("deconvnet/image channels", dj.deconvnet, NET, 3, jnp.ones((8, 8, 3)),
             exc=ValueError, words="channels"),
        case("deconvnet/layer", dj.deconvnet, NET, 7, IMAGE, exc=ValueError, words="layer"),
        case("deconvnet/signal shape", dj.deconvnet, NET, 3, IMAGE, signal=jnp.ones((1, 2, 2, 2)),
             exc=ValueError, words="signal"),
        case("deconvnet/signal complex", dj.deconvnet, NET, 3, IMAGE,
             signal=jnp.ones((1, 2, 2, 3), C64), exc=TypeError, words="signal"),
        case("deconvnet/complex w", dj.deconvnet, [dj.Conv(jnp.ones((3, 3, 1, 2), C64))], 0,
             IMAGE, exc=TypeError, words="layers[0].w"),
    ]  # fmt: skip

VALUES, IDS = params(CASES)


@pytest.mark.parametrize("c, jit", VALUES, ids=IDS)
def test_bad_input_raises_a_clear_error(c, jit):
    check(c, jit=jit)
