"""AnaNN-LeNet and a four-layer AnaNN against their plain twins; family ablation; mosaics.

    python -m experiments.acl_train --workdir=runs/acl_train           # mnist_5k
    python -m experiments.acl_train --config.nets_dir=runs/nets

Every network sees the same data (MatConvNet's preprocessing: 0-255 pixels minus the mean
training image) and the same schedule (``config.nets.lenet``: batch, epochs, SGD momentum 0.9,
learning rate, weight decay, seed). The plain LeNet is ``experiments.core.nets.trained`` (in
``<nets_dir>/lenet``, shared with other experiments); the plain four-layer net is
:func:`train.train`. The analytic networks are trained by :func:`train_analytic`, the same SGD
with two changes for the AKPs: the shape AKPs (sigma, theta, lambda, ...) get the learning
rate ``learning_rate * akp_lr_scale`` and no weight decay (their amplitudes and the plain
slices get the plain recipe). Every network has its own sub-workdir (``anann_lenet/``,
``plain_four/``, ``anann_four/``, ``ablation/freeze_<code>/``) with metrics and checkpoints,
so a rerun resumes everything.

Ablation (the paper's Figure 4b), one row per family of the AnaNN-LeNet arrangement:
``removed``: the trained net with that family's kernels set to zero in every layer (no
retraining); ``frozen``: the net trained from the same initialisation with that family's AKPs
frozen (``ablation.freeze_steps`` steps, a shorter schedule, against an unfrozen run of the
same length). Writes ``results.md``, ``ablation.md``, ``summary.json``,
``figures/mosaic_<layer>.png`` (Figure 4a: kernels per slice at init and after training,
framed by family colour), ``figures/training_curves.png`` and ``arrays/anann_lenet.npz``.
"""

from experiments import _app
from experiments.core import anann_training, nets
from experiments.plots.analytic import plot_mosaic
from experiments.plots.training import plot_losses
from experiments.reports import acl_train as acl_report
from experiments.workdir import Workdir


def run(config, workdir: str) -> dict:
    """Trains the four networks and the ablation; writes the workdir; returns the summary."""
    wd = Workdir(workdir)
    data = nets.prepare(config)
    wd.write_config(config)
    lenet = nets.trained(config, data, wd)
    s = anann_training.study(config, lenet, data, wd)
    wd.write_text(
        "results.md", acl_report.results_markdown(s, config, anann_training.schedule(config))
    )
    wd.write_text("ablation.md", acl_report.ablation_markdown(s))
    layer = config.mosaic_layer
    spec = s.specs[layer]
    m = min(config.mosaic_max_slices, spec.n_slices)
    init = anann_training.mosaic_slices(s.init_params, layer, spec)[:m]
    learned = anann_training.mosaic_slices(s.learned_params, layer, spec)[:m]
    rows = ["at initialisation", "after training"]
    fig = plot_mosaic(
        [init, learned], spec.codes[:m], rows, f"AnaNN-LeNet {layer} {spec.arrangement}"
    )
    wd.save_figure(f"mosaic_{layer}", fig)
    wd.save_arrays(
        "anann_lenet",
        **{
            f"{n}_init": anann_training.mosaic_slices(s.init_params, n, sp)
            for n, sp in s.specs.items()
        },
        **{
            f"{n}_learned": anann_training.mosaic_slices(s.learned_params, n, sp)
            for n, sp in s.specs.items()
        },
    )
    histories = {"plain_lenet": nets.net_workdir(config, wd).metrics()}
    for name in ("anann_lenet", "plain_four", "anann_four"):
        if name in s.models:
            histories[name] = Workdir(wd.path / name).metrics()
    wd.save_figure("training_curves", plot_losses(histories))
    summary = acl_report.summary(s, config)
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "acl_train")
