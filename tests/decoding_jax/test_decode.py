import jax
import jax.numpy as jnp
import numpy as np
import pytest

import decoding_jax._substitute as substitute_module
from decoding_jax import (
    Conv,
    Flatten,
    Pool,
    ReLU,
    decode,
    decoded_response,
    forward,
    response_error,
    total_stride,
)
from tests.decoding_jax import oracles


def _avg_net(rng):
    # 22x22x2 -> conv3 20 -> pool 10 -> conv3 (stride 1) 8 -> pool 4 -> conv2 3 -> conv1x1 3
    return [
        Conv(rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3)),
        Pool(2, "avg"),
        Conv(rng.normal(size=(3, 3, 3, 4)), rng.normal(size=4)),
        Pool(2, "avg"),
        Conv(rng.normal(size=(2, 2, 4, 5)), rng.normal(size=5)),
        Conv(rng.normal(size=(1, 1, 5, 2)), rng.normal(size=2)),
    ]


def _strided_net(rng):
    # 23x23x1 -> conv3 stride 2 -> 11 ... use pool 3 on a 9x9 map -> conv2 stride 1
    return [
        Conv(rng.normal(size=(5, 5, 1, 3)), stride=2),
        Conv(rng.normal(size=(2, 2, 3, 2))),
        Pool(3, "avg"),
        Conv(rng.normal(size=(2, 2, 2, 3)), stride=2),
    ]


def _lenet(seed, dtype=jnp.float32):
    rng = np.random.default_rng(seed)
    shapes = [(5, 5, 1, 20), (5, 5, 20, 50), (4, 4, 50, 500), (1, 1, 500, 10)]
    w = [jnp.asarray(rng.normal(size=s), dtype) for s in shapes]
    return [Conv(w[0]), Pool(2), Conv(w[1]), Pool(2), Conv(w[2]), ReLU(), Conv(w[3])]


@pytest.mark.parametrize(
    ("make_net", "image_shape"), [(_avg_net, (2, 22, 22, 2)), (_strided_net, (2, 23, 23, 1))]
)
def test_decoded_response_reproduces_linear_network_response(make_net, image_shape):
    rng = np.random.default_rng(0)
    net, images = make_net(rng), rng.normal(size=image_shape)
    with jax.enable_x64(True):
        net = jax.tree.map(jnp.asarray, net)
        images = jnp.asarray(images)
        decode_jit = jax.jit(decode, static_argnames=("layer", "unpool", "avg_weighting"))
        for layer, lyr in enumerate(net):
            if not isinstance(lyr, Conv):
                continue
            d = decode_jit(net, layer, unpool="nearest", avg_weighting=True)
            est = decoded_response(images, d, stride=total_stride(net, layer))
            ref = forward(net, images, upto=layer, bias=False)
            assert est.shape == ref.shape
            np.testing.assert_allclose(est, ref, rtol=0, atol=1e-10 * float(jnp.max(jnp.abs(ref))))


@pytest.mark.parametrize("make_net", [_avg_net, _strided_net])
def test_decoded_filter_is_input_gradient_of_unit(make_net):
    rng = np.random.default_rng(1)
    net = make_net(rng)
    shape = (22, 22, 2) if make_net is _avg_net else (23, 23, 1)
    with jax.enable_x64(True):
        net = jax.tree.map(jnp.asarray, net)
        top = len(net) - 1
        d = decode(net, top, unpool="nearest", avg_weighting=True)
        stride = total_stride(net, top)
        out_shape = forward(net, jnp.zeros((1, *shape)), upto=top).shape
        for p, q, k in [(0, 0, 0), (out_shape[1] - 1, out_shape[2] - 1, d.shape[0] - 1)]:

            def unit(x, p=p, q=q, k=k):
                return forward(net, x[None], upto=top, bias=False)[0, p, q, k]

            g = jax.grad(unit)(jnp.asarray(rng.normal(size=shape)))
            placed = (
                jnp.zeros(shape)
                .at[stride * p : stride * p + d.shape[1], stride * q : stride * q + d.shape[2]]
                .set(d[k])
            )
            np.testing.assert_allclose(g, placed, rtol=0, atol=1e-12)


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bicubic"])
def test_decode_matches_paper_algorithm_brute_force(method):
    rng = np.random.default_rng(2)
    net = [
        Conv(rng.normal(size=(3, 3, 2, 3))),
        Pool(2, "max"),
        Conv(rng.normal(size=(2, 2, 3, 4)), stride=2),
        ReLU(),
        Pool(2, "avg"),
        Conv(rng.normal(size=(2, 2, 4, 3))),
    ]
    with jax.enable_x64(True):
        jnet = jax.tree.map(jnp.asarray, net)
        for layer in (2, 5):
            for weighting in (False, True):
                d = decode(jnet, layer, unpool=method, avg_weighting=weighting)
                ref = oracles.decode(net, layer, method, weighting)
                np.testing.assert_allclose(d, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


@pytest.mark.parametrize("stride", [1, 2])
def test_folded_and_unfolded_orders_agree(monkeypatch, stride):
    # decode picks, per conv layer, the cheaper of two orders of the same sums: force each
    rng = np.random.default_rng(3)
    net = [
        Conv(rng.normal(size=(3, 3, 1, 3))),
        Pool(2),
        Conv(rng.normal(size=(3, 2, 3, 4)), stride=stride),
        Pool(2),
        Conv(rng.normal(size=(2, 3, 4, 5))),
    ]
    results = []
    with jax.enable_x64(True):
        net = jax.tree.map(jnp.asarray, net)
        for fold in (True, False):
            monkeypatch.setattr(substitute_module, "_fold_is_cheaper", lambda *_, f=fold: f)
            results.append(np.asarray(decode(net, 4, unpool="bicubic")))
    ref = oracles.decode(jax.tree.map(np.asarray, net), 4, "bicubic")
    for d in results:
        np.testing.assert_allclose(d, ref, rtol=0, atol=1e-12 * np.abs(ref).max())


def test_plain_interpolation_differs_by_constant_factor():
    with jax.enable_x64(True):
        net = jax.tree.map(jnp.asarray, _avg_net(np.random.default_rng(4)))
        plain = np.asarray(decode(net, 4, unpool="bilinear"))
        weighted = np.asarray(decode(net, 4, unpool="bilinear", avg_weighting=True))
    np.testing.assert_allclose(plain, 16 * weighted, rtol=1e-12)


def test_lenet_decoded_sizes():
    net = _lenet(0)
    for method in ("nearest", "bilinear", "bicubic"):
        sizes = [
            jax.eval_shape(lambda n, i=i, m=method: decode(n, i, unpool=m), net).shape
            for i in (0, 2, 4, 6)
        ]
        assert sizes == [(20, 5, 5, 1), (50, 14, 14, 1), (500, 28, 28, 1), (10, 28, 28, 1)]
    out = jax.jit(lambda n: decode(n, 6, input_shape=(28, 28, 1)))(net)
    assert out.shape == (10, 28, 28, 1) and out.dtype == jnp.float32


def test_float32_close_to_float64():
    rng = np.random.default_rng(7)
    net = [
        Conv(rng.normal(size=(3, 3, 1, 4))),
        Pool(2),
        Conv(rng.normal(size=(3, 3, 4, 6))),
        Pool(2),
        Conv(rng.normal(size=(2, 2, 6, 5))),
    ]
    out = decode(jax.tree.map(lambda a: jnp.asarray(a, jnp.float32), net), 4)
    assert out.dtype == jnp.float32
    with jax.enable_x64(True):
        ref = np.asarray(decode(jax.tree.map(jnp.asarray, net), 4))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_first_layer_decodes_to_its_filters():
    w = jnp.asarray(np.random.default_rng(1).normal(size=(5, 5, 3, 7)), jnp.float32)
    np.testing.assert_array_equal(decode([Conv(w), ReLU()], 0), jnp.moveaxis(w, 3, 0))


def test_decoded_response_matches_brute_force():
    rng = np.random.default_rng(5)
    images, filters = rng.normal(size=(2, 9, 9, 2)), rng.normal(size=(3, 4, 4, 2))
    with jax.enable_x64(True):
        out = jax.jit(decoded_response, static_argnames="stride")(images, filters, stride=2)
    np.testing.assert_allclose(out, oracles.correlate(images, filters, 2), atol=1e-12)


def test_response_error_closed_forms():
    rng = np.random.default_rng(6)
    r = rng.normal(size=(3, 2, 2, 4))
    err = jax.jit(response_error, static_argnames="normalize")
    with jax.enable_x64(True):
        # a positive gain and an offset per image are removed by either normalisation
        gain = 3 * r + np.array([1.0, -2.0, 5.0])[:, None, None, None]
        np.testing.assert_allclose(err(r, gain), 0, atol=1e-12)
        np.testing.assert_allclose(err(r, gain, normalize="zscore"), 0, atol=1e-12)
        # 'none' is the plain per-image MSE
        np.testing.assert_allclose(err(r, 0 * r, normalize="none"), (r**2).mean(axis=(1, 2, 3)))
        # hand example: [0, 1, 2, 4] vs [0, 2, 1, 4] -> [0, .25, .5, 1] vs [0, .5, .25, 1]
        a = jnp.asarray([[0.0, 1, 2, 4]])
        b = jnp.asarray([[0.0, 2, 1, 4]])
        np.testing.assert_allclose(err(a, b), [2 * 0.25**2 / 4], rtol=1e-12)
        # a sign flip is not a gain: inverted contrast gives a large error
        assert float(err(r, -r)[0]) > 0.1
        # constant blocks are left unscaled, no NaN
        np.testing.assert_allclose(err(jnp.ones((1, 1, 1, 3)), jnp.ones((1, 1, 1, 3))), [0.0])


def test_decode_errors():
    net = _lenet(0)
    with pytest.raises(ValueError, match=r"layers\[7\] \(Flatten\), whose units are positions"):
        decode([*net, Flatten()], 7)
    with pytest.raises(ValueError, match=r"layer must be a 0-based index in \[0, 6\]"):
        decode(net, 7)
    with pytest.raises(ValueError, match="0-based index"):
        decode(net, -1)
    with pytest.raises(TypeError, match="layer must be an int"):
        decode(net, 2.0)
    with pytest.raises(ValueError, match="unpool must be one of"):
        decode(net, 2, unpool="lanczos")
    with pytest.raises(
        ValueError, match=r"layers\[4\] \(Conv\): its 4x4 window is larger than its 2x2"
    ):
        decode(net, 4, input_shape=(22, 22, 1))
    bad = [Conv(jnp.ones((3, 3, 1, 4))), Pool(2), Conv(jnp.ones((3, 3, 5, 2)))]
    with pytest.raises(ValueError, match="expects 5 input channels .* give 4"):
        decode(bad, 2)


@pytest.mark.bad_input
def test_decoded_response_and_error_errors():
    with pytest.raises(ValueError, match="decoded has 2 channels but images have 1"):
        decoded_response(jnp.ones((1, 8, 8, 1)), jnp.ones((3, 4, 4, 2)), stride=1)
    with pytest.raises(ValueError, match="stride must be an int >= 1"):
        decoded_response(jnp.ones((1, 8, 8, 1)), jnp.ones((3, 4, 4, 1)), stride=0)
    with pytest.raises(ValueError, match="larger than"):
        decoded_response(jnp.ones((1, 3, 3, 1)), jnp.ones((3, 4, 4, 1)), stride=1)
    with pytest.raises(ValueError, match="same shape"):
        response_error(jnp.ones((2, 3)), jnp.ones((2, 4)))
    with pytest.raises(ValueError, match="normalize must be one of"):
        response_error(jnp.ones((2, 3)), jnp.ones((2, 3)), normalize="l2")
