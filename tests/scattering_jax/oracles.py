"""Brute-force NumPy oracles for the scattering tests (direct sums, no FFT of the signal)."""

import numpy as np


def periodic_conv2d(x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """Direct circular convolution ``y[p] = sum_n x[n] h[(p - n) mod (P, Q)]`` (last two axes)."""
    P, Q = h.shape
    p = np.arange(P)
    q = np.arange(Q)
    rows = (p[:, None] - p[None, :]) % P  # (p, a)
    cols = (q[:, None] - q[None, :]) % Q  # (q, b)
    kernel = h[rows[:, None, :, None], cols[None, :, None, :]]  # (p, q, a, b)
    return np.einsum("...ab,pqab->...pq", x, kernel)


def scattering2d_direct(x, phi, psi, J, L, max_order=2):
    """The 2D scattering of ``x`` (M, N) by direct spatial convolutions with the space-domain
    versions of the given Fourier filters (``phi[r]``, ``psi[r][j - r, theta]``)."""
    phi_s = [np.fft.ifft2(f).real for f in phi]
    psi_s = [np.fft.ifft2(f) for f in psi]
    M, N = x.shape
    P, Q = phi[0].shape
    x_pad = np.pad(
        x, (((P - M) // 2, (P - M + 1) // 2), ((Q - N) // 2, (Q - N + 1) // 2)), mode="reflect"
    )

    def low(u, r):
        k = 2 ** (J - r)
        return periodic_conv2d(u, phi_s[r])[::k, ::k][1:-1, 1:-1]

    out = [low(x_pad, 0)]
    order2 = []
    for j1 in range(J):
        for t1 in range(L):
            u1 = np.abs(periodic_conv2d(x_pad, psi_s[0][j1, t1])[:: 2**j1, :: 2**j1])
            out.append(low(u1, j1))
            if max_order < 2:
                continue
            for j2 in range(j1 + 1, J):
                for t2 in range(L):
                    k = 2 ** (j2 - j1)
                    u2 = np.abs(periodic_conv2d(u1, psi_s[j1][j2 - j1, t2])[::k, ::k])
                    order2.append(low(u2, j2))
    return np.stack(out + order2)


def cwt_direct(x, scales, psi):
    """``W[s, u] = sum_n x[n] conj(psi_s[(n - u) mod T])`` with ``psi_s`` given as a function
    of the (periodised) lag ``m`` in ``0..T-1`` and the scale."""
    T = x.shape[-1]
    out = np.zeros(x.shape[:-1] + (len(scales), T), complex)
    for i, s in enumerate(scales):
        table = np.conj(psi(np.arange(T), s))
        for u in range(T):
            out[..., i, u] = (x * table[(np.arange(T) - u) % T]).sum(-1)
    return out


def windowed_fourier_direct(x, window, hop):
    """Eq. 9 sampled: ``sum_n x[u + n] g[n] exp(-2 pi i k (u + n) / W)`` by loops."""
    W, T = len(window), x.shape[-1]
    frames = range(0, T - W + 1, hop)
    out = np.zeros(x.shape[:-1] + (len(frames), W), complex)
    n = np.arange(W)
    for m, u in enumerate(frames):
        for k in range(W):
            kernel = window * np.exp(-2j * np.pi * k * (u + n) / W)
            out[..., m, k] = (x[..., u + n] * kernel).sum(-1)
    return out


def scattering1d_per_path(x, fb):
    """Kymatio's 1D scattering core path by path in NumPy (float64), with the bank's filters:
    each modulus subsampled by ``2**k`` as ``ifft(periodised spectrum)``, then low-passed."""
    phi = [np.asarray(f, np.float64) for f in fb.phi]
    psi1 = np.asarray(fb.psi1, np.float64)
    psi2 = [np.asarray(f, np.float64) for f in fb.psi2]
    T = fb.log2_T

    def fold(z, k):
        return z.reshape(*z.shape[:-1], k, z.shape[-1] // k).mean(-2)

    def low(u_hat, k):
        return np.fft.ifft(fold(u_hat * phi[k], 2 ** (T - k))).real[..., fb.start : fb.end]

    u0_hat = np.fft.fft(np.pad(x, ((0, 0), (fb.pad_left, fb.pad_right)), mode="reflect"))
    out, order2 = [low(u0_hat, 0)], []
    for n1, j1 in enumerate(fb.j1):
        k1 = min(j1, T)
        u1_hat = np.fft.fft(np.abs(np.fft.ifft(fold(u0_hat * psi1[n1], 2**k1))))
        out.append(low(u1_hat, k1))
        for n2, j2 in enumerate(fb.j2):
            if j2 > j1:
                k2 = max(min(j2, T) - k1, 0)
                u2 = np.abs(np.fft.ifft(fold(u1_hat * psi2[k1][n2], 2**k2)))
                order2.append(low(np.fft.fft(u2), k1 + k2))
    return np.stack(out + order2, axis=1)
