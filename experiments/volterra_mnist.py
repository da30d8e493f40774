"""The Volterra paper's MNIST study: kernels, perturbation analysis and a proxy attack.

    python -m experiments.volterra_mnist --workdir=runs/volterra_mnist
    python -m experiments.volterra_mnist --config.dataset=mnist --config.data_dir=D

1. Trains (or resumes) the conv-sigmoid net of ``experiments.models.sigmoid_net`` ending in a
   global mean, so the class score is the spatial mean of one Volterra series applied at every
   position (receptive field 17x17, stride 2).
2. White-box kernels of the 10 classes by ``volterra_jax.from_layers`` (checked against
   ``proxy_kernels``, autodiff), and black-box kernels by ``volterra_jax.hack`` fitted only on
   (input, output) pairs of the net on 17x17 inputs: Gaussian inputs of L2 norm
   ``hack_input_norm`` (0.1; the authors use 1) or random crops of real training digits.
3. Perturbation analysis: for ``x`` = 0 (the expansion point) and real test digits, random sign
   and adversarial deltas of growing L-inf size ``eps``: the change each order predicts
   (``volterra_jax.perturbation``, spatially averaged) against the actual change of the logits.
4. Attack: ``volterra_jax.proxy_attack`` built only from the hacked kernels against FGSM (the
   real net's gradient) and sign noise at the same L-inf budget: success rate = fraction of
   correctly classified test digits whose prediction changes.

Writes ``summary.json``, ``figures/{loss_curve,kernels_h1,kernels_h2,perturbation,attack}.png``
and ``arrays/{kernels,perturbation,attack}.npz``.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import nnx

import cnn_layers
import volterra_jax as vj
from experiments import _app
from experiments.core import nets, train
from experiments.models import sigmoid_net
from experiments.plots import figure
from experiments.workdir import Workdir


def _floats(text: str) -> list[float]:
    return [float(v) for v in str(text).split(",") if v.strip()]


def crop_sampler(images: np.ndarray, rf_shape, batch_size: int):
    """``sampler(key)``: random ``rf_shape`` crops of random images (NHWC, on device)."""
    images = jnp.asarray(images)
    kh, kw, c = rf_shape
    n, h, w, _ = images.shape

    def sample(key):
        ki, ky, kx = jax.random.split(key, 3)
        idx = jax.random.randint(ki, (batch_size,), 0, n)
        ys = jax.random.randint(ky, (batch_size,), 0, h - kh + 1)
        xs = jax.random.randint(kx, (batch_size,), 0, w - kw + 1)
        crop = lambda i, y, x: jax.lax.dynamic_slice(images[i], (y, x, 0), (kh, kw, c))
        return jax.vmap(crop)(idx, ys, xs)

    return sample


def rel_error(a, b) -> float:
    a, b = jnp.ravel(jnp.asarray(a)), jnp.ravel(jnp.asarray(b))
    return float(jnp.linalg.norm(a - b) / jnp.maximum(jnp.linalg.norm(b), 1e-30))


def proxy_scores(kernels, x, stride: int, batch: int = 100) -> np.ndarray:
    """Class scores of the Volterra proxy: the spatial mean of its series, (N, O)."""
    fn = jax.jit(lambda k, z: jnp.mean(vj.series(z, k, stride=stride), axis=(1, 2)))
    return np.concatenate(
        [np.asarray(fn(kernels, x[i : i + batch])) for i in range(0, len(x), batch)]
    )


def perturbation_analysis(logits_fn, kernels, stride, x, key, eps_list) -> list[dict]:
    """Predicted (per order, cumulative) vs actual logit change for growing eps."""
    white1 = vj.VolterraKernels(kernels.h0, kernels.h1)
    noise_key = key
    bases = {"zero": jnp.zeros_like(x), "images": x}
    pred_fn = jax.jit(
        lambda k, x, d: jnp.mean(vj.perturbation(k, x, d, stride=stride), axis=(2, 3))
    )
    rows = []
    for base_name, base in bases.items():
        clean = logits_fn(base)
        label = jnp.argmax(clean, axis=-1)
        noise = jnp.sign(jax.random.normal(noise_key, base.shape, base.dtype))
        adv_dir = vj.proxy_attack(white1, base, label, eps=1.0, stride=stride) - base
        for kind, direction in (("random", noise), ("adversarial", adv_dir)):
            for eps in eps_list:
                delta = eps * direction
                actual = logits_fn(base + delta) - clean  # (N, O)
                per_order = pred_fn(kernels, base, delta)  # (order + 1, N, O)
                cumulative = jnp.cumsum(per_order, axis=0)
                row = {
                    "base": base_name,
                    "delta": kind,
                    "eps": eps,
                    "actual_norm": float(jnp.linalg.norm(actual)),
                }
                for n in range(1, per_order.shape[0]):
                    row[f"order{n}_norm"] = float(jnp.linalg.norm(per_order[n]))
                    row[f"upto{n}_rel_error"] = rel_error(cumulative[n], actual)
                rows.append(row)
    return rows


def attack_table(logits_fn, grad_fn, proxies, x, y, key, eps_list) -> dict:
    """Success rates against eps: the fraction of the correctly classified digits whose
    prediction changes (when the net gets none right, of all digits, against its own
    prediction: then the rate is the fraction whose prediction changes)."""
    pred = np.asarray(jnp.argmax(logits_fn(x), -1))
    keep = pred == np.asarray(y)
    if keep.any():
        x, label = x[keep], jnp.asarray(pred[keep])
    else:
        label = jnp.asarray(pred)
    directions = {
        name: vj.proxy_attack(k, x, label, eps=1.0, stride=stride) - x
        for name, (k, stride) in proxies.items()
    }
    directions["fgsm"] = jnp.sign(grad_fn(x, label))
    directions["noise"] = jnp.sign(jax.random.normal(key, x.shape, x.dtype))
    table = {"eps": list(eps_list), "num_attacked": len(label), "num_correct": int(keep.sum())}
    for name, d in directions.items():
        rates = []
        for eps in eps_list:
            adv = np.asarray(jnp.argmax(logits_fn(x + eps * d), -1))
            rates.append(float(np.mean(adv != np.asarray(label))))
        table[name] = rates
    return table


def _kernel_rows(rows, titles, cmap="RdBu_r"):
    fig, axes = figure(len(rows), 10, figsize=(15, 1.7 * len(rows) + 0.4), squeeze=False)
    for r, (h, title) in enumerate(zip(rows, titles, strict=True)):
        for o in range(10):
            ax = axes[r][o]
            v = float(np.abs(h[..., o]).max()) or 1.0
            ax.imshow(h[..., o], cmap=cmap, vmin=-v, vmax=v)
            ax.set(xticks=[], yticks=[])
            if o == 0:
                ax.set_ylabel(title, fontsize=8)
            if r == 0:
                ax.set_title(f"class {o}", fontsize=9)
    return fig


def run(config, workdir: str) -> dict:
    """Trains or resumes the net, analyses it and writes the workdir; returns the summary."""
    wd = Workdir(workdir)
    wd.write_config(config)
    t_start = time.perf_counter()
    train_set, test_set, _ = nets.load_data(config)
    model = sigmoid_net.SigmoidNet(
        train_set.images.shape[-1],
        widths=(config.width1, config.width2),
        rngs=nnx.Rngs(config.seed),
    )
    result = train.train(jax.random.key(config.seed), model, train_set, test_set, config, wd)
    train_seconds = time.perf_counter() - t_start
    wd.save_figure("loss_curve", nets.plot_history(wd.metrics(), "sigmoid net"))
    params = jax.tree.map(jnp.asarray, result.params)
    maps = sigmoid_net.maps_apply(model)
    logits_fn = jax.jit(lambda x: result.apply_fn(params, x))

    def ce(x, y):
        return optax.softmax_cross_entropy_with_integer_labels(result.apply_fn(params, x), y).sum()

    grad_fn = jax.jit(jax.grad(ce))

    # -- white-box kernels
    t0 = time.perf_counter()
    layers = cnn_layers.from_nnx(result.model())[:-1]  # the class maps: no global mean
    rf = vj.receptive_field(layers)
    white = vj.from_layers(layers, order=config.white_order)
    white_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    auto = vj.proxy_kernels(maps, params, rf.shape, order=min(config.white_order, 2))
    autodiff_seconds = time.perf_counter() - t0
    analytic_vs_autodiff = {f"h{n}": rel_error(white[n], auto[n]) for n in range(len(auto))}
    x_eval = jnp.asarray(test_set.images[: config.proxy_eval_images])
    y_eval = np.asarray(test_set.labels[: config.proxy_eval_images])
    net_pred = np.asarray(jnp.argmax(logits_fn(x_eval), -1))
    proxy_accuracy = {}
    for n in range(1, white.order + 1):
        scores = proxy_scores(vj.VolterraKernels(*list(white)[: n + 1]), x_eval, rf.stride)
        proxy_accuracy[f"order{n}"] = {
            "accuracy": float(np.mean(scores.argmax(-1) == y_eval)),
            "agreement_with_net": float(np.mean(scores.argmax(-1) == net_pred)),
        }

    # -- black-box kernels
    def black_box(x):  # the net itself on receptive-field-sized inputs: (B, 1, 1, 10)
        return result.apply_fn(params, x)[:, None, None, :]

    hacked, hack_info = {}, {}
    for i, source in enumerate(s.strip() for s in config.hack_inputs.split(",") if s.strip()):
        if source == "unit_norm":
            unit = vj.unit_norm_sampler(rf.shape, config.hack_batch)
            sampler = lambda key, unit=unit: config.hack_input_norm * unit(key)  # noqa: E731
        elif source == "images":
            sampler = crop_sampler(train_set.images, rf.shape, config.hack_batch)
        else:
            raise ValueError(f"hack_inputs: unknown source {source!r}; known: unit_norm, images")
        t0 = time.perf_counter()
        k, losses = vj.hack(
            jax.random.key(config.seed + 100 + i),
            black_box,
            rf.shape,
            10,
            order=config.hack_order,
            rank=config.hack_rank,
            steps=config.hack_steps,
            learning_rate=optax.cosine_decay_schedule(config.hack_learning_rate, config.hack_steps),
            sampler=sampler,
        )
        hacked[source] = k
        losses = np.asarray(losses)
        hack_info[source] = {
            "seconds": time.perf_counter() - t0,
            "first_loss": float(losses[0]),
            "final_loss": float(losses[-10:].mean()),
            "error_vs_white": {
                f"h{n}": rel_error(k[n], white[n]) for n in range(min(k.order, white.order) + 1)
            },
            "h1_error_per_class": [rel_error(k.h1[..., o], white.h1[..., o]) for o in range(10)],
        }
        scores = proxy_scores(vj.VolterraKernels(*list(k)[:2]), x_eval, rf.stride)
        hack_info[source]["order1_accuracy"] = float(np.mean(scores.argmax(-1) == y_eval))
        logging.info("hacked (%s): %s", source, hack_info[source]["error_vs_white"])

    rows = [np.asarray(white.h1)[:, :, 0], np.asarray(auto.h1)[:, :, 0]]
    titles = ["white box\n(from_layers)", "autodiff"]
    for source, k in hacked.items():
        rows.append(np.asarray(k.h1)[:, :, 0])
        titles.append(f"hacked\n({source})")
    wd.save_figure("kernels_h1", _kernel_rows(rows, titles))
    if white.order >= 2:  # the leading eigenvector of each class's h2, as an image
        d = int(np.prod(rf.shape))
        h2_rows, h2_titles = [], []
        for name, k in [("white box", white)] + [(f"hacked ({s})", v) for s, v in hacked.items()]:
            if k.order < 2:
                continue
            mats = np.asarray(k.h2).reshape(d, d, 10)
            vecs = []
            for o in range(10):
                w, v = np.linalg.eigh(mats[..., o])
                j = int(np.argmax(np.abs(w)))
                vecs.append(w[j] * v[:, j] ** 2 * np.sign(v[:, j]))
            h2_rows.append(np.stack(vecs, -1).reshape(rf.kh, rf.kw, 10))
            h2_titles.append(f"{name}\nh2 top eigvec")
        wd.save_figure("kernels_h2", _kernel_rows(h2_rows, h2_titles))
    wd.save_arrays(
        "kernels",
        **{f"white_h{n}": np.asarray(t) for n, t in enumerate(white)},
        **{f"hacked_{s}_h{n}": np.asarray(t) for s, k in hacked.items() for n, t in enumerate(k)},
    )

    # -- perturbation analysis
    t0 = time.perf_counter()
    x_pert = jnp.asarray(test_set.images[: config.perturb_images])
    pert_rows = perturbation_analysis(
        logits_fn,
        white,
        rf.stride,
        x_pert,
        jax.random.key(config.seed + 1),
        _floats(config.perturb_eps),
    )
    perturb_seconds = time.perf_counter() - t0
    fig, axes = figure(1, 2, figsize=(11, 3.6))
    for ax, base in zip(axes, ("zero", "images"), strict=True):
        for kind, ls in (("random", "-"), ("adversarial", "--")):
            sel = [r for r in pert_rows if r["base"] == base and r["delta"] == kind]
            eps = [r["eps"] for r in sel]
            for n in range(1, white.order + 1):
                ax.plot(
                    eps,
                    [r[f"upto{n}_rel_error"] or np.nan for r in sel],
                    ls,
                    marker="o",
                    ms=3,
                    label=f"{kind}, orders <= {n}",
                )
        ax.set(
            xscale="log",
            yscale="log",
            xlabel="eps (L-inf)",
            ylabel="|predicted - actual| / |actual|",
            title=f"logit change, x = {base}",
        )
        ax.legend(fontsize=7)
    wd.save_figure("perturbation", fig)
    wd.save_arrays(
        "perturbation",
        **{
            k: np.asarray([r[k] for r in pert_rows])
            for k in pert_rows[0]
            if k not in ("base", "delta")
        },
        base=np.asarray([r["base"] for r in pert_rows]),
        delta=np.asarray([r["delta"] for r in pert_rows]),
    )

    # -- attacks
    t0 = time.perf_counter()
    proxies = {f"proxy_hacked_{s}": (k, rf.stride) for s, k in hacked.items()}
    proxies["proxy_white"] = (white, rf.stride)
    attack = attack_table(
        logits_fn,
        grad_fn,
        proxies,
        jnp.asarray(test_set.images[: config.attack_images]),
        jnp.asarray(test_set.labels[: config.attack_images]),
        jax.random.key(config.seed + 2),
        _floats(config.attack_eps),
    )
    attack_seconds = time.perf_counter() - t0
    fig, ax = figure(figsize=(6, 4))
    for name in [k for k in attack if not k.startswith("num_") and k != "eps"]:
        ax.plot(attack["eps"], attack[name], marker="o", label=name)
    ax.set(
        xlabel="eps (L-inf)",
        ylabel="success rate",
        ylim=(-0.02, 1.02),
        title=f"attacks on {attack['num_attacked']} correctly classified digits",
    )
    ax.legend(fontsize=8)
    wd.save_figure("attack", fig)
    wd.save_arrays("attack", **{k: np.asarray(v) for k, v in attack.items()})

    summary = {
        "dataset": config.dataset,
        "num_train": len(train_set.labels),
        "num_test": len(test_set.labels),
        "test_accuracy": result.test["accuracy"],
        "test_loss": result.test["loss"],
        "train_seconds": train_seconds,
        "resumed_from_step": result.resumed_from,
        "receptive_field": list(rf),
        "white_order": white.order,
        "analytic_vs_autodiff": analytic_vs_autodiff,
        "proxy_accuracy": proxy_accuracy,
        "hacked": hack_info,
        "perturbation": pert_rows,
        "attack": attack,
        "seconds": {
            "white_from_layers": white_seconds,
            "white_autodiff": autodiff_seconds,
            "perturbation": perturb_seconds,
            "attack": attack_seconds,
            "total": time.perf_counter() - t_start,
        },
    }
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "volterra_mnist")
