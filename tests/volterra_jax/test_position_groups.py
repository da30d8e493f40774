"""`from_layers` order 2 when its loop takes several positions per step: each case's smooth
layer has a position grid that `_position_groups` splits into groups of more than one row
(and column), and the kernels must equal the float64 autodiff oracle exactly."""

import jax
import numpy as np
import pytest

from decoding_jax.layers import Pool
from tests.volterra_jax._nets import apply_fn, conv, poly
from volterra_jax import _network, from_layers, proxy_kernels, receptive_field


def _two_rows(key):
    # 4 x 4 positions of a 7 x 7 kernel, stride 1: groups of 2 x 2
    k1, k2 = jax.random.split(key)
    return [conv(k1, 7, 7, 1, 2), poly(0.1, 1.0, 0.4, -0.2), conv(k2, 4, 4, 2, 2)]


def _strided(key):
    # 3 x 2 positions of a 10 x 10 kernel, stride 2: groups of 3 x 1 ((14/10)^2 = 1.96; 3 x 2
    # would be 2.82)
    k1, k2 = jax.random.split(key)
    return [conv(k1, 10, 10, 2, 2, stride=2), poly(0.0, 0.8, 0.5), conv(k2, 3, 2, 2, 1)]


def _deep(key):
    # 6 x 6 positions of a 6 x 6 kernel (groups of 2 x 2), then 2 x 2 positions of a composite
    # 9 x 9 kernel, stride 2 (groups of 1 x 2)
    k1, k2, k3 = jax.random.split(key, 3)
    return [
        conv(k1, 6, 6, 1, 2),
        poly(0.2, 1.0, 0.3),
        Pool(2, "avg"),
        conv(k2, 2, 2, 2, 2),
        poly(-0.1, 0.9, -0.4, 0.1),
        conv(k3, 2, 2, 2, 1),
    ]


NETS = {"two_rows": _two_rows, "strided": _strided, "deep": _deep}


@pytest.mark.parametrize("name", sorted(NETS))
def test_grouped_positions_equal_autodiff(name, monkeypatch):
    seen = []
    groups = _network._position_groups

    def spy(*args):
        seen.append(groups(*args))
        return seen[-1]

    monkeypatch.setattr(_network, "_position_groups", spy)
    with jax.enable_x64(True):
        layers = NETS[name](jax.random.key(5))
        rf = receptive_field(layers)
        ref = proxy_kernels(apply_fn, layers, rf.shape, order=2)
        got = from_layers(layers, order=2)
    assert any(gh > 1 for gh, _ in seen), seen
    for n in range(3):
        np.testing.assert_allclose(
            np.asarray(got[n]), np.asarray(ref[n]), rtol=0, atol=1e-11 * np.abs(ref[n]).max()
        )


@pytest.mark.parametrize(
    ("grid", "k", "stride", "want"),
    [
        ((4, 4), (7, 7), 1, (2, 2)),  # (8/7)^4 = 1.71
        ((4, 4), (5, 5), 1, (1, 2)),  # (6/5)^4 = 2.07 is too much; 1 x 2 before 2 x 1
        ((8, 8), (14, 14), 2, (2, 2)),  # LeNet's layer 2
        ((24, 24), (5, 5), 1, (1, 3)),  # LeNet's layer 1: (7/5)^2 = 1.96
        ((5, 7), (3, 3), 1, (1, 1)),  # primes with no cheap divisor
    ],
)
def test_position_groups_rule(grid, k, stride, want):
    assert _network._position_groups(*grid, *k, stride) == want
