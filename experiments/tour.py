"""The main job: all four lenses on one trained network, one HTML report.

    python -m experiments.tour                       # mnist_5k, writes runs/tour/report.html
    python -m experiments.tour --config.dataset=mnist --config.data_dir=D

Trains (or reuses) MatConvNet's LeNet and a smooth twin (tanh, average pooling), then:
decoding (decoded filters, the Table-1 row, the Figure-1 matrix), Volterra (white-box order-1
and order-2 kernels of the output units, hacked kernels and their error, attacks built from
them), analytic (the first layer fitted by the kernel families), scattering (scattering +
linear classifier next to the LeNet, deformation-stability slopes) and the cross-lens view
(decoded filters against order-1 proxy kernels of the same units). Everything goes to
``report.html`` and ``summary.json``; each lens also keeps its own sub-workdir. Rerunning with
the same workdir reuses the trained networks.
"""

import time

import jax

import cnn_layers
from experiments import (
    _app,
    decode_lenet,
    models,
    report,
    scattering_classify,
    scattering_stability,
    tour_lenses,
    train_lenet,
)
from experiments.core import nets
from experiments.workdir import Workdir, environment


def _sub(sub, config, lenet_dir: str):
    """A lens's own config with the tour's data and LeNet."""
    sub = sub.copy_and_resolve_references()
    with sub.unlocked():
        sub.dataset = config.dataset
        sub.data_dir = config.data_dir
        sub.lenet = config.lenet.copy_and_resolve_references()
        sub.lenet_workdir = lenet_dir
    return sub


def run(config, workdir: str = "runs/tour") -> dict:
    """Runs every lens and writes ``report.html`` and ``summary.json``; returns the summary."""
    start = time.perf_counter()
    timings = {}
    wd = Workdir(workdir)
    wd.write_config(config)
    key = jax.random.key(config.seed)
    lenet_dir = config.lenet_workdir or str(wd.path / "lenet")

    t = time.perf_counter()
    net = train_lenet.run(config.lenet, lenet_dir)
    wd.save_figure("lenet_loss", nets.plot_history(Workdir(lenet_dir).metrics(), "LeNet"))
    twin_wd = Workdir(wd.path / "lenet_smooth")
    twin = train_lenet.train_lenet(
        config.lenet, twin_wd, activation=config.smooth_activation, pool="avg"
    )
    twin_wd.write_summary(twin.summary)
    timings["train"] = time.perf_counter() - t

    t = time.perf_counter()
    dec = decode_lenet.run(_sub(config.decoding, config, lenet_dir), str(wd.path / "decoding"))
    timings["decoding"] = time.perf_counter() - t

    t = time.perf_counter()
    # the conv stacks up to conv4: its output units are the 1x1x10 map the Flatten reshapes
    upto_conv4 = models.CONV_INDICES[-1] + 1
    relu_layers = cnn_layers.from_nnx(net.model())[:upto_conv4]
    twin_layers = cnn_layers.from_nnx(twin.model())[:upto_conv4]
    idx = decode_lenet.stratified_indices(twin.test_set.labels, config.volterra.num_images)
    vol, white = tour_lenses.volterra_lens(
        jax.random.fold_in(key, 1),
        twin_layers,
        twin.test_set.images[idx],
        twin.test_set.labels[idx],
        twin.pixel_scale,
        config.volterra,
        wd,
    )
    vol["smooth_twin_test_accuracy"] = twin.summary["test_accuracy"]
    timings["volterra"] = time.perf_counter() - t

    t = time.perf_counter()
    ana = tour_lenses.analytic_lens(
        jax.random.fold_in(key, 2), relu_layers[0].w, config.analytic, wd
    )
    timings["analytic"] = time.perf_counter() - t

    t = time.perf_counter()
    sc = scattering_classify.run(
        _sub(config.scattering_classify, config, lenet_dir), str(wd.path / "scattering_classify")
    )
    ss = scattering_stability.run(
        _sub(config.scattering_stability, config, lenet_dir), str(wd.path / "scattering_stability")
    )
    timings["scattering"] = time.perf_counter() - t

    t = time.perf_counter()
    cross = tour_lenses.cross_lens(relu_layers, twin_layers, white, wd)
    cross["analytic_fraction_of_conv1"] = ana["analytic_fraction"]
    timings["cross_lens"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - start

    bicubic = {layer: dec["table1"][layer]["bicubic"]["mean"] for layer in ("L3", "L5", "L7")}
    summary = {
        "lenet": {
            k: net.summary[k]
            for k in ("test_accuracy", "test_error", "num_epochs", "examples_per_second", "dataset")
        },
        "decoding": {
            "table1_bicubic": bicubic,
            "table1_paper": {
                n: row["bicubic"]["mean"] for n, row in dec["table1_paper"].items() if n in bicubic
            },
            "figure1": dec["figure1"]["bicubic"],
            "self_consistency_scaled_bicubic": dec["self_consistency"]["scaled"]["bicubic"],
        },
        "volterra": vol,
        "analytic": ana,
        "scattering": {
            "scattering_test_error": sc["scattering_test_error"],
            "lenet_test_error": net.summary["test_error"],
            "J": sc["J"],
            "slopes": ss["slopes"],
            "pixels_over_scattering_deformation": ss["pixels_over_scattering_deformation"],
            "pixels_over_scattering_translation": ss["pixels_over_scattering_translation"],
        },
        "cross_lens": cross,
        "wall_seconds": timings,
    }
    wd.write_summary(summary)
    wd.write_text("report.html", _report_html(summary, config))
    return summary


def _report_html(s: dict, config) -> str:
    R = report.Section
    vol, ana, sca, dec, cross = (
        s["volterra"],
        s["analytic"],
        s["scattering"],
        s["decoding"],
        s["cross_lens"],
    )
    attack_rows = [["eps", *vol["attack_success"]]] + [
        [eps, *(r[i] for r in vol["attack_success"].values())]
        for i, eps in enumerate(vol["attack_eps"])
    ]
    sections = [
        R(
            "The network",
            "MatConvNet's MNIST LeNet trained with its own recipe; every lens below "
            "looks at this network (the Volterra lens at its tanh/average-pool twin).",
            s["lenet"],
            ["figures/lenet_loss.png"],
        ),
        R(
            "Decoding (Rafegas & Vanrell)",
            "Each neuron decoded into one image-space filter "
            "reproduces its layer's response to real digits up to the Table-1 error below; the "
            "decoded output filters, used as one-neuron classifiers, find their own class.",
            {
                "Table 1 (bicubic) ours": dec["table1_bicubic"],
                "Table 1 paper": dec["table1_paper"],
                "Figure 1": dec["figure1"],
                "self-consistency (scaled, bicubic)": dec["self_consistency_scaled_bicubic"],
            },
            [
                "decoding/figures/figure1_l7_class_max.png",
                "decoding/figures/figure4_decoded_filters_bicubic.png",
            ],
        ),
        R(
            "Volterra (Li et al.)",
            "The output units of the smooth twin as a Volterra series: the "
            "white-box kernels by composition match autodiff, the hacking network recovers them "
            "from input/output pairs alone, and attacks built from those kernels fool the net.",
            {k: v for k, v in vol.items() if k not in ("attack_success", "attack_eps")},
            ["figures/volterra_kernels.png", "figures/volterra_attack.png"],
            attack_rows,
        ),
        R(
            "Analytic kernels (Cui et al.)",
            "The trained first-layer kernels fitted by the "
            "analytic families: the chosen mosaic says which ones are Gabor-, LoG- or TGD-like "
            "and how many parameters that saves.",
            ana,
            ["figures/analytic_fit.png"],
        ),
        R(
            "Scattering (Mallat; Bruna & Mallat)",
            "A fixed wavelet scattering transform with a "
            "linear classifier against the trained LeNet, and its stability to deformations and "
            "translations compared with raw pixels and the LeNet's features.",
            sca,
            ["scattering_stability/figures/stability.png"],
        ),
        R(
            "Cross-lens view",
            "For each output unit, its decoded filter against its order-1 Volterra proxy "
            "kernel (cosine after removing the mean): on the ReLU net the local kernel at the "
            "mean image carries the max-pool switches and ReLU gates that decoding replaces by "
            "unpooling, so the two agree only partly; on the tanh/average-pool twin, near its "
            "linear regime at the mean image, decoding with average-pool weighting is the "
            "order-1 kernel. Both build on the same first layer, of which the analytic fit "
            f"explains {ana['analytic_fraction']:.0%} of the kernels.",
            {k: v for k, v in cross.items()},
            ["figures/cross_lens.png"],
        ),
    ]
    env = environment()
    meta = (
        f"dataset {config.dataset}; jax {env['jax_version']} on {env['backend']} "
        f"({env['device_count']} device(s)); total {s['wall_seconds']['total']:.0f} s"
    )
    intro = (
        "cnn-lens: four papers' lenses on the same trained network. Numbers are from this "
        "run; summary.json has all of them."
    )
    return report.render("cnn-lens tour", intro, sections, meta)


if __name__ == "__main__":
    _app.launch(run, "tour")
