"""decode on the whole layer vocabulary: padded, strided, batch-normalised, residual nets with
overlapping and global pools and dense heads, against the network itself, its input gradient
and the zero-extended-network oracle of the border rule."""

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
    fold_batchnorms,
    geometry,
    layer_paths,
)
from decoding_jax import decode, decoded_response, forward, resize_matrix
from tests.decoding_jax import extended, oracles

UNITS = (Conv, Dense, GlobalAvgPool, Residual, Pool, BatchNorm)


def _conv(rng, k, cin, cout, stride=1, padding="SAME"):
    return Conv(rng.normal(size=(k, k, cin, cout)), rng.normal(size=cout), stride, padding)


def _bn(rng, c):
    return BatchNorm(
        rng.normal(size=c), rng.normal(size=c), rng.normal(size=c), rng.uniform(0.5, 2, c), 1e-3
    )


def _vgg(rng):
    # 13x13x2 -> SAME conv -> bn -> relu -> SAME conv s2 (7) -> overlapping avg pool 3 s2 SAME (4)
    # -> explicitly padded 2x2 conv (4) -> global average -> dense
    return [
        _conv(rng, 3, 2, 3),
        _bn(rng, 3),
        ReLU(),
        _conv(rng, 3, 3, 4, stride=2),
        Pool(3, "avg", stride=2, padding="SAME"),
        _conv(rng, 2, 4, 3, padding=((1, 0), (0, 1))),
        GlobalAvgPool(),
        Dense(rng.normal(size=(3, 2)), rng.normal(size=2)),
    ]


def _resnet(rng):
    # stem, an identity block, a stride-2 block with a 1x1 projection, global average, dense
    return [
        _conv(rng, 3, 1, 3),
        Residual([_conv(rng, 3, 3, 3), _bn(rng, 3), ReLU(), _conv(rng, 3, 3, 3), _bn(rng, 3)]),
        ReLU(),
        Residual(
            [_conv(rng, 3, 3, 4, stride=2), _bn(rng, 4), ReLU(), _conv(rng, 3, 4, 4)],
            [_conv(rng, 1, 3, 4, stride=2, padding="VALID"), _bn(rng, 4)],
        ),
        ReLU(),
        GlobalAvgPool(),
        Dense(rng.normal(size=(4, 3))),
    ]


def _valid_head(rng):
    # a VALID net with an overlapping average pool and a dense head on the flattened map
    return [
        _conv(rng, 3, 1, 3, padding="VALID"),
        Pool(3, "avg", stride=2),
        _conv(rng, 2, 3, 4, stride=2, padding="VALID"),
        Flatten(),
        Dense(rng.normal(size=(2 * 2 * 4, 3))),
    ]


NETS = {
    "vgg": (_vgg, (13, 13, 2)),
    "resnet": (_resnet, (12, 12, 1)),
    "valid": (_valid_head, (12, 12, 1)),
}


def _interior(g, out_hw, image_hw):
    """Masks of the output positions whose receptive field lies inside the image."""
    masks = []
    for m, n, r, o in zip(out_hw, image_hw, g.size, g.offset, strict=True):
        p = np.arange(m)
        masks.append((g.stride * p - o >= 0) & (g.stride * p - o + r <= n))
    return masks[0][:, None] & masks[1][None, :]


@pytest.mark.parametrize("fold", [False, True])
@pytest.mark.parametrize("name", list(NETS))
def test_decoded_response_is_the_linear_network(name, fold):
    make, shape = NETS[name]
    rng = np.random.default_rng(0)
    net = make(rng)
    if fold:
        net = jax.tree.map(np.asarray, fold_batchnorms(net))
    images = rng.normal(size=(2, *shape))
    with jax.enable_x64(True):
        jnet = jax.tree.map(jnp.asarray, net)
        run = jax.jit(decode, static_argnames=("layer", "unpool", "input_shape"))
        for path in layer_paths(net, UNITS):
            d = run(jnet, path, unpool="transpose", input_shape=shape)
            g = geometry(net, path, input_shape=shape)
            assert d.shape[1:3] == g.size
            est = np.asarray(
                decoded_response(jnp.asarray(images), d, stride=g.stride, padding=g.padding)
            )
            ref = np.asarray(forward(jnet, jnp.asarray(images), upto=path, bias=False, relu=False))
            ext = np.stack([extended.response(extended.sub_layers(net, path), im) for im in images])
            est = est.reshape(ext.shape)
            tol = 1e-10 * np.abs(ext).max()
            # the border rule: every position is the zero-extended network's
            np.testing.assert_allclose(est, ext, rtol=0, atol=tol, err_msg=str(path))
            # exact for every position whose receptive field lies inside the image
            if ref.ndim == 4:
                inside = _interior(g, ref.shape[1:3], shape[:2])
                np.testing.assert_allclose(est[:, inside], ref[:, inside], rtol=0, atol=tol)
            elif name == "valid":  # no padding anywhere: a dense unit is exact too
                np.testing.assert_allclose(est.reshape(ref.shape), ref, rtol=0, atol=tol)


@pytest.mark.parametrize("name", ["valid", "vgg", "resnet"])
def test_linear_net_decoded_filter_is_input_gradient(name):
    make, shape = NETS[name]
    rng = np.random.default_rng(1)
    net = make(rng)  # relu=False below makes it linear
    with jax.enable_x64(True):
        jnet = jax.tree.map(jnp.asarray, net)
        checked = 0
        for path in layer_paths(net, (Conv,)):
            d = decode(jnet, path, unpool="transpose", input_shape=shape)
            g = geometry(net, path, input_shape=shape)
            out = forward(jnet, jnp.zeros((1, *shape)), upto=path)
            # an interior unit (the field inside the image) of the last channel, if any
            p = [
                next((i for i in range(m) if 0 <= g.stride * i - o <= n - r), None)
                for m, n, r, o in zip(out.shape[1:3], shape[:2], g.size, g.offset, strict=True)
            ]
            if None in p:
                continue
            checked += 1

            def unit(x, p=p, path=path):
                return forward(jnet, x[None], upto=path, bias=False, relu=False)[0, p[0], p[1], -1]

            grad = jax.grad(unit)(jnp.asarray(rng.normal(size=shape)))
            y0, x0 = (g.stride * q - o for q, o in zip(p, g.offset, strict=True))
            placed = jnp.zeros(shape).at[y0 : y0 + g.size[0], x0 : x0 + g.size[1]].set(d[-1])
            np.testing.assert_allclose(grad, placed, rtol=0, atol=1e-12 * float(jnp.abs(d).max()))
        assert checked >= 2
        # a global/dense unit of a VALID net: the gradient over the whole image
        if name == "valid":
            top = len(net) - 1
            d = decode(jnet, top, unpool="transpose", input_shape=shape)
            grad = jax.grad(lambda x: forward(jnet, x[None], bias=False)[0, 1])(jnp.zeros(shape))
            np.testing.assert_allclose(grad[: d.shape[1], : d.shape[2]], d[1], atol=1e-12)
            assert float(jnp.abs(grad[d.shape[1] :]).max(initial=0)) == 0


def test_folded_batchnorm_decodes_like_the_unfolded():
    rng = np.random.default_rng(2)
    net = _resnet(rng)
    with jax.enable_x64(True):
        jnet = jax.tree.map(jnp.asarray, net)
        folded = fold_batchnorms(jnet)
        assert (
            sum(
                isinstance(layer, BatchNorm)
                for layer in jax.tree.leaves(folded, is_leaf=lambda x: isinstance(x, BatchNorm))
            )
            == 0
        )
        for method in ("transpose", "bicubic"):
            a = decode(jnet, len(net) - 1, unpool=method, input_shape=(12, 12, 1))
            b = decode(folded, len(net) - 1, unpool=method, input_shape=(12, 12, 1))
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * float(jnp.abs(a).max()))


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bicubic", "transpose"])
@pytest.mark.parametrize(("factor", "window"), [(2, 3), (2, 5), (1, 3), (3, 3)])
def test_resize_matrix_for_overlapping_windows_matches_brute_force(method, factor, window):
    n = 4
    m = resize_matrix(n, method=method, factor=factor, window=window)
    assert m.shape == (factor * (n - 1) + window, n)
    for q in range(n):
        e = np.zeros(n)
        e[q] = 1.0
        np.testing.assert_allclose(
            m @ e, oracles.unpool_1d(e, factor, window, method), rtol=0, atol=1e-12
        )


def test_overlapping_max_pool_interpolation_matches_brute_force():
    # the paper's interpolation through a 3x3 stride-2 max pool: each pooled value at its
    # window's centre, a bilinear map of the frame (s (n - 1) + k) of the pooled layer
    rng = np.random.default_rng(3)
    w1, w2 = rng.normal(size=(3, 3, 1, 2)), rng.normal(size=(2, 2, 2, 3))
    net = [Conv(w1), Pool(3, "max", stride=2), Conv(w2)]
    with jax.enable_x64(True):
        d = np.asarray(decode(jax.tree.map(jnp.asarray, net), 2, unpool="bilinear"))
    for k in range(3):
        up = np.stack([oracles.unpool_2d(w2[:, :, c, k], 2, 3, "bilinear") for c in range(2)], -1)
        ref = oracles.substitute(up, w1)
        np.testing.assert_allclose(d[k], ref, rtol=0, atol=1e-12)


@pytest.mark.bad_input
def test_decode_errors_on_the_vocabulary():
    rng = np.random.default_rng(4)
    vgg = _vgg(rng)
    with pytest.raises(ValueError, match=r"layers\[6\] \(GlobalAvgPool\).*pass input_shape"):
        decode(vgg, 7)
    with pytest.raises(ValueError, match=r"layers\[1\] \(BatchNorm\) expects 5 input channels"):
        decode([_conv(rng, 3, 1, 3), _bn(rng, 5), _conv(rng, 3, 5, 2)], 2)
    with pytest.raises(ValueError, match=r"layers\[1\] \(Residual\): its block gives"):
        decode(
            [_conv(rng, 3, 1, 3), Residual([_conv(rng, 3, 3, 3, stride=2)])],
            1,
            input_shape=(8, 8, 1),
        )
    with pytest.raises(ValueError, match=r"layers\[1\] \(Pool\): its 5x5 window is larger"):
        decode(
            [_conv(rng, 3, 1, 3, padding="VALID"), Pool(5), _conv(rng, 1, 3, 2)],
            2,
            input_shape=(6, 6, 1),
        )
    with pytest.raises(ValueError, match="Conv.padding must be 'VALID', 'SAME'.*'FULL'"):
        Conv(jnp.ones((3, 3, 1, 1)), padding="FULL")
    with pytest.raises(ValueError, match="unpool must be one of"):
        decode(vgg, 0, unpool="linear")
    with pytest.raises(TypeError, match=r"layers\[0\]\.w \(Conv\) must be real"):
        decode([Conv(jnp.ones((2, 2, 1, 1), jnp.complex64))], 0)
    with pytest.raises(TypeError, match="path into residual blocks"):
        decode(vgg, (1, "blocks", 0))
    with pytest.raises(ValueError, match="goes into layers\\[1\\], which is a BatchNorm"):
        decode(vgg, (1, "block", 0))


def test_integer_weights_are_promoted_not_truncated():
    w = np.arange(8).reshape(2, 2, 1, 2)
    d = decode([Conv(jnp.asarray(w))], 0)
    assert jnp.issubdtype(d.dtype, jnp.floating)
    np.testing.assert_array_equal(d, np.moveaxis(w, 3, 0).astype(float))
