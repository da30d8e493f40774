"""geometry, describe and layer_paths against brute force: the input pixels a unit depends on
(autodiff, or perturbing one pixel at a time), lax's output shapes, and the zero-extended
network of the border rule (tests/cnn_layers/oracles.py)."""

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
    describe,
    forward,
    geometry,
    layer_paths,
)
from tests.cnn_layers import oracles


def _padding(rng, k):
    choice = rng.integers(4)
    if choice == 0:
        return "VALID"
    if choice == 1:
        return "SAME"
    return tuple(tuple(int(v) for v in rng.integers(0, k, 2)) for _ in range(2))


class _Maker:
    """Random layers whose windows are at least their stride (no gaps in a receptive field);
    ``positive`` weights for the perturbation oracle of max pools."""

    def __init__(self, rng, positive):
        self.rng, self.positive = rng, positive

    def array(self, *shape):
        a = self.rng.normal(size=shape)
        return np.abs(a) + 0.2 if self.positive else a

    def conv(self, k, cin, cout, stride=1, padding="SAME"):
        return Conv(self.array(k, k, cin, cout), self.array(cout), stride, padding)

    def bn(self, c):
        return BatchNorm(
            np.abs(self.array(c)) + 0.5, self.array(c), self.array(c), self.array(c) ** 2 + 0.5
        )

    def residual(self, c, stride):
        block = [self.conv(3, c, c, stride), self.bn(c), ReLU(), self.conv(3, c, c)]
        if self.rng.integers(2):
            block.insert(3, Residual([self.conv(3, c, c, padding=((1, 1), (1, 1)))]))
        if stride == 1 and self.rng.integers(2):
            return Residual(block)
        return Residual(
            block, [self.conv(1, c, c, stride, ("SAME", "VALID")[self.rng.integers(2)])]
        )


def random_net(seed, kind, head=None):
    """Two to four random Conv / Pool / Residual layers on a 10..14 px image, then a head
    (None, 'gap': GlobalAvgPool and Dense, 'dense': Flatten and Dense)."""
    rng = np.random.default_rng(seed)
    make = _Maker(rng, positive=kind == "max")
    input_shape = (int(rng.integers(10, 15)), int(rng.integers(10, 15)), 2)
    layers, shape = [make.conv(int(rng.integers(1, 4)), 2, 3, 1, _padding(rng, 3))], None
    shape = describe(layers, input_shape)[-1].out_shape
    for _ in range(int(rng.integers(1, 4))):
        choice = rng.integers(3)
        if choice == 0:
            k = int(rng.integers(1, 5))
            layer = make.conv(k, shape.c, 3, int(rng.integers(1, min(k, 2) + 1)), _padding(rng, k))
        elif choice == 1:
            k = int(rng.integers(2, 4))
            layer = Pool(k, kind, int(rng.integers(1, k + 1)), _padding(rng, k))
        else:
            layer = make.residual(shape.c, int(rng.integers(1, 3)))
        try:
            new = describe([layer], shape[:3])[0].out_shape
        except ValueError:  # a window larger than the map
            continue
        layers.append(layer)
        shape = new
        if min(shape.h, shape.w) < 3:
            break
    if head == "gap":
        layers += [GlobalAvgPool(), Dense(make.array(shape.c, 2))]
    elif head == "dense":
        layers += [Flatten(), Dense(make.array(shape.h * shape.w * shape.c, 2))]
    return layers, input_shape


def _expected_mask(g, out_hw, in_hw):
    """``[S p - O, S p - O + R)`` clipped to the image, per unit: ``(h', w', H, W)``."""
    mask = np.zeros(tuple(out_hw) + tuple(in_hw), bool)
    for p in np.ndindex(*out_hw):
        lo = [g.stride * p[a] - g.offset[a] for a in range(2)]
        hi = [lo[a] + g.size[a] for a in range(2)]
        mask[p][max(lo[0], 0) : max(hi[0], 0), max(lo[1], 0) : max(hi[1], 0)] = True
    return mask


def _units(out):
    """An output as ``(N, h', w', c)`` (a vector is one 1x1 unit)."""
    return out[:, None, None, :] if out.ndim == 2 else out


def _grad_mask(layers, x):
    """The pixels each output unit (channel 0) depends on: a nonzero entry of its input
    gradient (random weights), all units at once under jit."""

    @jax.jit
    def jac(layers, image):
        def unit_map(image):
            return _units(forward(layers, image[None], bias=False, relu=False))[0, ..., 0]

        return jnp.any(jax.jacrev(unit_map)(image) != 0, axis=-1)  # (h', w', H, W)

    return np.asarray(jac(layers, x))


def _perturbation_mask(layers, x, upto):
    """The pixels each unit (channel 0) depends on: it changes when that pixel grows by 1e6
    (a random linear map of the pixel for signed weights and avg pools; with positive weights
    every path through a max pool carries the change)."""
    h, w, c = x.shape
    bumps = np.zeros((h * w, h, w, c))
    bumps[np.arange(h * w), np.arange(h * w) // w, np.arange(h * w) % w] = 1e6
    batch = np.concatenate([x[None], x[None] + bumps]).astype(np.float32)
    out = forward(layers, jnp.asarray(batch), upto=upto, bias=False, relu=False)
    out = np.asarray(_units(out))[..., 0]
    changed = np.abs(out[1:] - out[:1]) > 1e-3  # (H W, h', w')
    return np.moveaxis(changed.reshape((h, w) + out.shape[1:]), (0, 1), (2, 3))


def _image(seed, kind, input_shape):
    rng = np.random.default_rng(100 + seed)
    if kind == "max":
        return rng.uniform(0.1, 1.0, input_shape)
    return rng.normal(size=input_shape)


NETS = [(seed, "avg", head) for seed, head in enumerate([None] * 6 + ["gap"] * 2 + ["dense"])]
NETS += [(seed, "max", head) for seed, head in enumerate([None] * 4 + ["gap"])]


@pytest.mark.parametrize("seed, kind, head", NETS)
def test_receptive_field_is_the_set_of_pixels_a_unit_depends_on(seed, kind, head):
    """Every layer, nested ones included; every unit, interior and border."""
    layers, input_shape = random_net(seed, kind, head)
    x = _image(seed, kind, input_shape)
    paths = layer_paths(layers, (Conv, Pool, Residual, Dense, GlobalAvgPool))
    for path in paths:  # float32 (cheap to compile): a dependence is a change of >= ~1e2
        g = geometry(layers, path, input_shape=input_shape)
        out_hw = (1, 1) if g.out_shape.flat else (g.out_shape.h, g.out_shape.w)
        mask = _perturbation_mask(layers, x, path)
        expected = _expected_mask(g, out_hw, input_shape[:2])
        np.testing.assert_array_equal(mask, expected, err_msg=str(path))
    assert len(paths) >= 2


@pytest.mark.parametrize("seed, kind, head", [n for n in NETS if n[1] == "avg"][::2])
def test_receptive_field_by_autodiff(seed, kind, head):
    layers, input_shape = random_net(seed, kind, head)
    mask = _grad_mask(layers, jnp.asarray(_image(seed, kind, input_shape), jnp.float32))
    g = geometry(layers, input_shape=input_shape)
    out_hw = (1, 1) if g.out_shape.flat else (g.out_shape.h, g.out_shape.w)
    np.testing.assert_array_equal(mask, _expected_mask(g, out_hw, input_shape[:2]))


def test_random_nets_have_border_and_interior_units():
    """The nets above are not all VALID: many have units whose field leaves the image."""
    border = interior = 0
    for seed, kind, head in NETS:
        layers, input_shape = random_net(seed, kind, head)
        g = geometry(layers, input_shape=input_shape)
        (top, bottom), (left, right) = g.padding
        border += max(top, bottom, left, right) > 0
        interior += g.out_shape.h > 2 and g.out_shape.w > 2
    assert border >= len(NETS) // 2 and interior >= 3


def _pad_or_crop(x, pads):
    """``(H, W, C)`` zero-padded by ``((top, bottom), (left, right))``; negative values crop."""
    (t, b), (lft, r) = pads
    x = np.pad(x, ((max(t, 0), max(b, 0)), (max(lft, 0), max(r, 0)), (0, 0)))
    return x[max(-t, 0) : x.shape[0] - max(-b, 0), max(-lft, 0) : x.shape[1] - max(-r, 0)]


def _correlate(image, kernel, stride):
    """VALID strided cross-correlation in numpy, one tap at a time."""
    rh, rw, _, k = kernel.shape
    ho, wo = (image.shape[0] - rh) // stride + 1, (image.shape[1] - rw) // stride + 1
    out = np.zeros((ho, wo, k))
    for u in range(rh):
        for v in range(rw):
            patch = image[
                u : u + (ho - 1) * stride + 1 : stride, v : v + (wo - 1) * stride + 1 : stride
            ]
            out += patch @ kernel[u, v]
    return out


def _interior_filter(layers, input_shape):
    """The filter ``(R_h, R_w, C, K)`` of an interior unit of a translation-equivariant
    prefix, by autodiff on a larger image; its gradient outside the field must be zero.

    The larger image is the input grown by a multiple of the total stride: every SAME layer
    then pads as on the input, and the paths of a residual stay aligned as there (a SAME and a
    VALID stride-2 path shift against each other with the parity of the map)."""
    small = geometry(layers, input_shape=input_shape)
    s, (oh, ow) = small.stride, small.offset
    grow = s * (-(-(max(small.size) + max(oh, ow)) // s) + 1)
    shape = (input_shape[0] + grow, input_shape[1] + grow, input_shape[2])
    g = geometry(layers, input_shape=shape)
    p = tuple(-(-o // s) for o in g.offset)  # the first unit whose field starts in the image
    lo = [s * p[a] - g.offset[a] for a in range(2)]
    assert min(lo) >= 0 and lo[0] + g.size[0] <= shape[0] and lo[1] + g.size[1] <= shape[1]
    assert p[0] < g.out_shape.h and p[1] < g.out_shape.w
    image = jnp.asarray(np.random.default_rng(0).normal(size=shape))

    @jax.jit
    def jacobian(layers, image):
        unit = lambda im: forward(layers, im[None], bias=False, relu=False)[0, p[0], p[1]]
        return jax.jacrev(unit)(image)  # (K, H, W, C)

    jac = np.asarray(jacobian(layers, image))
    inside = jac[:, lo[0] : lo[0] + g.size[0], lo[1] : lo[1] + g.size[1]]
    assert np.abs(jac).sum() == pytest.approx(np.abs(inside).sum(), rel=1e-14)
    return np.moveaxis(inside, 0, -1), g.stride


def _head_filter(below, stride, head_in, head):
    """The filter of a GlobalAvgPool + Dense or Flatten + Dense unit: the filters of the map
    units below, shifted by ``stride`` per unit and weighted by the head."""
    rh, rw, c, k = below.shape
    h, w = head_in.h, head_in.w
    dense = np.asarray(head[-1].w)
    if isinstance(head[0], GlobalAvgPool):  # (h, w, k, o): each unit's share of each output
        weights = np.broadcast_to(dense / (h * w), (h, w) + dense.shape)
    else:
        weights = np.reshape(dense, (h, w, k, -1))
    out = np.zeros(((h - 1) * stride + rh, (w - 1) * stride + rw, c, weights.shape[-1]))
    for q in np.ndindex(h, w):
        top, left = q[0] * stride, q[1] * stride
        out[top : top + rh, left : left + rw] += below @ weights[q]
    return out


@pytest.mark.parametrize("seed, kind, head", [n for n in NETS if n[1] == "avg"])
def test_padding_and_the_border_rule(seed, kind, head):
    """Correlating the image padded by Geometry.padding with the interior unit's filter at the
    total stride gives the layer's output shape and, at every unit, the zero-extended network
    (the border rule), for the last layer and a layer inside a residual path."""
    layers, input_shape = random_net(seed, kind, head)
    x = np.random.default_rng(seed).normal(size=input_shape)
    n_body = len(layers) - (2 if head else 0)
    targets = [None] + [p for p in layer_paths(layers[:n_body], (Conv,)) if len(p) > 1][:1]
    with jax.enable_x64(True):
        for target in targets:
            sub = layers if target is None else oracles.upto_layers(layers, target)
            g = geometry(layers, target, input_shape=input_shape)
            assert g == geometry(sub, input_shape=input_shape)  # a path is its chain of layers
            body = sub if target is not None else layers[:n_body]
            kernel, stride = _interior_filter(body, input_shape)
            if target is None and head:
                below = describe(body, input_shape)[-1].out_shape
                kernel = _head_filter(kernel, stride, below, layers[n_body:])
            assert (kernel.shape[:2], stride) == (g.size, g.stride)
            out = _correlate(_pad_or_crop(x, g.padding), kernel, g.stride)
            truth = jax.eval_shape(forward, sub, jax.ShapeDtypeStruct((1,) + x.shape, float))
            truth = truth.shape[1:] if len(truth.shape) == 4 else (1, 1, truth.shape[1])
            assert out.shape == truth  # Geometry.padding gives the layer's output shape
            zero_extended = oracles.zero_extended(sub, x, bias=False, relu=False)
            np.testing.assert_allclose(out.reshape(zero_extended.shape), zero_extended, atol=1e-10)
            assert g.padding[0][0] == g.offset[0] and g.padding[1][0] == g.offset[1]


def test_zero_extended_network_is_the_network_in_the_interior_and_for_valid_nets():
    rng = np.random.default_rng(3)
    conv = lambda p: Conv(rng.normal(size=(3, 3, 2, 2)), rng.normal(size=2), 1, p)
    x = rng.normal(size=(9, 9, 2))
    valid = [conv("VALID"), Pool(2, "avg", 1), conv("VALID"), ReLU()]
    with jax.enable_x64(True):
        net = forward(jax.tree.map(jnp.asarray, valid), jnp.asarray(x[None]))[0]
        np.testing.assert_allclose(oracles.zero_extended(valid, x), net, atol=1e-10)
        same = [conv("SAME"), conv("SAME")]
        net = np.asarray(forward(jax.tree.map(jnp.asarray, same), jnp.asarray(x[None]))[0])
    ext = oracles.zero_extended(same, x)
    np.testing.assert_allclose(ext[2:-2, 2:-2], net[2:-2, 2:-2], atol=1e-10)
    assert np.abs(ext[0] - net[0]).max() > 1e-3  # at the border the hidden map is not zero there


def _nested_net(rng):
    c = lambda k, i, o, s=1, p="SAME": Conv(rng.normal(size=(k, k, i, o)), None, s, p)
    bn = BatchNorm(None, None, np.zeros(4), np.ones(4))
    return [
        c(3, 2, 4),
        ReLU(),
        Residual([c(3, 4, 4, 2), bn, Residual([c(3, 4, 4)]), c(3, 4, 4)], [c(1, 4, 4, 2, "VALID")]),
        Pool(3, "avg", 2, ((1, 1), (1, 1))),
        Residual([c(1, 4, 4)]),
        GlobalAvgPool(),
        Dense(rng.normal(size=(4, 3))),
    ]


@pytest.mark.bad_input  # its last check passes a Conv where the annotation wants a list
def test_layer_paths_in_running_order():
    net = _nested_net(np.random.default_rng(0))
    assert layer_paths(net) == [
        (0,),
        (1,),
        (2, "block", 0),
        (2, "block", 1),
        (2, "block", 2, "block", 0),
        (2, "block", 2),
        (2, "block", 3),
        (2, "shortcut", 0),
        (2,),
        (3,),
        (4, "block", 0),
        (4,),
        (5,),
        (6,),
    ]
    assert layer_paths(net, (Conv,)) == [
        (0,),
        (2, "block", 0),
        (2, "block", 2, "block", 0),
        (2, "block", 3),
        (2, "shortcut", 0),
        (4, "block", 0),
    ]
    assert layer_paths(net, [Residual, Dense]) == [(2, "block", 2), (2,), (4,), (6,)]
    with pytest.raises(TypeError, match="layers must be a list of layers, got Conv"):
        layer_paths(net[0])


def _info(infos, path):
    level, info = infos, None
    for depth in range(0, len(path), 2):
        info = level[path[depth]]
        if depth + 1 < len(path):
            level = getattr(info, path[depth + 1])
    return info


@pytest.mark.parametrize("which", ["nested", "random 0", "random 1", "random 7"])
def test_describe_against_the_oracle(which):
    rng = np.random.default_rng(1)
    if which == "nested":
        net, input_shape = _nested_net(rng), (11, 10, 2)
    else:
        net, input_shape = random_net(int(which.split()[1]), "avg", "gap")
    infos = describe(net, input_shape)
    x = rng.normal(size=input_shape)
    for path in layer_paths(net):
        info = _info(infos, path)
        assert info.path == path and info.layer is _info_layer(net, path)
        assert info.name == "layers" + "".join(
            f".{p}" if isinstance(p, str) else f"[{p}]" for p in path
        )
        sub = oracles.upto_layers(net, path)
        before = oracles.run(sub[:-1], x) if len(sub) > 1 else x
        after = oracles.run(sub, x)
        flat = after.ndim == 1
        assert info.out_shape.flat == flat
        assert (info.out_shape.c,) == after.shape[-1:]
        if not flat:
            assert (info.out_shape.h, info.out_shape.w) == after.shape[:2]
        if before.ndim == 3:
            assert tuple(info.in_shape[:3]) == before.shape
        layer = info.layer
        if isinstance(layer, Conv | Pool):
            k = np.shape(layer.w)[:2] if isinstance(layer, Conv) else (layer.window,) * 2
            assert info.window == k and info.stride == layer.stride
            assert info.pads == oracles.resolve_pads(
                layer.padding, before.shape[:2], k, layer.stride
            )
        elif isinstance(layer, GlobalAvgPool | Dense) and before.ndim == 3:
            assert info.window == before.shape[:2] and info.stride == 1
        elif isinstance(layer, Residual):
            assert len(info.block) == len(layer.block) and len(info.shortcut) == len(layer.shortcut)
        else:
            assert info.window == (1, 1) and info.stride == 1


def _info_layer(net, path):
    layer = net[path[0]]
    for depth in range(1, len(path), 2):
        layer = getattr(layer, path[depth])[path[depth + 1]]
    return layer


def test_describe_without_input_shape():
    w = np.ones((3, 3, 2, 4))
    net = [
        Conv(w, padding="SAME"),
        Conv(np.ones((3, 3, 4, 4)), stride=2, padding="SAME"),
        Conv(np.ones((2, 2, 4, 4)), padding=((1, 0), (0, 1))),
        Pool(2),
        GlobalAvgPool(),
        Dense(np.ones((4, 3))),
    ]
    infos = describe(net)
    assert [tuple(i.out_shape) for i in infos] == [
        (None, None, 4, False),
        (None, None, 4, False),
        (None, None, 4, False),
        (None, None, 4, False),
        (1, 1, 4, True),
        (1, 1, 3, True),
    ]
    assert infos[0].pads == ((1, 1), (1, 1))  # SAME at stride 1 does not depend on the size
    assert infos[1].pads is None  # at stride 2 it does
    assert infos[2].pads == ((1, 0), (0, 1)) and infos[4].window is None
    assert str(infos[0].in_shape) == "?x?x?" and str(infos[5].out_shape) == "1x1x3 (flattened)"
    g = geometry(net[:3])
    assert (g.size, g.stride, g.offset, g.padding) == ((7, 7), 2, None, None)
    g = geometry(net[:1])
    assert (g.size, g.stride, g.offset, g.padding) == ((3, 3), 1, (1, 1), None)


def test_geometry_of_the_matconvnet_lenet():
    # the decoding paper's sizes: 5x5, 14x14, 28x28, 28x28 (section 6 of DESIGN.md)
    c = lambda k, i, o: Conv(np.ones((k, k, i, o)))
    net = [c(5, 1, 20), Pool(2), c(5, 20, 50), Pool(2), c(4, 50, 500), ReLU(), c(1, 500, 10)]
    sizes = [geometry(net, i).size for i in (0, 2, 4, 6)]
    assert sizes == [(5, 5), (14, 14), (28, 28), (28, 28)]
    g = geometry(net, input_shape=(28, 28, 1))
    assert (g.stride, g.offset, g.padding) == (4, (0, 0), ((0, 0), (0, 0)))
    assert tuple(g.out_shape) == (1, 1, 10, False) and tuple(g.in_shape) == (28, 28, 1, False)
    assert geometry(net, 5) == geometry(net, 4)  # a ReLU changes nothing


def test_geometry_closed_form_with_padding_strides_and_a_residual():
    w = lambda k: np.ones((k, k, 1, 1))
    net = [
        Conv(w(3), padding="SAME"),  # R 3, O 1
        Pool(3, "max", 2, ((1, 1), (1, 1))),  # R 3 + 2 = 5, O 1 + 1 = 2, S 2
        Residual([Conv(w(3), padding=((2, 0), (2, 0)))], [Conv(w(1), padding="VALID")]),
    ]
    # residual paths: block R 3 O 2, shortcut R 1 O 0 -> union [p - 2, p + 1): R 3, O 2
    g = geometry(net, input_shape=(12, 12, 1))
    assert (g.size, g.stride, g.offset) == ((9, 9), 2, (6, 6))
    assert g.padding == ((6, 1), (6, 1))  # 6x6 out: bottom (6 - 1) 2 + 9 - 12 - 6
    assert geometry(net, (2, "shortcut", 0), input_shape=(12, 12, 1)).size == (5, 5)
    assert geometry(net, (2, "block", 0), input_shape=(12, 12, 1)).offset == (6, 6)


GEOMETRY_ERRORS = {
    "dense without input_shape": (
        ([Conv(np.ones((3, 3, 1, 2))), Flatten(), Dense(np.ones((8, 2)))], None, {}),
        ValueError,
        r"layers\[2\] \(Dense\): its window depends on the size of its input map; pass "
        r"input_shape",
    ),
    "global pool without input_shape": (
        ([GlobalAvgPool()], None, {}),
        ValueError,
        r"layers\[0\] \(GlobalAvgPool\).*pass input_shape",
    ),
    "residual strides differ": (
        ([Residual([Conv(np.ones((3, 3, 1, 1)), stride=2, padding="SAME")])], None, {}),
        ValueError,
        r"layers\[0\] \(Residual\): its block has stride 2 but its shortcut 1",
    ),
    "residual alignment unknown": (
        (
            [
                Residual(
                    [Conv(np.ones((3, 3, 1, 1)), stride=2, padding="SAME")],
                    [Conv(np.ones((1, 1, 1, 1)), stride=2)],
                )
            ],
            None,
            {},
        ),
        ValueError,
        r"layers\[0\] \(Residual\): its alignment of the two paths depends on the size",
    ),
    "layer out of range": (([ReLU()], 1, {}), ValueError, r"layer must be a 0-based index"),
    "layer path into a pool": (
        ([Pool(2)], (0, "block", 0), {}),
        ValueError,
        r"layer path \(0, 'block', 0\) goes into layers\[0\], which is a Pool",
    ),
    "layer not a path": (([ReLU()], "last", {}), TypeError, r"layer must be an int index"),
    "input_shape 2-D": (
        ([ReLU()], None, {"input_shape": (8, 8)}),
        ValueError,
        r"input_shape must be \(H, W, C\) of positive ints, got \(8, 8\)",
    ),
    "input_shape zero": (
        ([ReLU()], None, {"input_shape": (8, 0, 1)}),
        ValueError,
        r"input_shape must be",
    ),
    "input_shape floats": (
        ([ReLU()], None, {"input_shape": (8.0, 8.0, 1.0)}),
        ValueError,
        r"input_shape must be",
    ),
    "window larger than the input": (
        ([Conv(np.ones((5, 5, 1, 1)))], None, {"input_shape": (4, 4, 1)}),
        ValueError,
        r"layers\[0\] \(Conv\): its 5x5 window is larger than its 4x4 input map",
    ),
    "not a layer list": ((ReLU(), None, {}), ValueError, r"layers must be a non-empty list"),
}


@pytest.mark.bad_input
@pytest.mark.parametrize("case", sorted(GEOMETRY_ERRORS))
def test_geometry_errors(case):
    (layers, layer, kwargs), error, pattern = GEOMETRY_ERRORS[case]
    with pytest.raises(error, match=pattern):
        geometry(layers, layer, **kwargs)


def test_walks_work_on_traced_layers_under_jit():
    net = _nested_net(np.random.default_rng(2))

    @jax.jit
    def run(layers, x):
        g = geometry(layers, (2, "block", 3), input_shape=x.shape[1:])
        infos = describe(layers, x.shape[1:])
        assert isinstance(infos[0].layer.w, jax.core.Tracer)
        assert len(layer_paths(layers, (Conv,))) == 6
        return forward(layers, x, upto=(2, "block", 3)), g

    out, g = run(net, jnp.ones((1, 11, 10, 2)))
    assert out.shape == (1, 6, 5, 4) and (g.stride, tuple(g.out_shape)[:3]) == (2, (6, 5, 4))


def test_padding_of_a_flattened_map_is_that_of_the_map():
    conv = Conv(jnp.ones((3, 3, 1, 2)), padding="SAME")
    for layers in ([conv], [conv, Flatten()]):
        assert geometry(layers, input_shape=(8, 8, 1)).padding == ((1, 1), (1, 1))
