"""Filter decoding on any of the project's networks: every conv layer's decoded filters, their
Table-1 response error and their self-consistency (see ``experiments.lenses.decoding``).

    python -m experiments.decode_net --config.net.model=vgg --workdir=runs/decode_vgg
    python -m experiments.decode_net --config.net.model=resnet --workdir=runs/decode_resnet
    python -m experiments.decode_net --config.net.model=resnet --config.net_workdir=runs/resnet

Writes config.json, summary.json (per layer: units, filter size, stride, error mean and std,
self-consistency), figures/decoded_layers.png, arrays/decoded_filters.npz, and the training
contract when it trains.
"""

import time

import cnn_layers
from experiments import _app
from experiments.core import nets
from experiments.lenses import decoding
from experiments.plots.decoding import plot_decoded_layers
from experiments.workdir import Workdir


def run(config, workdir: str) -> dict:
    """Trains or resumes the network, decodes it, writes the workdir; returns the summary."""
    start = time.perf_counter()
    wd = Workdir(workdir)
    wd.write_config(config)
    net = nets.fit_named(config.net, Workdir(config.net_workdir) if config.net_workdir else wd)
    layers = cnn_layers.from_nnx(net.model())
    images = net.test_set.images
    if config.num_images > 0:
        images = images[: config.num_images]
    result = decoding.compute(layers, images, unpool=config.unpool, batch_size=config.batch_size)
    name = nets.TITLES[config.net.model]
    wd.save_figure(
        "decoded_layers", plot_decoded_layers(result, name, max_units=config.units_shown)
    )
    wd.save_arrays("decoded_filters", **{r.name: r.filters for r in result.layers})
    rows = [
        {
            "layer": r.name,
            "units": len(r.filters),
            "filter_size": list(r.filters.shape[1:3]),
            "stride": r.stride,
            "error_mean": r.error_mean,
            "error_std": r.error_std,
            "self_consistency": r.self_consistency,
        }
        for r in result.layers
    ]
    summary = {
        "model": config.net.model,
        "test_accuracy": net.summary["test_accuracy"],
        "num_images": result.num_images,
        "unpool": result.unpool,
        "layers": rows,
        "wall_seconds": time.perf_counter() - start,
    }
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "decode_net")
