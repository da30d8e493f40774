"""Kernel families: brute-force oracles, derivative-operator responses, gradients, constraints."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

from analytic_jax import FAMILIES, Family, family_kernels, get_family, pixel_grid, register_family

# constrained AKP vectors (amplitude first) at generic, non-symmetric values
AKPS = {
    "G": [1.3, 1.6, 0.7, 3.5, 0.8, 0.4],
    "Lg": [-0.7, 1.1],
    "Lt": [0.9, 1.4],
    "Tf": [1.2, 1.2, 0.4],
    "Ts": [-0.5, 1.9, 2.6],
}
ANALYTIC = tuple(AKPS)


def _kernel64(code, akp, k):
    fam = get_family(code)
    raw = fam.unconstrain(jnp.asarray(akp, jnp.float64))
    return jax.jit(fam.kernel)(raw, pixel_grid(k, jnp.float64))


def _loop_grid(k):
    c = (k - 1) / 2
    return [(r, q, q - c, r - c) for r in range(k) for q in range(k)]  # row, col, x, y


def test_pixel_grid_convention():
    g = np.asarray(pixel_grid(3))
    assert g.shape == (2, 3, 3)
    np.testing.assert_array_equal(g[0][1], [-1, 0, 1])  # x grows to the right along a row
    np.testing.assert_array_equal(g[1][:, 1], [-1, 0, 1])  # y grows downwards along a column
    assert np.asarray(pixel_grid(4))[0][0].tolist() == [-1.5, -0.5, 0.5, 1.5]
    with pytest.raises(ValueError, match="kernel_size"):
        pixel_grid(0)


@pytest.mark.parametrize("k", [5, 6])
def test_gabor_matches_loop(k):
    a, s, th, lam, gam, psi = AKPS["G"]
    want = np.zeros((k, k))
    for r, q, x, y in _loop_grid(k):
        u = x * math.cos(th) + y * math.sin(th)
        v = -x * math.sin(th) + y * math.cos(th)
        want[r, q] = (
            a
            * math.exp(-(u * u + gam * gam * v * v) / (2 * s * s))
            * math.cos(2 * math.pi * u / lam + psi)
        )
    with jax.enable_x64(True):
        np.testing.assert_allclose(_kernel64("G", AKPS["G"], k), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("k", [5, 6])
def test_log_matches_loop(k):
    a, s = AKPS["Lg"]
    want = np.zeros((k, k))
    for r, q, x, y in _loop_grid(k):
        r2 = x * x + y * y
        want[r, q] = (r2 - 2 * s * s) / s**4 * math.exp(-r2 / (2 * s * s))
    want -= want.mean()
    x, y = np.meshgrid(np.arange(k) - (k - 1) / 2, np.arange(k) - (k - 1) / 2)
    want *= a / np.sum(want * (x**2 + y**2) / 4)
    with jax.enable_x64(True):
        np.testing.assert_allclose(_kernel64("Lg", AKPS["Lg"], k), want, rtol=1e-10, atol=1e-12)


def _tgd1(u, s):
    mass = lambda t: s * math.sqrt(math.pi / 2) * math.erf(abs(t) / (s * math.sqrt(2)))
    return mass(u + 0.5) - mass(u - 0.5)


@pytest.mark.parametrize("k", [5, 6])
def test_tf_matches_loop(k):
    a, s, th = AKPS["Tf"]
    want, us = np.zeros((k, k)), np.zeros((k, k))
    for r, q, x, y in _loop_grid(k):
        u = x * math.cos(th) + y * math.sin(th)
        v = -x * math.sin(th) + y * math.cos(th)
        want[r, q], us[r, q] = _tgd1(u, s) * math.exp(-v * v / (2 * s * s)), u
    want -= want.mean()
    want *= a / np.sum(want * us)
    with jax.enable_x64(True):
        np.testing.assert_allclose(_kernel64("Tf", AKPS["Tf"], k), want, rtol=1e-10, atol=1e-12)


def _correlate_at_centre(kernel, f):
    # cross-correlation (no flip) of kernel with the image f(x, y), read at the origin
    k = kernel.shape[0]
    return sum(kernel[r, q] * f(x, y) for r, q, x, y in _loop_grid(k))


@pytest.mark.parametrize("k", [5, 6])
def test_derivative_operator_responses(k):
    with jax.enable_x64(True):
        # Tf at theta = 0 measures d/dx (x to the right), at pi/2 d/dy (y down)
        tf0 = np.asarray(_kernel64("Tf", [1.0, 1.2, 0.0], k))
        tf90 = np.asarray(_kernel64("Tf", [1.0, 1.2, math.pi / 2], k))
        assert _correlate_at_centre(tf0, lambda x, y: 3 * x + 7 * y + 2) == pytest.approx(3)
        assert _correlate_at_centre(tf90, lambda x, y: 3 * x + 7 * y + 2) == pytest.approx(7)
        np.testing.assert_allclose(tf90, tf0.T, atol=1e-12)
        # Ts measures the second derivative along u and ignores linear terms
        th = 0.3
        ts = np.asarray(_kernel64("Ts", [1.0, 1.2, th], k))
        quad = lambda x, y: 2.5 * (x * math.cos(th) + y * math.sin(th)) ** 2 + x - 4 * y + 1
        assert _correlate_at_centre(ts, quad) == pytest.approx(5.0)
        # Lt and Lg: unit gain on the Laplacian, blind to linear and x*y terms
        for code in ("Lt", "Lg"):
            lap = np.asarray(_kernel64(code, [1.0, 1.3], k))
            poly = lambda x, y: 1.5 * x * x + 0.5 * y * y + 3 * x * y - x + 2 * y
            assert _correlate_at_centre(lap, poly) == pytest.approx(4.0)
            np.testing.assert_allclose(lap, lap.T, atol=1e-12)
            np.testing.assert_allclose(lap, lap[::-1], atol=1e-12)


@pytest.mark.parametrize("k", [5, 6])
def test_lot_is_sum_of_axis_second_order_tgd(k):
    from analytic_jax import tgd_second_order

    a, s = AKPS["Lt"]
    with jax.enable_x64(True):
        x, y = pixel_grid(k, jnp.float64)
        g = lambda t: np.exp(-(np.asarray(t) ** 2) / (2 * s * s))
        want = np.asarray(tgd_second_order(x, s, k / 2)) * g(y)
        want = want + g(x) * np.asarray(tgd_second_order(y, s, k / 2))
        want -= want.mean()
        want *= a / np.sum(want * (np.asarray(x) ** 2 + np.asarray(y) ** 2) / 4)
        np.testing.assert_allclose(_kernel64("Lt", AKPS["Lt"], k), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("code", ANALYTIC)
def test_check_grads_wrt_akps(code):
    with jax.enable_x64(True):
        fam = get_family(code)
        raw = fam.unconstrain(jnp.asarray(AKPS[code], jnp.float64))
        grids = [pixel_grid(k, jnp.float64) for k in (5, 4)]  # odd and even windows
        f = lambda r: [fam.kernel(r, g) for g in grids]
        check_grads(f, (raw,), order=1, modes=("fwd", "rev"))


@pytest.mark.parametrize("code", ANALYTIC)
def test_table_kernels_equal_each_slice_kernel(code):
    # Family.kernels (one broadcast over a table; the rotation as a matmul, sums of products)
    # against Family.kernel slice by slice, and its gradients against finite differences
    fam = get_family(code)
    with jax.enable_x64(True):
        raw = 0.8 * jax.random.normal(jax.random.key(3), (7, fam.n_params(5)), jnp.float64)
        raw = raw.at[0].set(fam.unconstrain(jnp.asarray(AKPS[code], jnp.float64)))
        for k in (4, 5):
            grid = pixel_grid(k, jnp.float64)
            table = np.asarray(jax.jit(fam.kernels)(raw, grid))
            for j in range(raw.shape[0]):
                np.testing.assert_allclose(
                    table[..., j], fam.kernel(raw[j], grid), rtol=1e-12, atol=1e-13
                )
            check_grads(lambda r, g=grid: fam.kernels(r, g), (raw,), order=1, modes=("fwd", "rev"))


def test_check_grads_plain():
    with jax.enable_x64(True):
        raw = jnp.arange(9.0, dtype=jnp.float64)
        check_grads(lambda r: get_family("P").kernel(r, pixel_grid(3, jnp.float64)), (raw,), 1)


@pytest.mark.parametrize("code", ANALYTIC)
def test_constraints_and_zero_sum(code):
    fam = get_family(code)
    with jax.enable_x64(True):
        key = jax.random.key(0)
        raw = 4 * jax.random.normal(key, (64, fam.n_params(7)), jnp.float64)
        raw = raw.at[:5, 1:].set(-80.0)  # extreme raw values still give valid AKPs
        akp = fam.constrain(raw)
        for i, floor in enumerate(fam.floors):
            if floor is not None:
                assert bool(jnp.all(akp[:, i + 1] >= floor)) and bool(jnp.all(akp[:, i + 1] > 0))
        np.testing.assert_allclose(fam.unconstrain(akp[5:]), raw[5:], rtol=1e-10, atol=1e-10)
        kernels = jax.jit(lambda r: [family_kernels(r, code, k) for k in (3, 4, 7)])(raw)
        single = jax.jit(jax.vmap(fam.kernel, in_axes=(0, None)))(raw, pixel_grid(4, raw.dtype))
        np.testing.assert_allclose(kernels[1], single, rtol=1e-12, atol=1e-14)  # batch-minor path
        for kern in kernels:
            assert bool(jnp.all(jnp.isfinite(kern)))
            sums = jnp.abs(jnp.sum(kern, axis=(1, 2)))
            if fam.zero_sum:
                assert float(jnp.max(sums)) < 1e-12
    assert fam.zero_sum == (code != "G")


@pytest.mark.parametrize("code", ANALYTIC)
def test_canonical_form_draws_the_same_kernel(code):
    fam = get_family(code)
    with jax.enable_x64(True):
        akp = jnp.asarray(AKPS[code], jnp.float64)
        grid = pixel_grid(6, jnp.float64)
        idx = fam.param_names(6).index
        for turn, sign in [(1, 1), (3, -1), (-2, -1), (-1, 1)]:
            moved = akp.at[0].multiply(sign)
            if "theta" in fam.shape_names:
                moved = moved.at[idx("theta")].add(turn * math.pi)
            if "psi" in fam.shape_names and sign < 0:
                moved = moved.at[idx("psi")].add(math.pi)
            if code == "Tf" and turn % 2:  # theta + pi flips an odd kernel
                moved = moved.at[0].multiply(-1 if sign > 0 else 1)
            kern = jax.jit(fam.kernel)
            k_moved = kern(fam.unconstrain(moved), grid)
            canon = fam.canonical(moved)
            np.testing.assert_allclose(kern(fam.unconstrain(canon), grid), k_moved, atol=1e-12)
            if "theta" in fam.shape_names:
                assert 0 <= float(canon[idx("theta")]) < math.pi


@pytest.mark.bad_input
def test_family_kernels_jit_and_errors():
    raw = jnp.asarray([[1.0, 0.5, 0.3], [2.0, -0.5, 1.0]], jnp.float32)
    out = jax.jit(family_kernels, static_argnums=(1, 2))(raw, "Tf", 5)
    assert out.shape == (2, 5, 5) and out.dtype == jnp.float32
    want = get_family("Tf").kernel(raw[1], pixel_grid(5))
    np.testing.assert_allclose(out[1], want, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="unknown family code 'Q'"):
        family_kernels(raw, "Q", 5)
    with pytest.raises(ValueError, match=r"shape \(n, 3\)"):
        family_kernels(raw[:, :2], "Tf", 5)
    with pytest.raises(TypeError, match="floating"):
        family_kernels(jnp.ones((2, 3), jnp.int32), "Tf", 5)


def test_register_family_extends_registry():
    box = Family(
        "Bx",
        "box",
        ("sigma",),
        (0.25,),
        lambda akp, grid: jnp.ones_like(grid[0]) * akp[0],
        lambda key, k: jnp.ones((1,)),
        lambda k, a, s: np.ones((1, 1)),
    )
    register_family(box)
    try:
        out = family_kernels(jnp.asarray([[2.0, 0.0]]), "Bx", 3)
        np.testing.assert_allclose(out, 2 * (0.25 + math.log(2)) * np.ones((1, 3, 3)), rtol=1e-6)
    finally:
        del FAMILIES["Bx"]
    with pytest.raises(ValueError, match="family code"):
        register_family(Family("bad", "x", (), (), None, None, None))
    with pytest.raises(TypeError, match="Family"):
        register_family("G")
