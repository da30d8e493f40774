"""The main job: every lens on one trained network and its smooth twin, one HTML report.

    python -m experiments.tour                        # the LeNet on mnist_5k: runs/tour/report.html
    python -m experiments.tour --config.model=vgg --workdir=runs/tour_vgg   # or resnet
    python -m experiments.tour --config.data.dataset=mnist --config.data.data_dir=D

Trains (or reuses, from ``<workdir>/nets`` or ``--config.nets_dir``) the network and its smooth
twin (tanh, average pools) once, loads the data once, then: decoding (every conv layer and the
head, with Table-1 errors), Volterra (the twin's order-1 and order-2 kernels of the outputs,
hacked kernels, attacks built from them), analytic (the first layer fitted by the kernel
families), scattering (a scattering + linear classifier next to the network, deformation
stability) and the cross-lens view (decoded output filters against order-1 kernels). Writes
``report.html``, ``summary.json``, the figures and the kernels.
"""

import time

import jax

from experiments import _app
from experiments.core import nets
from experiments.lenses import analytic, cross_lens, decoding, scattering, volterra
from experiments.reports import tour as tour_report
from experiments.workdir import Workdir


def run(config, workdir: str = "runs/tour") -> dict:
    """Runs every lens and writes ``report.html`` and ``summary.json``; returns the summary."""
    wd, key, timings = Workdir(workdir), jax.random.key(config.seed), {}
    clock = time.perf_counter()

    def lap(name):
        nonlocal clock
        timings[name], clock = time.perf_counter() - clock, time.perf_counter()

    data = nets.prepare(config, smooth=True)
    wd.write_config(config)
    net, twin = nets.trained(config, data, wd), nets.trained(config, data, wd, smooth=True)
    lap("train")
    r = tour_report.Results(
        net,
        twin,
        decoding.compute(net, data, config.decoding),
        volterra.compute(twin, data, config.volterra, key=jax.random.fold_in(key, 1)),
        analytic.compute(net, data, config.analytic, key=jax.random.fold_in(key, 2)),
        scattering.compute(net, data, config.scattering, key=jax.random.fold_in(key, 3)),
        None,
        timings,
    )
    r = r._replace(cross=cross_lens.compute(net, twin, r.volterra.white.h1, data))
    lap("lenses")
    tour_report.save_figures(wd, r, config, nets.net_workdir(config, wd).metrics())
    lap("figures")
    timings["total"] = sum(timings.values())
    summary = tour_report.summary(r)
    wd.write_summary(summary)
    wd.write_text("report.html", tour_report.html(r, config))
    return summary


if __name__ == "__main__":
    _app.launch(run, "tour")
