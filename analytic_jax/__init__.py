"""analytic_jax: analytic convolutional layers (Cui et al., arXiv 2407.06087).

Kernel families (Gabor, LoG, first/second-order TGD, Laplacian of TGD, plain) in a registry,
mosaics of them over the slices of an HWIO kernel, the Flax NNX layer ``AnalyticConv`` and the
fitting of families to trained kernels.
"""

from analytic_jax._families import (
    FAMILIES,
    Family,
    family_kernels,
    get_family,
    pixel_grid,
    register_family,
)
from analytic_jax._fit import (
    ANALYTIC_CODES,
    FamilyFit,
    KernelFit,
    akp_values,
    fit_family,
    fit_kernels,
)
from analytic_jax._layer import AnalyticConv
from analytic_jax._mosaic import (
    MosaicSpec,
    init_mosaic,
    kernel_slices,
    mosaic_kernels,
    param_count,
    parse_mosaic,
    slices_kernel,
)
from analytic_jax._tgd import tgd_first_order, tgd_second_order

__version__ = "0.1.0"

__all__ = [
    "ANALYTIC_CODES",
    "FAMILIES",
    "AnalyticConv",
    "Family",
    "FamilyFit",
    "KernelFit",
    "MosaicSpec",
    "__version__",
    "akp_values",
    "family_kernels",
    "fit_family",
    "fit_kernels",
    "get_family",
    "init_mosaic",
    "kernel_slices",
    "mosaic_kernels",
    "param_count",
    "parse_mosaic",
    "pixel_grid",
    "register_family",
    "slices_kernel",
    "tgd_first_order",
    "tgd_second_order",
]
