"""The tour's own lenses: Volterra kernels of the trained LeNets, the analytic fit of their first
layer, and the cross-lens comparison of decoded filters with order-1 proxy kernels.

Each function takes trained networks (as layer lists) and test data, computes with the pure
libraries, writes its figures through the workdir and returns a dict of numbers.
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

import analytic_jax
import decoding_jax as dj
import volterra_jax as vj
from experiments.plots import figure
from experiments.workdir import Workdir


def network_fn(layers: list):
    """``f(params=layers, x) -> (N, H', W', 10)`` for ``volterra_jax.proxy_kernels``."""

    def apply(params, x):
        out = x
        for layer in params:
            if isinstance(layer, vj.Smooth):
                out = layer(out)
            else:
                out = dj.forward([layer], out)
        return out

    return apply


def relative_error(a, b) -> float:
    """``||a - b|| / ||b||``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def cosine(a, b) -> np.ndarray:
    """Per-unit cosine of two (..., O) filter banks after removing each filter's mean."""
    a = np.asarray(a, np.float64).reshape(-1, a.shape[-1])
    b = np.asarray(b, np.float64).reshape(-1, b.shape[-1])
    a, b = a - a.mean(0), b - b.mean(0)
    return (a * b).sum(0) / (np.linalg.norm(a, axis=0) * np.linalg.norm(b, axis=0))


def _show_bank(ax_row, bank, title_fn):
    for k, ax in enumerate(ax_row):
        img = np.asarray(bank[..., 0, k]) if bank.ndim == 4 else np.asarray(bank[k, ..., 0])
        lim = np.abs(img).max() or 1.0
        ax.imshow(img, cmap="RdBu_r", vmin=-lim, vmax=lim)
        ax.set_title(title_fn(k), fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])


def volterra_lens(
    key, layers, test_images, test_labels, pixel_scale, config, wd: Workdir
) -> tuple[dict, vj.VolterraKernels]:
    """White-box and hacked kernels of the smooth twin (``layers``, its conv stack with smooth
    activations), their accuracy, the proxy attack."""
    apply = network_fn(layers)
    rf = vj.receptive_field(layers)
    white = jax.jit(lambda ls: vj.from_layers(ls, order=2))(layers)
    auto = vj.proxy_kernels(apply, layers, rf.shape, order=1)
    x = jnp.asarray(test_images)
    logits = np.asarray(apply(layers, x))[:, 0, 0]
    out = {
        "receptive_field": list(rf.shape),
        "h1_composition_vs_autodiff": relative_error(white.h1, auto.h1),
        "h0_composition_vs_autodiff": relative_error(white.h0, auto.h0),
        "smooth_net_accuracy": float(np.mean(logits.argmax(1) == test_labels)),
    }
    # How much of the network the truncated series carries, on real test digits.
    for order in (1, 2):
        k = vj.VolterraKernels(*list(white)[: order + 1])
        approx = np.asarray(vj.series(x, k))[:, 0, 0]
        out[f"order{order}_series_output_rel_error"] = relative_error(approx, logits)
        out[f"order{order}_series_agrees_with_net"] = float(
            np.mean(approx.argmax(1) == logits.argmax(1))
        )

    # Black box: the hacking network sees only (input, output) pairs of the smooth net. Its
    # inputs are Gaussian perturbations of the mean image with norm hack_input_norm in units of
    # the pixel range (z = x / pixel_scale), small enough that the series at 0 dominates.
    def black_box(z):
        return apply(layers, z * pixel_scale)

    base = vj.unit_norm_sampler(rf.shape, config.hack_batch)
    hacked = vj.hack(
        key,
        black_box,
        rf.shape,
        10,
        order=2,
        rank=config.hack_rank,
        steps=config.hack_steps,
        learning_rate=config.hack_learning_rate,
        sampler=lambda k: config.hack_input_norm * base(k),
    )
    hk = hacked.kernels
    hacked_x = vj.VolterraKernels(hk.h0, hk.h1 / pixel_scale, hk.h2 / pixel_scale**2)
    out["hacked_h1_rel_error"] = relative_error(hacked_x.h1, white.h1)
    out["hacked_h0_rel_error"] = relative_error(hacked_x.h0, white.h0)
    out["hacked_h2_rel_error"] = relative_error(hacked_x.h2, white.h2)
    out["hack_final_loss"] = float(hacked.losses[-1])

    # Attacks at the same L-inf budget (in pixel units of [0, 1]) on correctly classified digits.
    correct = logits.argmax(1) == test_labels
    xc, yc = x[correct], jnp.asarray(test_labels[correct])
    grad_fn = jax.grad(
        lambda xx: optax.softmax_cross_entropy_with_integer_labels(
            apply(layers, xx)[:, 0, 0], yc
        ).sum()
    )
    sign_grad = jnp.sign(grad_fn(xc))
    noise = jnp.sign(jax.random.normal(jax.random.fold_in(key, 1), xc.shape))
    rates = {"proxy_hacked": [], "proxy_white_box": [], "fgsm": [], "random_sign": []}
    for eps in config.attack_eps:
        e = eps * pixel_scale
        candidates = {
            "proxy_hacked": vj.proxy_attack(
                hacked_x, xc, yc, eps=e, norm="linf", steps=config.attack_steps
            ),
            "proxy_white_box": vj.proxy_attack(
                white, xc, yc, eps=e, norm="linf", steps=config.attack_steps
            ),
            "fgsm": xc + e * sign_grad,
            "random_sign": xc + e * noise,
        }
        for name, adv in candidates.items():
            pred = np.asarray(apply(layers, adv))[:, 0, 0].argmax(1)
            rates[name].append(float(np.mean(pred != np.asarray(yc))))
    out["attack_eps"] = list(config.attack_eps)
    out["attack_success"] = rates
    out["attack_images"] = int(correct.sum())

    fig, axes = figure(3, 10, figsize=(13, 4.6), layout="constrained")
    _show_bank(axes[0], white.h1, lambda k: f"h1 class {k}")
    _show_bank(axes[1], hacked_x.h1, lambda k: "hacked h1")
    h2 = np.asarray(white.h2)
    diag = np.stack(
        [
            np.diagonal(h2[:, :, 0, :, :, 0, k].reshape(784, 784)).reshape(28, 28)
            for k in range(h2.shape[-1])
        ],
        -1,
    )[:, :, None, :]
    _show_bank(axes[2], diag, lambda k: "diag h2")
    wd.save_figure("volterra_kernels", fig)
    fig, ax = figure(figsize=(5, 3.4))
    for name, r in rates.items():
        ax.plot(config.attack_eps, r, "o-", label=name)
    ax.set(
        xlabel="L-inf budget eps (pixels in [0, 1])",
        ylabel="success rate",
        title="attacks on the tanh LeNet",
    )
    ax.legend()
    wd.save_figure("volterra_attack", fig)
    wd.save_arrays(
        "volterra_kernels",
        h0=white.h0,
        h1=white.h1,
        hacked_h1=hacked_x.h1,
        hack_losses=hacked.losses,
    )
    return out, white


def analytic_lens(key, conv1_w, config, wd: Workdir) -> dict:
    """Fits the first-layer kernels by the analytic families and reports the chosen mosaic."""
    fit = analytic_jax.fit_kernels(
        key, conv1_w, steps=config.fit_steps, threshold=config.fit_threshold
    )
    fitted = np.asarray(analytic_jax.mosaic_kernels(fit.params, fit.spec))
    codes = list(fit.spec.codes)
    counts = {c: codes.count(c) for c in sorted(set(codes))}
    plain = int(np.prod(conv1_w.shape))
    fig, axes = figure(
        2, conv1_w.shape[-1], figsize=(conv1_w.shape[-1] * 0.9, 2.4), layout="constrained"
    )
    _show_bank(axes[0], np.asarray(conv1_w), lambda k: f"conv1 {k}")
    _show_bank(axes[1], fitted, lambda k: f"{codes[k]} {float(fit.rel_error[k]):.2f}")
    wd.save_figure("analytic_fit", fig)
    return {
        "mosaic": "".join(f"{c}{n}" for c, n in counts.items()),
        "family_counts": counts,
        "analytic_fraction": 1.0 - counts.get("P", 0) / len(codes),
        "median_rel_error": float(np.median(np.asarray(fit.rel_error))),
        "mean_best_family_error": {
            c: float(np.mean(np.asarray(e))) for c, e in fit.family_errors.items()
        },
        "threshold": config.fit_threshold,
        "params_analytic": int(analytic_jax.param_count(fit.spec)),
        "params_plain": plain,
        "parameter_saving": 1.0 - analytic_jax.param_count(fit.spec) / plain,
    }


def cross_lens(relu_layers, smooth, white_smooth, wd: Workdir) -> dict:
    """Decoded L7 filters against order-1 proxy kernels of the same output units.

    For the ReLU LeNet the proxy is the local order-1 kernel at the mean image (the gradient
    of each logit there: ReLU has no Taylor series at 0); decoding ignores that ReLU and
    replaces the max-pool switches by bicubic unpooling. For the smooth twin (tanh, average
    pools) the proxy is its white-box ``h1`` and the decoded filter uses nearest unpooling with
    the average-pool weighting, the setting where decoding is exact for a linear network: what
    remains is the tanh's gain at the operating point.
    """
    relu_apply = network_fn(relu_layers)
    h1_relu = vj.proxy_kernels(relu_apply, relu_layers, (28, 28, 1), order=1).h1
    dec_relu = np.moveaxis(np.asarray(dj.decode(relu_layers, 6, unpool="bicubic")), 0, -1)
    dec_smooth = np.moveaxis(
        np.asarray(dj.decode(smooth, 6, unpool="nearest", avg_weighting=True)), 0, -1
    )
    cos_relu = cosine(dec_relu, h1_relu)
    cos_smooth = cosine(dec_smooth, white_smooth.h1)
    fig, axes = figure(4, 10, figsize=(13, 5.6), layout="constrained")
    _show_bank(axes[0], dec_relu, lambda k: f"decoded {k}")
    _show_bank(axes[1], np.asarray(h1_relu), lambda k: f"h1 cos {cos_relu[k]:.2f}")
    _show_bank(axes[2], dec_smooth, lambda k: f"tanh decoded {k}")
    _show_bank(axes[3], np.asarray(white_smooth.h1), lambda k: f"h1 cos {cos_smooth[k]:.2f}")
    wd.save_figure("cross_lens", fig)
    return {
        "cosine_relu_decoded_vs_h1": cos_relu.tolist(),
        "cosine_smooth_decoded_vs_h1": cos_smooth.tolist(),
        "mean_cosine_relu": float(cos_relu.mean()),
        "mean_cosine_smooth": float(cos_smooth.mean()),
    }
