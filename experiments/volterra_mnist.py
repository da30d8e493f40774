"""The Volterra paper's MNIST study: kernels, perturbation analysis and a proxy attack
(``experiments.lenses.volterra_paper``).

    python -m experiments.volterra_mnist --workdir=runs/volterra_mnist
    python -m experiments.volterra_mnist --config.data.dataset=mnist --config.data.data_dir=D

1. Trains (or resumes) the conv-sigmoid net of ``experiments.models.sigmoid_net`` ending in a
   global mean, so the class score is the spatial mean of one Volterra series applied at every
   position (receptive field 17x17, stride 2).
2. White-box kernels of the 10 classes by ``volterra_jax.from_layers`` (checked against
   autodiff of the model), and black-box kernels by ``volterra_jax.hack`` fitted only on
   (input, output) pairs of the net on 17x17 inputs: Gaussian inputs of L2 norm
   ``hack_input_norm`` (0.1; the authors use 1) or random crops of real training digits.
3. Perturbation analysis: for ``x`` = 0 (the expansion point) and real test digits, random sign
   and adversarial deltas of growing L-inf size ``eps``: the change each order predicts against
   the actual change of the logits.
4. Attack: ``volterra_jax.proxy_attack`` built only from the hacked kernels against FGSM (the
   real net's gradient) and sign noise at the same L-inf budget.

Writes ``summary.json``, ``figures/{loss_curve,kernels_h1,kernels_h2,perturbation,attack}.png``
and ``arrays/{kernels,perturbation,attack}.npz``.
"""

import numpy as np
from flax import nnx

from experiments import _app
from experiments.core import nets
from experiments.lenses import volterra_paper
from experiments.models import sigmoid_net
from experiments.plots import volterra as plots
from experiments.plots.training import plot_history
from experiments.workdir import Workdir


def run(config, workdir: str) -> dict:
    """Trains or resumes the net, analyses it and writes the workdir; returns the summary."""
    wd = Workdir(workdir)
    nets.check_recipe(config, config.data.dataset)
    wd.write_config(config)
    data = nets.load_data(config.data)

    def make_model(in_channels):
        widths = (config.width1, config.width2)
        return sigmoid_net.SigmoidNet(in_channels, widths=widths, rngs=nnx.Rngs(config.seed))

    net = nets.fit(config, data, wd, make_model, name="sigmoid net")
    wd.save_figure("loss_curve", plot_history(wd.metrics(), net.name))
    s = volterra_paper.compute(net, data, config)
    wd.save_figure("kernels_h1", plots.plot_study_h1(s))
    if s.white.order >= 2:
        wd.save_figure("kernels_h2", plots.plot_study_h2(s))
    wd.save_arrays(
        "kernels",
        **{f"white_h{n}": np.asarray(t) for n, t in enumerate(s.white)},
        **{f"hacked_{k}_h{n}": np.asarray(t) for k, h in s.hacked.items() for n, t in enumerate(h)},
    )
    wd.save_figure("perturbation", plots.plot_perturbation(s.perturbation, s.white.order))
    rows = s.perturbation
    columns = {k: np.asarray([r[k] for r in rows]) for k in rows[0] if k not in ("base", "delta")}
    base, delta = (np.asarray([r[k] for r in rows]) for k in ("base", "delta"))
    wd.save_arrays("perturbation", **columns, base=base, delta=delta)
    wd.save_figure("attack", plots.plot_attack_table(s.attack))
    wd.save_arrays("attack", **{k: np.asarray(v) for k, v in s.attack.items()})
    summary = {
        "dataset": data.name,
        "num_train": len(data.train.labels),
        "num_test": len(data.test.labels),
        **{k: net.summary[k] for k in ("test_accuracy", "test_loss", "resumed_from_step")},
        "train_seconds": net.summary["wall_seconds"],
        "receptive_field": list(s.receptive_field),
        "white_order": s.white.order,
        "analytic_vs_autodiff": s.analytic_vs_autodiff,
        "proxy_accuracy": s.proxy_accuracy,
        "hacked": s.hack_info,
        "perturbation": s.perturbation,
        "attack": s.attack,
        "seconds": s.seconds,
    }
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "volterra_mnist")
