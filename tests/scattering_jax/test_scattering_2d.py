import contextlib
import functools
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.test_util import check_grads

import scattering_jax as sj
import scattering_jax._filters_2d as filters_2d
import scattering_jax._scattering_2d as scattering_2d_module
from tests.scattering_jax import oracles
from tests.scattering_jax.coarse import coarse_loop_from_resolution_1
from tests.scattering_jax.program_size import program_size

GOLDEN = pathlib.Path(__file__).with_name("golden_kymatio.npz")
CASES = {  # name -> (J, L), as written by make_golden.py
    "2d_32x32_J2_L8": (2, 8),
    "2d_64x64_J3_L4": (3, 4),
    "2d_48x64_J3_L8": (3, 8),
    "2d_32x70_J5_L4": (5, 4),
    "2d_64x64_J4_L8": (4, 8),
}
PATHS = {"unrolled": contextlib.nullcontext, "coarse-loop": coarse_loop_from_resolution_1}
# every case as the default bank computes it, and with J >= 3 through the coarse loop (which the
# default thresholds keep for J >= 7)
GOLDEN_PATHS = [(name, "unrolled") for name in sorted(CASES)] + [
    (name, "coarse-loop") for name in sorted(CASES) if CASES[name][0] >= 3
]


@functools.cache
def _golden():
    with np.load(GOLDEN) as data:
        return {key: data[key] for key in data.files}


@functools.cache
def _ours(name: str, x64: bool, max_order: int, path: str = "unrolled") -> np.ndarray:
    J, L = CASES[name]
    with jax.enable_x64(x64):
        x = _golden()[f"{name}/x"]
        with PATHS[path]():
            fb = sj.filter_bank_2d(x.shape[-2:], J=J, L=L)
        assert (fb.coarse_start < J) == (path == "coarse-loop"), (name, path)
        dtype = jnp.float64 if x64 else jnp.float32
        return np.asarray(sj.scattering2d(jnp.asarray(x, dtype), fb, J=J, max_order=max_order))


def _channel_errors(ours: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """||ours - ref|| / ||ref|| per channel (over batch and space)."""
    axes = (0, 2, 3)
    return np.sqrt(((ours - ref) ** 2).sum(axes) / (ref**2).sum(axes))


@pytest.mark.parametrize("x64", [False, True], ids=["float32", "float64"])
@pytest.mark.parametrize("max_order", [1, 2])
@pytest.mark.parametrize("name, path", GOLDEN_PATHS)
def test_matches_kymatio_golden(name, path, max_order, x64):
    ref = _golden()[f"{name}/order{max_order}"]
    ours = _ours(name, x64, max_order, path)
    assert ours.dtype == (np.float64 if x64 else np.float32)
    assert ours.shape == ref.shape
    errors = _channel_errors(ours, ref)
    assert errors.max() <= 1e-5, (errors.argmax(), errors.max())


@pytest.mark.parametrize("name", sorted(CASES))
def test_order1_is_prefix_of_order2(name):
    first, second = _ours(name, False, 1), _ours(name, False, 2)
    np.testing.assert_array_equal(first.shape[1], 1 + np.prod(CASES[name]))
    np.testing.assert_allclose(first, second[:, : first.shape[1]], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("path, shape, J", [("unrolled", (12, 8), 2), ("coarse-loop", (16, 40), 4)])
def test_fft_path_equals_direct_convolution_float64(path, shape, J):
    L = 2
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape) + np.linspace(0, 2, shape[1])[None, :]
    with jax.enable_x64(True):
        with PATHS[path]():
            fb = sj.filter_bank_2d(shape, J=J, L=L)
        assert fb.coarse_start == (1 if path == "coarse-loop" else J)
        ours = np.asarray(sj.scattering2d(jnp.asarray(x), fb, J=J))
        phi = [np.asarray(f) for f in fb.phi]
        psi = [np.asarray(f) for f in fb.psi]
    ref = oracles.scattering2d_direct(x, phi, psi, J, L)
    P, Q = fb.padded_shape
    expected = (sj.paths_2d(J, L).order.shape[0], P // 2**J - 2, Q // 2**J - 2)
    assert ours.shape == ref.shape == expected
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_lowpass_matrices_equal_fourier_low_pass_float64():
    # the transform applies phi in space (separable matrices); check against the Fourier form
    J = 3
    with jax.enable_x64(True):
        fb = sj.filter_bank_2d((16, 24), J=J, L=2)
        rng = np.random.default_rng(1)
        for r in range(J):
            phi = np.asarray(fb.phi[r])
            u = rng.standard_normal(phi.shape)
            k = 2 ** (J - r)
            ref = np.fft.ifft2(np.fft.fft2(u) * phi).real[::k, ::k][1:-1, 1:-1]
            ours = np.asarray(fb.lowpass_rows[r]) @ u @ np.asarray(fb.lowpass_cols[r]).T
            np.testing.assert_allclose(ours, ref, atol=1e-12)


@pytest.mark.parametrize("path, shape, J", [("unrolled", (8, 8), 2), ("coarse-loop", (16, 16), 4)])
def test_gradient_matches_finite_differences_float64(path, shape, J):
    with jax.enable_x64(True):
        with PATHS[path]():
            fb = sj.filter_bank_2d(shape, J=J, L=2)
        assert fb.coarse_start == (1 if path == "coarse-loop" else J)
        x = jnp.asarray(np.random.default_rng(2).standard_normal(shape))

        def loss(v):
            s = sj.scattering2d(v, fb, J=J)
            return jnp.sum(s**2) + jnp.sum(jnp.sin(s[3]))

        check_grads(loss, (x,), order=1, modes=["rev"], atol=1e-6, rtol=1e-6)


def test_gradient_is_finite_at_zero_modulus():
    fb = sj.filter_bank_2d((8, 8), J=2, L=2)
    grad = jax.grad(lambda v: jnp.sum(sj.scattering2d(v, fb, J=2)))(jnp.zeros((8, 8)))
    assert bool(jnp.all(jnp.isfinite(grad)))


def test_jit_and_vmap_equal_eager():
    fb = sj.filter_bank_2d((16, 16), J=2, L=4)
    x = jnp.asarray(np.random.default_rng(3).standard_normal((3, 16, 16)), jnp.float32)
    eager = sj.scattering2d(x, fb, J=2)
    jitted = jax.jit(sj.scattering2d, static_argnames=("J", "max_order"))(x, fb, J=2)
    mapped = jax.vmap(lambda v: sj.scattering2d(v, fb, J=2))(x)
    single = sj.scattering2d(x[1], fb, J=2)
    np.testing.assert_allclose(jitted, eager, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(mapped, eager, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(single, eager[1], rtol=1e-6, atol=1e-6)
    assert eager.shape == (3, 1 + 2 * 4 + 16, 4, 4)


def test_leading_batch_dims_and_scattering2d_object():
    op = sj.Scattering2D(2, (16, 16), L=4, max_order=1)
    x = jnp.asarray(np.random.default_rng(4).standard_normal((2, 3, 16, 16)), jnp.float32)
    out = op(x)
    assert out.shape == (2, 3, 9, 4, 4)
    np.testing.assert_allclose(
        out[1, 2], sj.scattering2d(x[1, 2], op.filters, J=2, max_order=1), rtol=1e-6, atol=1e-6
    )
    assert op.paths().order.shape == (9,)


@pytest.fixture
def small_chunks(monkeypatch):
    """Forces the chunked loop (several images per step, or one angle per step)."""

    def use(chunk_bytes):
        monkeypatch.setattr(scattering_2d_module, "_CHUNK_BYTES", chunk_bytes)
        jax.clear_caches()  # chunking is decided at trace time

    yield use
    jax.clear_caches()


@pytest.mark.parametrize("chunk_bytes", [1, 2**17], ids=["one-angle-steps", "image-steps"])
def test_chunked_loop_equals_one_step(small_chunks, chunk_bytes):
    fb = sj.filter_bank_2d((16, 24), J=2, L=4)
    x = jnp.asarray(np.random.default_rng(6).standard_normal((6, 16, 24)), jnp.float32)
    one_step = np.asarray(sj.scattering2d(x, fb, J=2))
    small_chunks(chunk_bytes)
    P, Q = fb.padded_shape
    images, thetas = scattering_2d_module._chunking(6, 4, P, Q, 4, chunk_bytes)
    assert (images, thetas) == ((1, 1) if chunk_bytes == 1 else (3, 4))
    np.testing.assert_allclose(sj.scattering2d(x, fb, J=2), one_step, rtol=1e-5, atol=1e-6)


def test_accelerators_get_one_step_per_batch():
    assert scattering_2d_module._chunk_bytes() == scattering_2d_module._CHUNK_BYTES  # on CPU
    budget = scattering_2d_module._ACCELERATOR_CHUNK_BYTES
    # the benchmark's batches: cache-sized steps on a CPU, the whole batch at once elsewhere
    for batch, size, J in ((256, 32, 2), (64, 64, 3), (8, 256, 4)):
        P, Q = sj.filter_bank_2d((size, size), J=J, L=8).padded_shape
        assert scattering_2d_module._chunking(batch, 8, P, Q, 4, budget) == (batch, 8)
        cpu = scattering_2d_module._chunking(batch, 8, P, Q, 4, scattering_2d_module._CHUNK_BYTES)
        assert cpu[0] < batch


@pytest.mark.multidevice
@pytest.mark.parametrize("path, J", [("unrolled", 2), ("coarse-loop", 3)])
def test_sharded_batch_equals_one_device(small_chunks, path, J):
    assert jax.device_count() == 8
    with PATHS[path]():
        fb = sj.filter_bank_2d((16, 16), J=J, L=4)
    assert fb.coarse_start == (1 if path == "coarse-loop" else J)
    x = jnp.asarray(np.random.default_rng(5).standard_normal((16, 16, 16)), jnp.float32)
    single = np.asarray(sj.scattering2d(jax.device_put(x, jax.devices()[0]), fb, J=J))
    small_chunks(2**17)  # several steps, each spanning all devices
    mesh = jax.make_mesh((8,), ("data",))
    xs = jax.device_put(x, jax.sharding.NamedSharding(mesh, jax.P("data")))
    sharded = jax.jit(lambda v: sj.scattering2d(v, fb, J=J))(xs)
    assert len(sharded.sharding.device_set) == 8
    np.testing.assert_allclose(np.asarray(sharded), single, rtol=1e-5, atol=1e-6)


def test_paths_2d_matches_kymatio_channel_order():
    J, L = 3, 4
    p = sj.paths_2d(J, L, 2)
    assert p.order.shape == (1 + J * L + L * L * J * (J - 1) // 2,)
    # order-2 block: (j1, theta1) outermost, then (j2, theta2), j2 > j1
    expected = [
        (j1, t1, j2, t2)
        for j1 in range(J)
        for t1 in range(L)
        for j2 in range(j1 + 1, J)
        for t2 in range(L)
    ]
    got = list(
        zip(
            p.j1[p.order == 2],
            p.theta1[p.order == 2],
            p.j2[p.order == 2],
            p.theta2[p.order == 2],
            strict=True,
        )
    )
    assert got == expected
    assert list(p.j1[1 : 1 + J * L]) == [j for j in range(J) for _ in range(L)]
    assert sj.paths_2d(J, L, 1).order.shape == (1 + J * L,)


@pytest.mark.bad_input
def test_bad_input_raises():
    fb = sj.filter_bank_2d((16, 16), J=2, L=4)
    with pytest.raises(ValueError, match="2\\*\\*J"):
        sj.filter_bank_2d((16, 16), J=5)
    with pytest.raises(ValueError, match="J must be an integer >= 1"):
        sj.filter_bank_2d((16, 16), J=0)
    with pytest.raises(ValueError, match="L must be an integer >= 1"):
        sj.filter_bank_2d((16, 16), J=2, L=0)
    with pytest.raises(ValueError, match="NaN"):
        sj.filter_bank_2d((16, 16), J=float("nan"))
    with pytest.raises(TypeError, match="L must be an integer"):
        sj.filter_bank_2d((16, 16), J=2, L=2.5)
    with pytest.raises(ValueError, match="shape must be a pair"):
        sj.filter_bank_2d((16, 16, 3), J=2)
    with pytest.raises(ValueError, match="rank >= 2"):
        sj.scattering2d(jnp.ones(16), fb, J=2)
    with pytest.raises(TypeError, match="must be real"):
        sj.scattering2d(jnp.ones((16, 16), jnp.complex64), fb, J=2)
    with pytest.raises(ValueError, match="spatial shape \\(16, 16\\)"):
        sj.scattering2d(jnp.ones((16, 32)), fb, J=2)
    with pytest.raises(ValueError, match="J must match"):
        sj.scattering2d(jnp.ones((16, 16)), fb, J=1)
    with pytest.raises(ValueError, match="max_order must be 1 or 2"):
        sj.scattering2d(jnp.ones((16, 16)), fb, J=2, max_order=3)
    with pytest.raises(TypeError, match="FilterBank2D"):
        sj.scattering2d(jnp.ones((16, 16)), {"phi": 1}, J=2)


# Each extra scale adds one resolution step of a fixed set of operations (about 110-140
# instructions here), whatever the number of paths (which grows like J^2 L^2) or the fold
# factors 2**(j2 - j1); unrolling per path or per fold block grew it 500, 2000, 7000 per scale.
PROGRAM_GROWTH_PER_SCALE = 160


def test_program_size_grows_by_a_bounded_step_per_scale_and_not_with_L():
    x = jax.ShapeDtypeStruct((2, 32, 32), jnp.float32)
    sizes = {}
    for L in (2, 8):
        for J in (2, 3, 4, 5):
            fb = sj.filter_bank_2d((32, 32), J=J, L=L)
            sizes[J, L] = program_size(lambda v, f, J=J: sj.scattering2d(v, f, J=J), x, fb)
    for L in (2, 8):
        steps = [sizes[J + 1, L] - sizes[J, L] for J in (2, 3, 4)]
        assert max(steps) <= PROGRAM_GROWTH_PER_SCALE, (L, steps)
    for J in (2, 3, 4, 5):
        assert abs(sizes[J, 8] - sizes[J, 2]) <= 0.1 * sizes[J, 2], sizes


# In the coarse loop one step serves every scale: an extra scale adds only its share of the
# loop's inputs and of the output's channel order (about 30 instructions), against 90-140 for
# an unrolled step.
LOOP_GROWTH_PER_SCALE = 45


def test_program_size_is_flat_in_J_inside_the_coarse_loop():
    x = jax.ShapeDtypeStruct((1, 64, 64), jnp.float32)
    sizes = {}
    for J in (3, 4, 5, 6):
        with coarse_loop_from_resolution_1():
            fb = sj.filter_bank_2d((64, 64), J=J, L=8)
        assert fb.coarse_start == 1
        sizes[J] = program_size(lambda v, f, J=J: sj.scattering2d(v, f, J=J), x, fb)
    steps = [sizes[J + 1] - sizes[J] for J in (3, 4, 5)]
    assert max(steps) <= LOOP_GROWTH_PER_SCALE, (steps, sizes)


def test_default_coarse_loop_equals_the_unrolled_steps():
    # the default thresholds put (128, 128) J=7 (padded 384) in the loop from resolution 3
    # (48 x 48 fields, four scales); the same transform fully unrolled is the oracle
    x = jnp.asarray(np.random.default_rng(7).standard_normal((1, 128, 128)), jnp.float32)
    looped = sj.filter_bank_2d((128, 128), J=7, L=2)
    unrolled = sj.filter_bank_2d((128, 128), J=7, L=2, coarse_loop=False)
    assert (looped.coarse_start, unrolled.coarse_start) == (3, 7)
    ours = np.asarray(sj.scattering2d(x, looped, J=7))
    ref = np.asarray(sj.scattering2d(x, unrolled, J=7))
    assert _channel_errors(ours, ref).max() <= 1e-5


@pytest.mark.parametrize(
    "padded, J, start",
    [
        ((512, 512), 7, 3),
        ((768, 768), 8, 4),
        ((384, 384), 6, 6),
        ((768, 768), 7, 7),
        ((96, 96), 5, 5),
        ((2048, 2048), 9, 5),
        ((384, 768), 7, 7),
        ((384, 768), 8, 4),
    ],
)
def test_coarse_start_rule(padded, J, start):
    # the first resolution with <= 4096 pixels and <= 1/64 of the padded image, if it leaves
    # four scales or more
    assert filters_2d.coarse_start_2d(padded, J) == start


def test_chunked_coarse_loop_equals_one_step(small_chunks):
    with coarse_loop_from_resolution_1():
        fb = sj.filter_bank_2d((16, 24), J=3, L=4)
    x = jnp.asarray(np.random.default_rng(8).standard_normal((4, 16, 24)), jnp.float32)
    one_step = np.asarray(sj.scattering2d(x, fb, J=3))
    small_chunks(1)  # one image and one first-order angle per step
    np.testing.assert_allclose(sj.scattering2d(x, fb, J=3), one_step, rtol=1e-5, atol=1e-6)
