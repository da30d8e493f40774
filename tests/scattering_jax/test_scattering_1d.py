import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import scattering_jax as sj
from tests.scattering_jax import oracles
from tests.scattering_jax.program_size import program_size

GOLDEN = pathlib.Path(__file__).with_name("golden_kymatio.npz")
CASES = {"1d_256_J4": 4, "1d_1024_J6": 6}  # name -> J, Q = 1 (see make_golden.py)


@functools.cache
def _golden():
    with np.load(GOLDEN) as data:
        return {key: data[key] for key in data.files}


@functools.cache
def _ours(name: str, x64: bool, max_order: int) -> np.ndarray:
    J = CASES[name]
    with jax.enable_x64(x64):
        x = _golden()[f"{name}/x"]
        fb = sj.filter_bank_1d(x.shape[-1], J=J, Q=1)
        dtype = jnp.float64 if x64 else jnp.float32
        return np.asarray(sj.scattering1d(jnp.asarray(x, dtype), fb, J=J, max_order=max_order))


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
@pytest.mark.parametrize("max_order", [1, 2])
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_kymatio_golden(name, max_order, x64):
    ref = _golden()[f"{name}/order{max_order}"]
    ours = _ours(name, x64, max_order)
    assert ours.shape == ref.shape
    errors = np.sqrt(((ours - ref) ** 2).sum((0, 2)) / (ref**2).sum((0, 2)))
    assert errors.max() <= 1e-5, (errors.argmax(), errors.max())


@pytest.mark.parametrize("name", sorted(CASES))
def test_order1_is_prefix_of_order2(name):
    first, second = _ours(name, False, 1), _ours(name, False, 2)
    np.testing.assert_allclose(first, second[:, : first.shape[1]], rtol=1e-6, atol=1e-7)


def test_paths_1d_order_and_count():
    fb = sj.filter_bank_1d(256, J=4)
    p = sj.paths_1d(fb, 2)
    n1 = len(fb.j1)
    pairs = [(a, b) for a in range(n1) for b in range(len(fb.j2)) if fb.j2[b] > fb.j1[a]]
    assert p.order.tolist() == [0] + [1] * n1 + [2] * len(pairs)
    assert list(zip(p.n1[1 + n1 :], p.n2[1 + n1 :], strict=True)) == pairs
    assert _golden()["1d_256_J4/order2"].shape[1] == p.order.shape[0]


def test_jit_vmap_and_gradient():
    fb = sj.filter_bank_1d(64, J=3)
    x = jnp.asarray(np.random.default_rng(0).standard_normal((3, 64)), jnp.float32)
    eager = sj.scattering1d(x, fb, J=3)
    jitted = jax.jit(lambda v: sj.scattering1d(v, fb, J=3))(x)
    mapped = jax.vmap(lambda v: sj.scattering1d(v, fb, J=3))(x)
    np.testing.assert_allclose(jitted, eager, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(mapped, eager, rtol=1e-6, atol=1e-7)
    grad = jax.grad(lambda v: jnp.sum(sj.scattering1d(v, fb, J=3)))(jnp.zeros(64))
    assert bool(jnp.all(jnp.isfinite(grad)))
    with jax.enable_x64(True):
        fb64 = sj.filter_bank_1d(64, J=3)
        x64 = jnp.asarray(np.random.default_rng(1).standard_normal(64))
        check_grads(
            lambda v: jnp.sum(sj.scattering1d(v, fb64, J=3) ** 2),
            (x64,),
            order=1,
            modes=["rev"],
            atol=1e-6,
            rtol=1e-6,
        )


@pytest.mark.bad_input
def test_bad_input_raises():
    fb = sj.filter_bank_1d(64, J=3)
    with pytest.raises(ValueError, match="2\\*\\*J"):
        sj.filter_bank_1d(64, J=7)
    with pytest.raises(ValueError, match="J must be an integer >= 1"):
        sj.filter_bank_1d(64, J=0)
    with pytest.raises(ValueError, match="Q must be an integer >= 1"):
        sj.filter_bank_1d(64, J=3, Q=0)
    with pytest.raises(ValueError, match="NaN"):
        sj.filter_bank_1d(64, J=float("nan"))
    with pytest.raises(ValueError, match="rank >= 1"):
        sj.scattering1d(jnp.asarray(1.0), fb, J=3)
    with pytest.raises(TypeError, match="must be real"):
        sj.scattering1d(jnp.ones(64, jnp.complex64), fb, J=3)
    with pytest.raises(ValueError, match="length 64"):
        sj.scattering1d(jnp.ones(65), fb, J=3)
    with pytest.raises(ValueError, match="J must match"):
        sj.scattering1d(jnp.ones(64), fb, J=2)


# One level per extra J, a fixed set of operations (about 110-135 instructions here) whatever
# the number of paths; per-path code grew by 450-1200 per J at Q=4.
PROGRAM_GROWTH_PER_SCALE = 160


def test_program_size_grows_by_a_bounded_step_per_scale_and_not_with_Q():
    x = jax.ShapeDtypeStruct((2, 256), jnp.float32)
    sizes = {}
    for Q in (1, 4):
        for J in (3, 4, 5, 6):
            fb = sj.filter_bank_1d(256, J=J, Q=Q)
            sizes[J, Q] = program_size(lambda v, f, J=J: sj.scattering1d(v, f, J=J), x, fb)
    for Q in (1, 4):
        steps = [sizes[J + 1, Q] - sizes[J, Q] for J in (3, 4, 5)]
        assert max(steps) <= PROGRAM_GROWTH_PER_SCALE, (Q, steps)
    for J in (3, 4, 5, 6):
        assert abs(sizes[J, 4] - sizes[J, 1]) <= 0.25 * sizes[J, 1], sizes


@pytest.mark.parametrize(("length", "J", "Q"), [(256, 4, 2), (200, 5, 3)])
def test_equals_per_path_oracle_for_several_wavelets_per_octave_float64(length, J, Q):
    # the golden data have Q = 1; with Q > 1 several first-order wavelets share a level
    x = np.random.default_rng(7).standard_normal((2, length))
    with jax.enable_x64(True):
        fb = sj.filter_bank_1d(length, J=J, Q=Q)
        ours = np.asarray(sj.scattering1d(jnp.asarray(x), fb, J=J))
    ref = oracles.scattering1d_per_path(x, fb)
    assert ours.shape == ref.shape == (2, sj.paths_1d(fb).order.shape[0], ref.shape[-1])
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10 * np.abs(ref).max())
