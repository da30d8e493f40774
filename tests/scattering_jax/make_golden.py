"""Writes ``golden_kymatio.npz``: Kymatio 0.3.0 scattering outputs for the regression tests.

Run by hand (the only place Kymatio is imported; the tests never need it):

    /work/venv/bin/pip install kymatio==0.3.0
    /work/venv/bin/python tests/scattering_jax/make_golden.py

With scipy >= 1.17, ``import kymatio.numpy`` fails while ``from kymatio import Scattering2D``
with ``frontend="numpy"`` works, so only the latter is used. Inputs are float64 (seeded noise
plus smooth structure) and Kymatio runs in float64; its filters carry float32 rounding
(~2e-7 relative), far inside the tests' 1e-5 tolerance.
"""

import pathlib

import numpy as np

CASES_2D = (  # (name, batch, M, N, J, L)
    ("2d_32x32_J2_L8", 2, 32, 32, 2, 8),
    ("2d_64x64_J3_L4", 1, 64, 64, 3, 4),
    ("2d_48x64_J3_L8", 1, 48, 64, 3, 8),
)
CASES_1D = (  # (name, batch, T, J)
    ("1d_256_J4", 2, 256, 4),
    ("1d_1024_J6", 2, 1024, 6),
)
OUT = pathlib.Path(__file__).with_name("golden_kymatio.npz")


def image(rng: np.random.Generator, batch: int, M: int, N: int) -> np.ndarray:
    u, v = np.meshgrid(np.linspace(0, 1, M), np.linspace(0, 1, N), indexing="ij")
    smooth = np.sin(7 * u + 3 * v) + np.exp(-((u - 0.4) ** 2 + (v - 0.6) ** 2) / 0.02)
    return smooth + 0.5 * rng.standard_normal((batch, M, N))


def signal(rng: np.random.Generator, batch: int, T: int) -> np.ndarray:
    t = np.arange(T) / T
    smooth = np.sin(2 * np.pi * 5 * t) + np.cos(2 * np.pi * 37 * t**2) * (t > 0.3)
    return smooth + 0.3 * rng.standard_normal((batch, T))


def main() -> None:
    import kymatio
    from kymatio import Scattering1D, Scattering2D

    assert kymatio.__version__ == "0.3.0", kymatio.__version__
    rng = np.random.default_rng(20240603)
    arrays = {}
    for name, batch, M, N, J, L in CASES_2D:
        x = image(rng, batch, M, N)
        arrays[f"{name}/x"] = x
        for order in (1, 2):
            op = Scattering2D(J=J, shape=(M, N), L=L, max_order=order, frontend="numpy")
            arrays[f"{name}/order{order}"] = np.asarray(op(x), np.float64)
    for name, batch, T, J in CASES_1D:
        x = signal(rng, batch, T)
        arrays[f"{name}/x"] = x
        for order in (1, 2):
            op = Scattering1D(J=J, shape=T, Q=1, max_order=order, frontend="numpy")
            arrays[f"{name}/order{order}"] = np.asarray(op(x), np.float64)
    np.savez_compressed(OUT, **arrays)
    for key, value in arrays.items():
        print(f"{key:28s} {value.shape}")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
