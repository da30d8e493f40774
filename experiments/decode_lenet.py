"""Filter decoding on the trained MatConvNet LeNet: the paper's Table 1, Figures 1 and 4 and its
supplementary self-consistency check (Rafegas & Vanrell, arXiv 1511.05084); the analyses are
``experiments.lenses.decoding_paper``.

    python -m experiments.decode_lenet --workdir=runs/decode_lenet
    python -m experiments.decode_lenet --config=experiments/configs/decode_lenet.py:smoke

Measured on ``mnist_5k`` (600 steps, test accuracy 96.6%, 1000 test images; deconvnet on 100),
Table 1 'minmax' mean +- std for bicubic / nearest / bilinear / deconvnet:
L3 0.0015 +- 0.0009 / 0.0014 / 0.0016 / 0.0018, L5 0.0132 +- 0.0047 / 0.0132 / 0.0139 / 1e-11,
L7 0.040 +- 0.034 / 0.038 / 0.043 / 0.028 (paper: 0.002, 0.012, 0.078); self-consistency
(bicubic, 'pixels' / 'scaled'): L5 22% / 67%, L7 90% / 100%.

Writes config.json, summary.json, table1.md, figures/*.png and arrays/*.npz (decoded filters,
per-image errors, Figure 1 matrices, self-consistency winners); the LeNet's training contract
goes to ``<nets_dir>/lenet``.
"""

import numpy as np

from experiments import _app
from experiments.core import nets
from experiments.lenses import decoding_paper
from experiments.plots import decoding as plots
from experiments.reports import decode_lenet as decoding_paper_report
from experiments.workdir import Workdir


def run(config, workdir: str) -> dict:
    """Trains or reuses the LeNet, decodes it and writes the workdir; returns the summary."""
    wd = Workdir(workdir)
    data = nets.prepare(config)
    wd.write_config(config)
    net = nets.trained(config, data, wd)
    r = decoding_paper.compute(net, data, config)
    methods, names = tuple(config.unpool_methods), decoding_paper_report.names(r)
    wd.save_arrays(
        "decoded_filters",
        **{f"{m}_{names[i]}": r.decoded[m][i] for m in methods for i in r.conv_layers},
    )
    wd.save_arrays("table1", image_indices=r.image_indices, **r.errors)
    wd.write_text("table1.md", decoding_paper_report.table1_markdown(r.table1, methods))
    images = data.test.images[r.image_indices]
    fig1 = r.figure1[config.figure_method]
    out = r.conv_layers[-1]
    wd.save_figure(
        "figure1_l7_class_max",
        plots.plot_figure1(
            r.decoded[config.figure_method][out],
            fig1["matrix"],
            fig1["argmax"],
            images,
            config.figure_method,
        ),
    )
    wd.save_arrays(
        "figure1",
        labels=data.test.labels[r.image_indices],
        test_index=r.image_indices,
        **{f"{m}_max": f["matrix"] for m, f in r.figure1.items()},
        **{f"{m}_argmax_test_index": f["argmax_test_index"] for m, f in r.figure1.items()},
    )
    for m in methods:
        wd.save_figure(
            f"figure4_decoded_filters_{m}", plots.plot_figure4(r.decoded[m], r.figure4_units, m)
        )
        failures = decoding_paper_report.failures(r, m)[: int(config.max_failures_shown)]
        wd.save_figure(f"self_consistency_failures_{m}", plots.plot_failures(failures, m, "pixels"))
    wd.save_arrays(
        "self_consistency",
        **{
            f"{k}_{field}": np.asarray(v[field])
            for k, v in r.self_consistency_detail.items()
            for field in ("winner", "own_rank")
        },
    )
    summary = decoding_paper_report.summary(r, net)
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "decode_lenet")
