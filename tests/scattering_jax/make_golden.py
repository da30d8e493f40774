"""Writes ``golden_kymatio.npz``: Kymatio 0.3.0 scattering outputs for the regression tests.

Run by hand (the only place Kymatio is imported; the tests never need it):

    python3.11 -m venv /tmp/kyvenv
    /tmp/kyvenv/bin/pip install kymatio==0.3.0 numpy scipy
    /tmp/kyvenv/bin/python tests/scattering_jax/make_golden.py

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
# Kymatio's constructor options (issue 16): (name, batch, length, J, Q, T, oversampling);
# T=None is Kymatio's default 2**J, T=0 is no averaging (outputs of several lengths: 'list').
CASES_1D_OPTIONS = (
    ("1d_500_J5_Q8-1_T32", 2, 500, 5, (8, 1), 32, 0),
    ("1d_500_J5_Q8-1_T32_os1", 2, 500, 5, (8, 1), 32, 1),
    ("1d_500_J4_Q8-1_T100", 1, 500, 4, (8, 1), 100, 0),
    ("1d_500_J6_Q4-2_T24_os1", 1, 500, 6, (4, 2), 24, 1),
    ("1d_1024_J6_Q4-2", 2, 1024, 6, (4, 2), None, 0),
    ("1d_1024_J6_Q4-2_T16", 1, 1024, 6, (4, 2), 16, 0),
    ("1d_1024_J6_Q4-2_T200_os1", 1, 1024, 6, (4, 2), 200, 1),
    ("1d_1024_J5_Q2_T512_os2", 1, 1024, 5, 2, 512, 2),
    ("1d_500_J3_Q2-1_T8_os5", 1, 500, 3, (2, 1), 8, 5),
    ("1d_500_J5_Q4-2_T0", 1, 500, 5, (4, 2), 0, 0),
    ("1d_1024_J4_Q8-1_T0_os1", 1, 1024, 4, (8, 1), 0, 1),
)
# Cases deep enough that the coarsest resolutions run in scattering2d's coarse loop (issue 15),
# drawn from their own seed so that adding them left the cases above unchanged.
CASES_2D_COARSE = (  # (name, batch, M, N, J, L)
    ("2d_32x70_J5_L4", 2, 32, 70, 5, 4),
    ("2d_64x64_J4_L8", 1, 64, 64, 4, 8),
)
# (name, batch, M, N, J, L): Kymatio's pre_pad=True (the input is already padded) and
# out_type='list' (each coefficient with its j, n and theta)
CASES_2D_OPTIONS = (("2d_28x28_J2_L4_prepad", 2, 28, 28, 2, 4),)
OUT = pathlib.Path(__file__).with_name("golden_kymatio.npz")


def image(rng: np.random.Generator, batch: int, M: int, N: int) -> np.ndarray:
    u, v = np.meshgrid(np.linspace(0, 1, M), np.linspace(0, 1, N), indexing="ij")
    smooth = np.sin(7 * u + 3 * v) + np.exp(-((u - 0.4) ** 2 + (v - 0.6) ** 2) / 0.02)
    return smooth + 0.5 * rng.standard_normal((batch, M, N))


def signal(rng: np.random.Generator, batch: int, T: int) -> np.ndarray:
    t = np.arange(T) / T
    smooth = np.sin(2 * np.pi * 5 * t) + np.cos(2 * np.pi * 37 * t**2) * (t > 0.3)
    return smooth + 0.3 * rng.standard_normal((batch, T))


def put_list(arrays: dict, key: str, coefficients: list, fields: tuple) -> None:
    """Stores Kymatio's ``out_type='list'`` output: the coefficients joined along time as
    ``key/coef`` with their lengths in ``key/length`` (unaveraged ones differ), and each
    metadata field as an int array padded with -1."""
    coefs = [np.asarray(item["coef"], np.float64) for item in coefficients]
    arrays[f"{key}/coef"] = np.concatenate(coefs, axis=-1)
    arrays[f"{key}/length"] = np.asarray([c.shape[-1] for c in coefs])
    for field in fields:
        rows = [tuple(item[field]) for item in coefficients]
        table = np.full((len(rows), 2), -1, np.int64)
        for i, row in enumerate(rows):
            table[i, : len(row)] = row
        arrays[f"{key}/{field}"] = table


def put_2d(arrays: dict, rng: np.random.Generator, cases: tuple, Scattering2D) -> None:
    """Stores each case's input image and Kymatio's order-1 and order-2 outputs."""
    for name, batch, M, N, J, L in cases:
        x = image(rng, batch, M, N)
        arrays[f"{name}/x"] = x
        for order in (1, 2):
            op = Scattering2D(J=J, shape=(M, N), L=L, max_order=order, frontend="numpy")
            arrays[f"{name}/order{order}"] = np.asarray(op(x), np.float64)


def main() -> None:
    import kymatio
    from kymatio import Scattering1D, Scattering2D

    assert kymatio.__version__ == "0.3.0", kymatio.__version__
    rng = np.random.default_rng(20240603)
    arrays = {}
    put_2d(arrays, rng, CASES_2D, Scattering2D)
    for name, batch, T, J in CASES_1D:
        x = signal(rng, batch, T)
        arrays[f"{name}/x"] = x
        for order in (1, 2):
            op = Scattering1D(J=J, shape=T, Q=1, max_order=order, frontend="numpy")
            arrays[f"{name}/order{order}"] = np.asarray(op(x), np.float64)
    for name, batch, length, J, Q, T, oversampling in CASES_1D_OPTIONS:
        x = signal(rng, batch, length)
        arrays[f"{name}/x"] = x
        for order in (1, 2):
            op = Scattering1D(
                J=J,
                shape=length,
                Q=Q,
                T=T,
                max_order=order,
                oversampling=oversampling,
                out_type="list",
                frontend="numpy",
            )
            put_list(arrays, f"{name}/order{order}", op(x), ("j", "n"))
    for name, batch, M, N, J, L in CASES_2D_OPTIONS:
        P, Q = ((M // 2**J) + 2) * 2**J, ((N // 2**J) + 2) * 2**J
        x = image(rng, batch, P, Q)
        arrays[f"{name}/x"] = x
        for order in (1, 2):
            op = Scattering2D(
                J=J,
                shape=(M, N),
                L=L,
                max_order=order,
                pre_pad=True,
                out_type="list",
                frontend="numpy",
            )
            put_list(arrays, f"{name}/order{order}", op(x), ("j", "n", "theta"))
    put_2d(arrays, np.random.default_rng(20261203), CASES_2D_COARSE, Scattering2D)
    np.savez_compressed(OUT, **arrays)
    for key, value in arrays.items():
        print(f"{key:28s} {value.shape}")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
