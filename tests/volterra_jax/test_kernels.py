import itertools
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from volterra_jax import VolterraKernels, symmetrize


def _kernels(key, rf=(2, 3, 2), out=3, order=2):
    keys = jax.random.split(key, order + 1)
    terms = [jax.random.normal(keys[0], (out,))]
    terms += [jax.random.normal(keys[n], rf * n + (out,)) for n in range(1, order + 1)]
    return VolterraKernels(*terms)


def test_attributes_and_named_construction():
    k = _kernels(jax.random.key(0))
    assert (k.order, k.rf_shape, k.out_channels, len(k)) == (2, (2, 3, 2), 3, 3)
    assert k.h2 is k[2] and k.h0 is k.terms[0]
    named = VolterraKernels(h1=k.h1, h0=k.h0)
    assert named.order == 1 and named.h1 is k.h1
    assert VolterraKernels(k.h0).rf_shape is None
    with pytest.raises(AttributeError, match="order 2"):
        _ = k.h3


def test_is_a_pytree_and_passes_through_jit():
    k = _kernels(jax.random.key(1))
    doubled = jax.jit(lambda k: jax.tree.map(lambda a: 2 * a, k))(k)
    assert isinstance(doubled, VolterraKernels)
    np.testing.assert_array_equal(doubled.h2, 2 * k.h2)
    assert len(jax.tree.leaves(k)) == 3


@pytest.mark.parametrize(
    "terms, match",
    [
        ((np.zeros((2, 1)),), "h0 must have shape"),
        ((np.zeros(2), np.zeros((3, 3, 2))), "h1 must have shape"),
        ((np.zeros(2), np.zeros((3, 3, 1, 3))), r"h1 must have shape \(3, 3, 1, 2\)"),
        ((np.zeros(2), np.zeros((3, 3, 1, 2)), np.zeros((3, 3, 1, 3, 2, 1, 2))), "h2 must"),
    ],
)
def test_shapes_that_disagree_raise(terms, match):
    with pytest.raises(ValueError, match=match):
        VolterraKernels(*terms)


def test_bad_names_raise():
    with pytest.raises(ValueError, match="without gaps"):
        VolterraKernels(h0=np.zeros(1), h2=np.zeros((1, 1, 1, 1, 1, 1, 1)))
    with pytest.raises(TypeError, match="unknown term"):
        VolterraKernels(h0=np.zeros(1), w=np.zeros(1))
    with pytest.raises(ValueError, match="at least h0"):
        VolterraKernels()


def test_symmetrize_order3_matches_permutation_average():
    with jax.enable_x64(True):
        h = jax.random.normal(jax.random.key(2), (2, 1, 2) * 3 + (2,), jnp.float64)
        flat = np.asarray(h).reshape(4, 4, 4, 2)
        expected = sum(np.transpose(flat, p + (3,)) for p in itertools.permutations(range(3)))
        expected = expected / math.factorial(3)
        got = jax.jit(symmetrize)(h)
        np.testing.assert_allclose(np.asarray(got).reshape(4, 4, 4, 2), expected, atol=1e-14)
        np.testing.assert_allclose(symmetrize(got), got, atol=1e-14)  # idempotent
        assert symmetrize(h[..., 0, 0, 0, :][:, :, :, 0, 0, 0]) is not None  # order 1 allowed


def test_symmetrize_rejects_non_kernels():
    with pytest.raises(ValueError, match="shape"):
        symmetrize(np.zeros((2, 2)))
