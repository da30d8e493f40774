import jax
import jax.numpy as jnp
import numpy as np
import pytest

from decoding_jax import resize_matrix, unpool
from tests.decoding_jax import oracles

MATHWORKS_IN = np.array([[3, 1, 2, 6], [1, 5, 2, 7], [1, 3, 6, 2], [4, 1, 9, 2]], float)
MATHWORKS_FIRST = [3.3109, 2.6187, 1.1206, 0.7166, 1.4067, 2.8883, 5.1615, 6.2060]
MATHWORKS_LAST = [4.4466, 3.3344, 0.9529, 2.4891, 7.9430, 8.3334, 3.6605, 1.4930]


def test_bicubic_reproduces_mathworks_example():
    # imresize([3 1 2 6; 1 5 2 7; 1 3 6 2; 4 1 9 2], [8 8], 'bicubic'), MathWorks documentation
    with jax.enable_x64(True):
        out = np.asarray(unpool(jnp.asarray(MATHWORKS_IN)[:, :, None], method="bicubic"))[..., 0]
    np.testing.assert_allclose(out[0], MATHWORKS_FIRST, atol=1e-4)
    np.testing.assert_allclose(out[-1], MATHWORKS_LAST, atol=1e-4)


@pytest.mark.parametrize("method", ["nearest", "bilinear", "bicubic"])
@pytest.mark.parametrize("factor", [2, 3])
def test_unpool_matches_brute_force_imresize(method, factor):
    x = np.random.default_rng(0).normal(size=(2, 4, 5, 3))
    with jax.enable_x64(True):
        out = np.asarray(jax.jit(lambda x: unpool(x, method=method, factor=factor))(x))
    assert out.shape == (2, 4 * factor, 5 * factor, 3)
    for n in range(2):
        for c in range(3):
            expected = oracles.imresize(x[n, :, :, c], factor, method)
            np.testing.assert_allclose(out[n, :, :, c], expected, rtol=0, atol=1e-12)


def test_nearest_is_pixel_repetition():
    x = np.arange(12.0).reshape(3, 4, 1)
    out = unpool(jnp.asarray(x, jnp.float32), method="nearest", factor=2)
    np.testing.assert_array_equal(out, np.repeat(np.repeat(x, 2, 0), 2, 1))


def test_bicubic_reproduces_linear_ramp_inside_and_constants_everywhere():
    # Keys' cubic reproduces polynomials up to degree 2 away from the borders; rows sum to 1.
    ramp = np.add.outer(np.arange(8.0), 2 * np.arange(8.0))
    with jax.enable_x64(True):
        out = np.asarray(unpool(jnp.asarray(ramp)[:, :, None], method="bicubic"))[..., 0]
        const = unpool(jnp.full((3, 3, 2), 7.0), method="bicubic")
    u = (np.arange(16) + 0.5) / 2 - 0.5
    np.testing.assert_allclose(out[4:-4, 4:-4], np.add.outer(u, 2 * u)[4:-4, 4:-4], atol=1e-12)
    np.testing.assert_allclose(const, 7.0, atol=1e-12)


def test_float32_close_to_float64():
    x = np.random.default_rng(1).normal(size=(5, 5, 2))
    with jax.enable_x64(True):
        ref = np.asarray(unpool(jnp.asarray(x), method="bicubic"))
    out = unpool(jnp.asarray(x, jnp.float32), method="bicubic")
    assert out.dtype == jnp.float32
    np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)


def test_resize_matrix_bilinear_closed_form():
    r = resize_matrix(3, method="bilinear")
    expected = [
        [1, 0, 0],
        [0.75, 0.25, 0],
        [0.25, 0.75, 0],
        [0, 0.75, 0.25],
        [0, 0.25, 0.75],
        [0, 0, 1],
    ]
    np.testing.assert_allclose(r, expected, atol=1e-15)


@pytest.mark.bad_input
def test_unpool_errors():
    x = jnp.ones((4, 4, 1))
    with pytest.raises(ValueError, match="method must be one of"):
        unpool(x, method="lanczos3")
    with pytest.raises(ValueError, match="factor must be a positive int"):
        unpool(x, method="nearest", factor=0)
    with pytest.raises(TypeError, match="factor must be a positive int"):
        unpool(x, method="nearest", factor=2.0)
    with pytest.raises(ValueError, match=r"shape \(..., H, W, C\)"):
        unpool(jnp.ones((4, 4)), method="nearest")
