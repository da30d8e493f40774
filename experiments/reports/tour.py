"""The tour's results, its ``summary.json`` and its report: every number with one sentence on
what it means (``experiments.tour`` computes them; this module only words them)."""

from typing import Any, NamedTuple

import numpy as np

from analytic_jax import get_family
from experiments import report
from experiments.lenses import decoding
from experiments.plots import analytic as analytic_plots
from experiments.plots import cross_lens as cross_plots
from experiments.plots import scattering as scattering_plots
from experiments.plots import volterra as volterra_plots
from experiments.plots.decoding import plot_decoded_layers
from experiments.plots.training import plot_history
from experiments.workdir import environment


class Results(NamedTuple):
    net: Any  # experiments.core.nets.Net
    twin: Any  # its smooth twin
    decoding: Any  # experiments.lenses.decoding.Decoding
    volterra: Any  # experiments.lenses.volterra.Volterra (of the twin)
    analytic: Any  # experiments.lenses.analytic.AnalyticFit
    scattering: Any  # experiments.lenses.scattering.Scattering
    cross: Any  # experiments.lenses.cross_lens.CrossLens
    timings: dict


def save_figures(wd, r: Results, config, history: list[dict]) -> None:
    """Every figure the report shows, and the Volterra kernels as arrays."""
    net, twin, v = r.net.name, r.twin.name, r.volterra
    wd.save_figure("training", plot_history(history, net))
    units = config.decoding.units_shown
    wd.save_figure("decoded_layers", plot_decoded_layers(r.decoding, net, max_units=units))
    wd.save_figure("volterra_kernels", volterra_plots.plot_kernels(v, twin))
    wd.save_figure("volterra_attack", volterra_plots.plot_attacks(v, f"attacks on the {twin}"))
    wd.save_figure("analytic_fit", analytic_plots.plot_fit(r.analytic, net))
    wd.save_figure("stability", scattering_plots.plot_stability(r.scattering.stability, net))
    wd.save_figure(
        "classifier_loss", scattering_plots.plot_classifier_loss(r.scattering.classification)
    )
    wd.save_figure("cross_lens", cross_plots.plot_cross_lens(r.cross, net))
    wd.save_arrays("volterra_kernels", h0=v.white.h0, h1=v.white.h1, hacked_h1=v.hacked.h1)


def summary(r: Results) -> dict:
    """Every number of the run, by lens (the report words the same numbers)."""
    v, a, c = r.volterra, r.analytic, r.scattering.classification
    st = r.scattering.stability
    return {
        "net": {
            k: r.net.summary.get(k) for k in ("model", "dataset", "test_accuracy", "num_epochs")
        },
        "twin": {k: r.twin.summary.get(k) for k in ("model", "test_accuracy")},
        "decoding": {
            "unpool": r.decoding.unpool,
            "num_images": r.decoding.num_images,
            "layers": [decoding.layer_summary(d) for d in r.decoding.layers],
        },
        "volterra": {
            "kernels_source": v.source,
            "composition_vs_autodiff": {str(k): e for k, e in v.composition_vs_autodiff.items()},
            "twin_accuracy_on_lens_images": v.net_accuracy,
            "series_error": {str(k): e for k, e in v.series_error.items()},
            "series_agreement": {str(k): e for k, e in v.series_agreement.items()},
            "hacked_errors": {str(k): e for k, e in v.hacked_errors.items()},
            "attack_eps": list(v.attack_eps),
            "attack_success": v.attack_success,
            "attack_images": v.attack_images,
        },
        "analytic": {
            "family_counts": a.family_counts,
            "analytic_fraction": a.analytic_fraction,
            "median_rel_error": a.median_rel_error,
            "threshold": a.threshold,
            "params_analytic": a.params_analytic,
            "params_plain": a.params_plain,
        },
        "scattering": {
            "J": c.J,
            "test_error": c.test_error,
            "num_features": c.num_features,
            "slopes": st.slopes,
            "pixels_over_scattering": st.pixels_over_scattering,
        },
        "cross_lens": {
            "mean_cosine": float(np.mean(r.cross.cosine)),
            "twin_mean_cosine": float(np.mean(r.cross.twin_cosine)),
        },
        "wall_seconds": r.timings,
    }


ATTACKS = {
    "proxy_hacked": "proxy attack from the hacked kernels",
    "proxy_white_box": "proxy attack from the white-box kernels",
    "fgsm": "FGSM (the true gradient)",
    "random_sign": "random signs",
}


def _pct(x: float) -> str:
    return f"{x:.1%}"


def _decoding_section(r: Results) -> report.Section:
    rows = {
        f"{d.name}: {d.filters.shape[1]}x{d.filters.shape[2]} filters, stride {d.stride}": (
            f"response error {d.error_mean:.4f} ± {d.error_std:.4f}; "
            f"{_pct(d.self_consistency)} of units self-consistent"
        )
        for d in r.decoding.layers
    }
    return report.Section(
        "Decoding (Rafegas & Vanrell)",
        f"Each unit of {r.net.name} decoded into one image-space filter ({r.decoding.unpool} "
        "unpooling through the pools). The response error is the paper's Table-1 measure: how "
        "far the filter's response on real test digits is from the layer's own response, both "
        "min-max normalised (0 = identical); it grows with depth as more ReLUs and max pools "
        "are bypassed. A unit is self-consistent when its own decoded filter, placed in a blank "
        f"image, excites it more than any other unit of its layer ({r.decoding.num_images} "
        "test images).",
        rows,
        ["figures/decoded_layers.png"],
    )


def _volterra_section(r: Results) -> report.Section:
    v = r.volterra
    s1, s2 = v.series_error[1], v.series_error[2]
    why = (
        "The series is taken around the mean image, where the tanh units are near linear; real "
        "digits drive many of them into saturation, which no polynomial of order 1 or 2 "
        "follows, so the truncated series misses much of the logits' size even where it still "
        "picks the right class."
        if s1 > 0.3
        else "On these digits the network stays close to its series around the mean image."
    )
    series = "series: relative error of the logits / same predicted class"
    hacked = " / ".join(f"{v.hacked_errors[n]:.3f}" for n in (0, 1, 2))
    gap = " / ".join(f"{e:.2e}" for e in v.composition_vs_autodiff.values())
    orders = " / ".join(f"h{n}" for n in v.composition_vs_autodiff)
    if v.source == "composition":
        kernels = (
            "kernels of order 0, 1, 2 composed layer by layer (white box), equal to autodiff of "
            "the network"
        )
    else:
        kernels = (
            "kernels of order 0, 1, 2 of the network itself by autodiff (white box): with "
            "SAME padding every output unit reads the border, where composing layer by layer "
            "gives the network with a zero-padded input instead (the border rule), as the "
            "difference below shows"
        )
    rows = {
        f"Composed kernels against autodiff of the network, relative difference of {orders}": gap,
        f"Accuracy of {r.twin.name} on the Volterra lens's test digits": _pct(v.net_accuracy),
        f"Order-1 {series}": f"{s1:.3f} / {_pct(v.series_agreement[1])}",
        f"Order-2 {series}": f"{s2:.3f} / {_pct(v.series_agreement[2])}",
        "Kernels recovered by the black-box hacking network, relative errors of h0 / h1 / h2": (
            hacked
        ),
    }
    attack_rows = [["L-inf budget", *(ATTACKS.get(n, n) for n in v.attack_success)]] + [
        [eps, *(rates[i] for rates in v.attack_success.values())]
        for i, eps in enumerate(v.attack_eps)
    ]
    return report.Section(
        "Volterra (Li et al.)",
        f"The outputs of {r.twin.name} as a Volterra series: {kernels}; the same kernels "
        "recovered from input/output pairs alone (black box), and used to attack the net. "
        f"{why} The table gives each "
        f"attack's success rate on the {v.attack_images} correctly classified digits at each "
        "L-inf budget (pixels in [0, 1]).",
        rows,
        ["figures/volterra_kernels.png", "figures/volterra_attack.png"],
        attack_rows,
    )


def _analytic_section(r: Results) -> report.Section:
    a = r.analytic
    counts = ", ".join(f"{n} {get_family(code).name}" for code, n in a.family_counts.items())
    rows = {
        "Kernel slices per family in the chosen mosaic": counts,
        f"Slices an analytic family fits within relative error {a.threshold}": _pct(
            a.analytic_fraction
        ),
        "Median relative error of the chosen fits": f"{a.median_rel_error:.3f}",
        "Parameters: mosaic against the plain layer": (
            f"{a.params_analytic} against {a.params_plain} "
            f"({_pct(1 - a.params_analytic / a.params_plain)} fewer)"
        ),
    }
    return report.Section(
        "Analytic kernels (Cui et al.)",
        f"The trained first-layer kernels of {r.net.name} fitted by the analytic families: "
        "a slice keeps the best family whose error is under the threshold and its plain "
        "kernel otherwise, which says how much of the layer is Gabor-, LoG- or TGD-like and "
        "how many parameters that saves.",
        rows,
        ["figures/analytic_fit.png"],
    )


def _scattering_section(r: Results) -> report.Section:
    c, st = r.scattering.classification, r.scattering.stability
    px, sc, nw = (st.slopes[k] for k in ("pixels", "scattering", "network"))
    ratio = st.pixels_over_scattering

    def moves(kind):
        return (
            f"{px[kind + '_relative_to_x']:.3f} / {sc[kind + '_relative_to_x']:.3f} "
            f"(pixels move {ratio[kind]:.1f}x more)"
        )

    rows = {
        f"Test error of a linear classifier on scattering coefficients (J={c.J}, "
        f"{c.num_features} features)": _pct(c.test_error),
        f"Test error of {r.net.name} (trained)": _pct(1 - r.net.summary["test_accuracy"]),
        "Change under smooth deformations per unit of ||grad tau||, pixels / scattering "
        "(relative to ||x||)": moves("deformation"),
        "Change under translations per pixel, pixels / scattering (relative to ||x||)": moves(
            "translation"
        ),
        f"Relative change of {r.net.name}'s penultimate features, per unit of deformation / "
        "per pixel of translation": f"{nw['deformation']:.3f} / {nw['translation']:.3f}",
    }
    return report.Section(
        "Scattering (Mallat; Bruna & Mallat)",
        "A fixed wavelet scattering transform, with no training, next to the trained network: "
        "how well a linear classifier on it does, and how little it moves when a digit is "
        "deformed or shifted, as Mallat's stability theorem promises, compared with raw pixels "
        "and the network's own features.",
        rows,
        ["figures/stability.png", "figures/classifier_loss.png"],
    )


def _cross_section(r: Results) -> report.Section:
    cos, twin_cos = float(np.mean(r.cross.cosine)), float(np.mean(r.cross.twin_cosine))
    rows = {
        f"{r.net.name}: mean cosine of decoded output filters and local order-1 kernels": (
            f"{cos:.3f}"
        ),
        f"{r.twin.name}: mean cosine of decoded output filters and order-1 kernels": (
            f"{twin_cos:.3f}"
        ),
        "Share of the first layer the analytic families explain (from the analytic lens)": _pct(
            r.analytic.analytic_fraction
        ),
    }
    return report.Section(
        "Cross-lens view",
        "Each output unit seen by two lenses: its decoded filter against its order-1 Volterra "
        "kernel (cosine after removing the mean; 1 = the same picture). On the ReLU network the "
        "order-1 kernel at the mean image carries the max-pool switches and ReLU gates that "
        "decoding replaces by unpooling, so they agree only partly; on the smooth twin, decoding "
        "with average-pool weighting is that kernel up to the tanh gains"
        + (
            ", except that with SAME padding the decoded filter of an output unit follows the "
            "border rule (the zero-padded-input network) while the kernel is the real network's, "
            "which is why they agree less here."
            if r.volterra.source == "autodiff"
            else "."
        ),
        rows,
        ["figures/cross_lens.png"],
    )


def html(r: Results, config) -> str:
    """The tour's report: one section per lens."""
    n = r.net.summary
    net_rows = {
        f"Test accuracy of {r.net.name} on {n.get('dataset')}": _pct(n["test_accuracy"]),
        f"Test accuracy of {r.twin.name}, which the Volterra lens expands": _pct(
            r.twin.summary["test_accuracy"]
        ),
        "Training epochs": n.get("num_epochs"),
    }
    sections = [
        report.Section(
            "The network",
            f"{r.net.name} trained with its recipe (configs/common.py); every lens below looks "
            "at it, the Volterra lens at its smooth twin (tanh for ReLU, average pools).",
            net_rows,
            ["figures/training.png"],
        ),
        _decoding_section(r),
        _volterra_section(r),
        _analytic_section(r),
        _scattering_section(r),
        _cross_section(r),
    ]
    env = environment()
    meta = (
        f"model {config.model}, dataset {config.data.dataset}; jax {env['jax_version']} on "
        f"{env['backend']} ({env['device_count']} device(s)); lenses "
        f"{r.timings.get('lenses', 0):.0f} s, training {r.timings.get('train', 0):.0f} s"
    )
    intro = (
        "cnn-lens: four papers' lenses on the same trained network. Numbers are from this "
        "run; summary.json has all of them."
    )
    return report.render("cnn-lens tour", intro, sections, meta)
