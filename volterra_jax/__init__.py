"""volterra_jax: CNNs as finite Volterra series (Li, Zhou, Qiu, Zhao, JMLR 2022).

Order-n Volterra convolution, white-box proxy kernels by autodiff (`proxy_kernels`) and by
the outer-convolution rules (`compose`; `from_layers` on any smooth net of the `cnn_layers`
vocabulary: padded and strided convs, batch norm, average and global pools, dense heads,
residual blocks), the black-box hacking network (`hack`), per-order perturbation analysis
and attacks built from proxy kernels.
"""

from volterra_jax._attack import proxy_attack
from volterra_jax._autodiff import proxy_kernels, taylor_coefficients
from volterra_jax._compose import compose
from volterra_jax._conv import patches, perturbation, series, volterra_conv
from volterra_jax._hack import HackResult, hack, unit_norm_sampler
from volterra_jax._kernels import VolterraKernels, symmetrize
from volterra_jax._layers import Poly, ReceptiveField, Smooth, receptive_field
from volterra_jax._network import from_layers

__version__ = "0.1.0"

__all__ = [
    "HackResult",
    "Poly",
    "ReceptiveField",
    "Smooth",
    "VolterraKernels",
    "__version__",
    "compose",
    "from_layers",
    "hack",
    "patches",
    "perturbation",
    "proxy_attack",
    "proxy_kernels",
    "receptive_field",
    "series",
    "symmetrize",
    "taylor_coefficients",
    "unit_norm_sampler",
    "volterra_conv",
]
