"""A scattering transform with a linear classifier on the digits, next to a trained network.

    python -m experiments.scattering_classify                  # mnist_5k, J=3, L=8
    python -m experiments.scattering_classify --config.data.dataset=mnist --config.data.data_dir=D

Writes config.json, summary.json (train/test error, feature count, speed), metrics.jsonl (the
classifier's loss), figures/classifier_loss.png and arrays/scattering_features.npz.
"""

from experiments import _app
from experiments.core import nets
from experiments.lenses import scattering
from experiments.plots.scattering import plot_classifier_loss
from experiments.workdir import Workdir


def run(config, workdir: str) -> dict:
    """Fits the classifier and writes the workdir; returns the summary."""
    wd = Workdir(workdir)
    data = nets.prepare(config) if config.compare_net else nets.load_data(config.data)
    wd.write_config(config)
    r = scattering.classify(data, config)
    for step in range(0, len(r.history), max(1, len(r.history) // 50)):
        wd.log_metrics(step + 1, train_loss=float(r.history[step]))
    summary = {"dataset": data.name, **r._asdict()}
    for name in ("history", "test_indices", "test_features"):
        del summary[name]
    summary["scattering_train_error"] = summary.pop("train_error")
    summary["scattering_test_error"] = summary.pop("test_error")
    if config.compare_net:
        net = nets.trained(config, data, wd)
        summary["net_test_error"] = 1.0 - net.summary["test_accuracy"]
    wd.save_figure("classifier_loss", plot_classifier_loss(r))
    wd.save_arrays(
        "scattering_features",
        test_features=r.test_features,
        test_labels=data.test.labels[r.test_indices],
    )
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "scattering_classify")
