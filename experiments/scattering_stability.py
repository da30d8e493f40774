"""Mallat's stability theorems made visible on real digits (``experiments.lenses.scattering``):
how much raw pixels, the scattering transform and a trained network's penultimate features
move under smooth deformations ``x(u - tau(u))`` and translations.

    python -m experiments.scattering_stability
    python -m experiments.scattering_stability --config.model=resnet

Writes config.json, summary.json (slopes through the origin, relative to each representation
and to ``||x||``), metrics.jsonl (the curves), figures/stability.png, arrays/stability_curves.npz.
"""

import jax
import numpy as np

from experiments import _app
from experiments.core import nets
from experiments.lenses import scattering
from experiments.plots.scattering import plot_stability
from experiments.workdir import Workdir


def run(config, workdir: str) -> dict:
    wd = Workdir(workdir)
    data = nets.prepare(config)
    wd.write_config(config)
    net = nets.trained(config, data, wd)
    r = scattering.stability(net, data, config, key=jax.random.key(config.seed))
    wd.save_figure("stability", plot_stability(r, net.name))
    curves = {
        f"{k}_{n}": np.asarray(c["relative_to_phi"])
        for k in r.curves
        for n, c in r.curves[k].items()
    }
    wd.save_arrays("stability_curves", **curves)
    for kind in r.curves:
        for name, c in r.curves[kind].items():
            wd.log_metrics(0, kind=kind, representation=name, **c)
    summary = {
        "num_images": config.num_images,
        "J": config.J,
        "L": config.L,
        "net_test_error": 1.0 - net.summary["test_accuracy"],
        "grad_tau_check_at_0.2": r.grad_tau_check,
        "slopes": r.slopes,
        **{f"pixels_over_scattering_{k}": v for k, v in r.pixels_over_scattering.items()},
    }
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "scattering_stability")
