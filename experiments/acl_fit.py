"""Fits the analytic families to trained first-layer kernels (the ACL paper's Figures 1 and 3);
the fit is ``experiments.lenses.analytic_fit``.

    python -m experiments.acl_fit                                   # conv1 of the mnist_5k LeNet
    python -m experiments.acl_fit --config.kernels_npy=alexnet_conv1.npy   # any (k, k, I, O)
    python -m experiments.acl_fit --config.model=vgg --config.data.dataset=cifar10 \
        --config.data.data_dir=D

The target is the HWIO tensor in ``kernels_npy`` or else the first conv layer of the trained
net ``--config.model`` (default the LeNet; trained once in ``<nets_dir>/<model>``). Every slice
is fitted by every family with :func:`analytic_jax.fit_kernels`, which keeps the best family
under ``threshold`` (else plain). Writes ``summary.json`` and ``fit_table.md`` (relative error
and parameter count per family), ``figures/fit_slices.png`` (target, chosen fit and each
family's fit for the first ``max_show`` slices), ``figures/mosaic.png`` (the chosen family per
slice, I x O, coloured by family) and ``arrays/fit.npz``.
"""

import jax
import numpy as np

from experiments import _app
from experiments.core import nets
from experiments.lenses import analytic, analytic_fit
from experiments.plots.analytic import plot_fit_slices, plot_mosaic_grid
from experiments.workdir import Workdir


def load_target(config, wd: Workdir):
    """The ``(k, k, I, O)`` kernel tensor to fit and a description of where it came from."""
    if config.kernels_npy:
        target = np.load(config.kernels_npy)
        if target.ndim != 4 or target.shape[0] != target.shape[1]:
            raise ValueError(
                f"kernels_npy must hold a (k, k, I, O) HWIO tensor, got shape {target.shape} "
                f"in {config.kernels_npy!r}"
            )
        return target.astype(np.float32), {"source": f"npy:{config.kernels_npy}"}
    net = nets.trained(config, nets.prepare(config), wd)
    return analytic.first_conv(net.layers), {
        "source": f"{net.name} conv1 ({config.data.dataset})",
        "net_test_accuracy": net.summary["test_accuracy"],
    }


def run(config, workdir: str) -> dict:
    """Fits the families to the target kernels and writes the workdir; returns the summary."""
    wd = Workdir(workdir)
    if not config.kernels_npy:
        nets.check_recipes(config)  # before the config is recorded
    wd.write_config(config)
    target, info = load_target(config, wd)
    r = analytic_fit.compute(target, config, key=jax.random.key(config.seed))
    wd.write_text("fit_table.md", analytic_fit.table_markdown(r, info["source"], config.threshold))
    wd.save_figure("fit_slices", plot_fit_slices(r, info["source"]))
    wd.save_figure("mosaic", plot_mosaic_grid(r))
    norms = np.sqrt((r.slices**2).sum(axis=(1, 2)))
    errors = {f"rel_error_{c}": e for c, e in r.family_errors.items()}
    wd.save_arrays(
        "fit",
        target=target,
        fitted=r.fitted,
        chosen_rel_error=r.chosen_error,
        slice_norm=norms,
        **errors,
    )
    summary = {
        **info,
        "kernel_shape": list(target.shape),
        "threshold": config.threshold,
        "families": r.per_family,
        "chosen": r.chosen,
        "family_errors": {c: e.tolist() for c, e in r.family_errors.items()},
        "chosen_rel_error": r.chosen_error.tolist(),
        "fit_seconds": r.fit_seconds,
    }
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "acl_fit")
