"""Filter decoding on any of the project's networks: every conv layer's decoded filters, their
Table-1 response error and their self-consistency (see ``experiments.lenses.decoding``).

    python -m experiments.decode_net --config.model=vgg --workdir=runs/decode_vgg
    python -m experiments.decode_net --config.model=resnet --config.nets_dir=runs/nets

Writes config.json, summary.json (per layer: units, filter size, stride, error mean and std,
self-consistency), figures/decoded_layers.png and arrays/decoded_filters.npz; the net's
training contract goes to ``<nets_dir>/<model>``.
"""

from experiments import _app
from experiments.core import nets
from experiments.lenses import decoding
from experiments.plots.decoding import plot_decoded_layers
from experiments.workdir import Workdir


def run(config, workdir: str) -> dict:
    """Trains or reuses the network, decodes it, writes the workdir; returns the summary."""
    wd = Workdir(workdir)
    data = nets.prepare(config)
    wd.write_config(config)
    net = nets.trained(config, data, wd)
    result = decoding.compute(net, data, config.decoding)
    figure = plot_decoded_layers(result, net.name, max_units=config.units_shown)
    wd.save_figure("decoded_layers", figure)
    wd.save_arrays("decoded_filters", **{r.name: r.filters for r in result.layers})
    summary = {
        "model": config.model,
        "test_accuracy": net.summary["test_accuracy"],
        "num_images": result.num_images,
        "unpool": result.unpool,
        "layers": [decoding.layer_summary(r) for r in result.layers],
    }
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "decode_net")
