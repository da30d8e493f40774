"""scattering_jax: wavelet transforms and the 1D/2D scattering transform in JAX.

Numerically identical to Kymatio 0.3.0 (``Scattering1D`` and ``Scattering2D`` with Kymatio's
arguments and output types: a one-import switch), jit-compiled, vectorised over orientations
and paths, differentiable and shardable. Also the
windowed Fourier (eq. 9) and continuous wavelet transforms (eqs. 10-11) of *Understanding
CNNs* (Mallat's scattering).
"""

from scattering_jax._filters_1d import FilterBank1D, filter_bank_1d
from scattering_jax._filters_2d import FilterBank2D, filter_bank_2d
from scattering_jax._frontend import Coefficient, Scattering1D, Scattering2D
from scattering_jax._scattering_1d import (
    Paths1D,
    paths_1d,
    scattering1d,
    scattering1d_coefficients,
)
from scattering_jax._scattering_2d import Paths2D, paths_2d, scattering2d
from scattering_jax._transforms import WAVELETS, cwt, windowed_fourier

__version__ = "0.1.0"

__all__ = [
    "__version__",
    "Coefficient",
    "FilterBank1D",
    "FilterBank2D",
    "Paths1D",
    "Paths2D",
    "Scattering1D",
    "Scattering2D",
    "WAVELETS",
    "cwt",
    "filter_bank_1d",
    "filter_bank_2d",
    "paths_1d",
    "paths_2d",
    "scattering1d",
    "scattering1d_coefficients",
    "scattering2d",
    "windowed_fourier",
]
