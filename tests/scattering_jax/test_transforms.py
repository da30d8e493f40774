import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scattering_jax as sj
from tests.scattering_jax import oracles


def _morlet(t):
    return math.pi**-0.25 * (np.exp(6j * t) - np.exp(-18.0)) * np.exp(-t * t / 2)


def _ricker(t):
    return 2 / (math.sqrt(3) * math.pi**0.25) * (1 - t * t) * np.exp(-t * t / 2)


def _periodised(mother, T):
    def psi(m, s):
        lag = m - T * np.round(m / T)
        return sum(mother((lag + p * T) / s) for p in range(-2, 3)) / np.sqrt(s)

    return psi


@pytest.mark.parametrize("wavelet,mother", [("morlet", _morlet), ("ricker", _ricker)])
def test_cwt_equals_direct_sum_float64(wavelet, mother):
    T = 24
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, T)) + 1j * rng.standard_normal((2, T))
    scales = np.array([0.7, 1.5, 4.0])
    with jax.enable_x64(True):
        ours = np.asarray(jax.jit(lambda a, s: sj.cwt(a, s, wavelet=wavelet))(x, scales))
    ref = oracles.cwt_direct(x, scales, _periodised(mother, T))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_cwt_of_pure_tone_is_closed_form():
    # x = e^{i w n}:  W(s, u) = e^{i w u} sqrt(s) conj(psi_hat(s w)),
    # psi_hat(v) = pi^{-1/4} sqrt(2 pi) (e^{-(v - 6)^2 / 2} - e^{-18} e^{-v^2 / 2})
    T, k = 256, 20
    w = 2 * np.pi * k / T
    n = np.arange(T)
    scales = np.array([2.0, 6.0 / w, 8.0, 12.0])
    with jax.enable_x64(True):
        ours = np.asarray(sj.cwt(jnp.exp(1j * w * n), scales))
    v = scales * w
    psi_hat = (
        math.pi**-0.25
        * math.sqrt(2 * math.pi)
        * (np.exp(-((v - 6) ** 2) / 2) - np.exp(-18) * np.exp(-(v**2) / 2))
    )
    ref = np.exp(1j * w * n)[None, :] * (np.sqrt(scales) * psi_hat)[:, None]
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-8)


def test_cwt_float32_and_batch():
    x = jnp.asarray(np.random.default_rng(1).standard_normal((3, 2, 32)), jnp.float32)
    out = sj.cwt(x, jnp.array([1.0, 2.0]))
    assert out.shape == (3, 2, 2, 32) and out.dtype == jnp.complex64
    with jax.enable_x64(True):
        ref = np.asarray(sj.cwt(np.asarray(x, np.float64), np.array([1.0, 2.0])))
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_windowed_fourier_equals_direct_sum_float64():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 40))
    window = np.hanning(12)
    with jax.enable_x64(True):
        ours = np.asarray(jax.jit(lambda a, g: sj.windowed_fourier(a, g, hop=5))(x, window))
    ref = oracles.windowed_fourier_direct(x, window, 5)
    assert ours.shape == (2, (40 - 12) // 5 + 1, 12)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-10 * np.abs(ref).max())


def test_windowed_fourier_of_pure_tone_is_closed_form():
    # a tone on a DFT bin k0 with a rectangular window: |S| = W at k0, 0 elsewhere,
    # and the phase is that of the tone at the frame start (absolute time, eq. 9)
    W, k0, hop = 16, 3, 4
    n = np.arange(64)
    with jax.enable_x64(True):
        s = np.asarray(sj.windowed_fourier(np.exp(2j * np.pi * k0 * n / W), np.ones(W), hop=hop))
    expected = np.zeros_like(s)
    expected[:, k0] = W
    np.testing.assert_allclose(s, expected, atol=1e-10)


@pytest.mark.bad_input
def test_bad_input_raises():
    with pytest.raises(ValueError, match="wavelet must be one of"):
        sj.cwt(jnp.ones(8), jnp.ones(2), wavelet="haar")
    with pytest.raises(ValueError, match="scales must be finite"):
        sj.cwt(jnp.ones(8), jnp.array([1.0, jnp.nan]))
    with pytest.raises(ValueError, match="scales must be > 0"):
        sj.cwt(jnp.ones(8), jnp.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="scales must have shape"):
        sj.cwt(jnp.ones(8), jnp.ones((2, 2)))
    with pytest.raises(ValueError, match="hop must be an integer >= 1"):
        sj.windowed_fourier(jnp.ones(8), jnp.ones(4), hop=0)
    with pytest.raises(ValueError, match="window length"):
        sj.windowed_fourier(jnp.ones(8), jnp.ones(9), hop=1)
    with pytest.raises(ValueError, match="window must be finite"):
        sj.windowed_fourier(jnp.ones(8), jnp.array([1.0, jnp.nan]), hop=1)
    with pytest.raises(ValueError, match="window must have shape"):
        sj.windowed_fourier(jnp.ones(8), jnp.ones((2, 2)), hop=1)
