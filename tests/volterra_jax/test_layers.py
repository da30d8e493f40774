import types

import jax.numpy as jnp
import numpy as np
import pytest

from decoding_jax.layers import Conv, Pool, ReLU
from volterra_jax import Poly, Smooth, from_layers, receptive_field


def test_receptive_field_of_lenet():
    layers = [
        Conv(jnp.zeros((5, 5, 1, 20))),
        Smooth(jnp.tanh),
        Pool(2, "avg"),
        Conv(jnp.zeros((5, 5, 20, 50))),
        Pool(2, "avg"),
        Conv(jnp.zeros((4, 4, 50, 500))),
        Poly(jnp.array([0.0, 1.0])),
        Conv(jnp.zeros((1, 1, 500, 10))),
    ]
    rf = receptive_field(layers)
    assert tuple(rf) == (28, 28, 1, 4) and rf.shape == (28, 28, 1)


def test_receptive_field_rectangular_and_strided():
    rf = receptive_field([Conv(jnp.zeros((3, 2, 2, 4)), stride=2), Conv(jnp.zeros((2, 3, 4, 1)))])
    assert tuple(rf) == (5, 6, 2, 2)


def test_duck_typed_layers_are_refused():
    w = jnp.arange(8.0).reshape(2, 2, 1, 2)
    conv = types.SimpleNamespace(w=w)  # the old duck-typed conv: no longer a layer
    with pytest.raises(TypeError, match=r"layers\[0\] must be one of the layer types"):
        receptive_field([conv])
    with pytest.raises(TypeError, match=r"layers\[1\] must be one of the layer types"):
        from_layers([Conv(w), types.SimpleNamespace(size=2, kind="avg")], order=1)
    k = from_layers([Conv(w), Pool(2, "avg")], order=1)
    np.testing.assert_allclose(k.h1[0, 0, 0], w[0, 0, 0] / 4)
    np.testing.assert_allclose(k.h1.sum(axis=(0, 1, 2)), w.sum(axis=(0, 1, 2)))


def test_receptive_field_is_geometry_for_every_layer():
    """ReLU and max pools have no Volterra kernels but a receptive field (for the local
    proxies of `proxy_kernels(..., at=x)`)."""
    layers = [
        Conv(jnp.zeros((3, 3, 2, 4)), padding="SAME"),
        ReLU(),
        Pool(3, "max", stride=2, padding="SAME"),
        Conv(jnp.zeros((2, 2, 4, 1))),
    ]
    assert tuple(receptive_field(layers)) == (7, 7, 2, 2)
    with pytest.raises(ValueError, match=r"layers\[1\] \(ReLU\).*at=x"):
        from_layers(layers, order=1)


def test_poly_evaluates_its_coefficients():
    p = Poly(jnp.array([1.0, -2.0, 0.5]))
    u = jnp.array([0.0, 1.0, 2.0])
    np.testing.assert_allclose(p(u), 1 - 2 * u + 0.5 * u**2)


@pytest.mark.bad_input
def test_bad_layers_raise():
    with pytest.raises(ValueError, match=r"layers\[1\] \(Pool\) is a max pooling"):
        from_layers([Conv(jnp.zeros((2, 2, 1, 1))), Pool(2, "max")], order=1)
    with pytest.raises(ValueError, match="must contain a convolution"):
        receptive_field([Pool(2, "avg")])
    with pytest.raises(ValueError, match="non-empty list"):
        receptive_field([])
    with pytest.raises(ValueError, match="Poly.coeffs"):
        Poly(jnp.zeros((2, 2)))
    with pytest.raises(TypeError, match="callable"):
        Smooth(3.0)
