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
    batch = np.concatenate([x[None], x[None] + bumps])
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
    with jax.enable_x64(True):
        for path in paths:
            g = geometry(layers, path, input_shape=input_shape)
            out_hw = (1, 1) if g.out_shape.flat else (g.out_shape.h, g.out_shape.w)
            mask = _perturbation_mask(layers, x, path)
            expected = _expected_mask(g, out_hw, input_shape[:2])
            np.testing.assert_array_equal(mask, expected, err_msg=str(path))
    assert len(paths) >= 2


@pytest.mark.parametrize("seed, kind, head", [n for n in NETS if n[1] == "avg"][::2])
def test_receptive_field_by_autodiff(seed, kind, head):
    layers, input_shape = random_net(seed, kind, head)
    with jax.enable_x64(True):
        mask = _grad_mask(layers, jnp.asarray(_image(seed, kind, input_shape)))
    g = geometry(layers, input_shape=input_shape)
    out_hw = (1, 1) if g.out_shape.flat else (g.out_shape.h, g.out_shape.w)
    np.testing.assert_array_equal(mask, _expected_mask(g, out_hw, input_shape[:2]))
    assert mask.any(axis=(0, 1)).sum() > 0 and not mask.all() or head is not None
