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
