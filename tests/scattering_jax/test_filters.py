import jax
import jax.numpy as jnp
import numpy as np

import scattering_jax as sj


def test_filter_bank_2d_structure_and_crops():
    with jax.enable_x64(True):
        fb = sj.filter_bank_2d((24, 16), J=3, L=4)
    P, Q = fb.padded_shape
    assert (P, Q) == ((24 // 8 + 2) * 8, (16 // 8 + 2) * 8)
    assert [f.shape for f in fb.phi] == [(P // 2**r, Q // 2**r) for r in range(3)]
    assert [f.shape for f in fb.psi] == [(3 - r, 4, P // 2**r, Q // 2**r) for r in range(2)]
    psi0 = np.asarray(fb.psi[0])
    # Morlet wavelets have zero mean; the low-pass has unit-order DC
    np.testing.assert_allclose(psi0[:, :, 0, 0], 0, atol=1e-12)
    assert float(fb.phi[0][0, 0]) > 0.5
    # a lower resolution is the low band of the full spectrum (Kymatio's crop)
    rows = np.r_[0 : P // 4, P - P // 4 : P]
    cols = np.r_[0 : Q // 4, Q - Q // 4 : Q]
    np.testing.assert_array_equal(np.asarray(fb.psi[1]), psi0[1:][..., rows[:, None], cols])
    # phi is the real, even spectrum of a real symmetric filter
    phi = np.asarray(fb.phi[0])
    np.testing.assert_allclose(phi, np.roll(phi[::-1, ::-1], 1, axis=(0, 1)), atol=1e-14)


def test_filter_banks_are_pytrees_and_cast():
    fb = sj.filter_bank_2d((16, 16), J=2, L=2)
    assert fb.psi[0].dtype == jnp.float32
    doubled = jax.tree.map(lambda a: 2 * a, fb)
    assert isinstance(doubled, sj.FilterBank2D) and doubled.J == 2 and doubled.shape == (16, 16)
    np.testing.assert_allclose(doubled.phi[0], 2 * fb.phi[0])
    fb1 = sj.filter_bank_1d(128, J=3, dtype=jnp.float32)
    assert len(jax.tree.leaves(fb1)) == len(fb1.phi) + 1 + len(fb1.psi2)
    # 1D wavelets are L1-normalised in time (Kymatio's convention)
    l1 = np.abs(np.fft.ifft(np.asarray(fb1.psi1, np.float64), axis=-1)).sum(-1)
    np.testing.assert_allclose(l1, 1.0, rtol=1e-5)


def test_coarse_loop_tables_are_the_tiled_filters():
    from tests.scattering_jax.coarse import coarse_loop_from_resolution_1

    J, L = 4, 2
    with jax.enable_x64(True), coarse_loop_from_resolution_1():
        fb = sj.filter_bank_2d((24, 40), J=J, L=L)
    P, Q = fb.padded_shape
    r0 = fb.coarse_start
    assert r0 == 1
    Pc, Qc = P >> r0, Q >> r0
    psi = np.asarray(fb.coarse_psi)
    lowpass = np.asarray(fb.coarse_lowpass)
    m, n = fb.lowpass_rows[0].shape[0], fb.lowpass_cols[0].shape[0]
    assert psi.shape == (J - r0, J - 1 - r0, L, Pc, Qc)
    assert lowpass.shape == (J - r0, Pc, Qc, m, n)
    for r in range(r0, J):
        t = 2 ** (r - r0)
        for i in range(J - 1 - r0):
            expected = np.zeros((L, Pc, Qc))
            if r + 1 + i < J:  # wavelet of scale r + 1 + i at resolution r, every t-th frequency
                expected[:, ::t, ::t] = np.asarray(fb.psi[r])[1 + i]
            np.testing.assert_array_equal(psi[r - r0, i], expected)
        # the low-pass of resolution r on the first period of a tiled field
        u = np.random.default_rng(r).standard_normal((P >> r, Q >> r))
        tiled = np.tile(u, (t, t))
        ref = np.asarray(fb.lowpass_rows[r]) @ u @ np.asarray(fb.lowpass_cols[r]).T
        np.testing.assert_allclose(np.einsum("pq,pqab->ab", tiled, lowpass[r - r0]), ref)
