"""The Volterra paper's MNIST study on a net ending in a global mean (the class score is the
spatial mean of one Volterra series applied at every position): white-box kernels by
composition checked against autodiff, black-box kernels hacked from (input, output) pairs, the
perturbation analysis (each order's predicted logit change against the actual one) and proxy
attacks against FGSM and sign noise."""

import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import volterra_jax as vj
from experiments.models import sigmoid_net


class VolterraStudy(NamedTuple):
    receptive_field: object  # volterra_jax.ReceptiveField of the class maps
    white: vj.VolterraKernels  # by composition (from_layers)
    autodiff: vj.VolterraKernels
    analytic_vs_autodiff: dict  # f'h{n}' -> relative error
    proxy_accuracy: dict  # f'order{n}' -> accuracy and agreement with the net
    hacked: dict  # input source -> hacked kernels
    hack_info: dict  # input source -> losses, errors against the white box, accuracy
    perturbation: list  # one row per (base, delta kind, eps)
    attack: dict  # eps, counts, and the success rate per attack and eps
    seconds: dict


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


def _proxy_accuracy(white, x, y, net_pred, stride) -> dict:
    out = {}
    for n in range(1, white.order + 1):
        scores = proxy_scores(vj.VolterraKernels(*list(white)[: n + 1]), x, stride)
        out[f"order{n}"] = {
            "accuracy": float(np.mean(scores.argmax(-1) == y)),
            "agreement_with_net": float(np.mean(scores.argmax(-1) == net_pred)),
        }
    return out


def _hack(net, params, train_images, white, rf, x_eval, y_eval, config):
    """Black-box kernels from each input source of ``config.hack_inputs``."""

    def black_box(x):  # the net itself on receptive-field-sized inputs: (B, 1, 1, 10)
        return net.apply_fn(params, x)[:, None, None, :]

    hacked, info = {}, {}
    for i, source in enumerate(config.hack_inputs):
        if source == "unit_norm":
            unit = vj.unit_norm_sampler(rf.shape, config.hack_batch)
            sampler = lambda key, unit=unit: config.hack_input_norm * unit(key)  # noqa: E731
        elif source == "images":
            sampler = crop_sampler(train_images, rf.shape, config.hack_batch)
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
        orders = range(min(k.order, white.order) + 1)
        scores = proxy_scores(vj.VolterraKernels(*list(k)[:2]), x_eval, rf.stride)
        info[source] = {
            "seconds": time.perf_counter() - t0,
            "first_loss": float(losses[0]),
            "final_loss": float(losses[-10:].mean()),
            "error_vs_white": {f"h{n}": rel_error(k[n], white[n]) for n in orders},
            "h1_error_per_class": [rel_error(k.h1[..., o], white.h1[..., o]) for o in range(10)],
            "order1_accuracy": float(np.mean(scores.argmax(-1) == y_eval)),
        }
    return hacked, info


def compute(net, data, config, *, key=None) -> VolterraStudy:
    """The study on ``net`` (a :class:`experiments.core.nets.Net` of a
    :class:`~experiments.models.sigmoid_net.SigmoidNet`: class maps, then their global mean).
    ``key`` unused: the seeds are ``config.seed`` plus fixed offsets."""
    del key
    test_x = net.preprocess(data.test.images)
    params = jax.tree.map(jnp.asarray, net.params)
    logits_fn = jax.jit(lambda x: net.apply_fn(params, x))

    def ce(x, y):
        return optax.softmax_cross_entropy_with_integer_labels(net.apply_fn(params, x), y).sum()

    grad_fn = jax.jit(jax.grad(ce))
    seconds, t0 = {}, time.perf_counter()
    layers = net.layers[:-1]  # the class maps: no global mean
    rf = vj.receptive_field(layers)
    white = vj.from_layers(layers, order=config.white_order)
    seconds["white_from_layers"], t0 = time.perf_counter() - t0, time.perf_counter()
    # autodiff of the NNX model's own class maps: independent of the layer list
    maps = sigmoid_net.maps_apply(net.model)
    auto = vj.proxy_kernels(maps, params, rf.shape, order=min(config.white_order, 2))
    seconds["white_autodiff"] = time.perf_counter() - t0
    x_eval = jnp.asarray(test_x[: config.proxy_eval_images])
    y_eval = np.asarray(data.test.labels[: config.proxy_eval_images])
    net_pred = np.asarray(jnp.argmax(logits_fn(x_eval), -1))
    train_x = net.preprocess(data.train.images)
    hacked, hack_info = _hack(net, params, train_x, white, rf, x_eval, y_eval, config)
    t0 = time.perf_counter()
    x_pert = jnp.asarray(test_x[: config.perturb_images])
    pert_key = jax.random.key(config.seed + 1)
    pert = perturbation_analysis(logits_fn, white, rf.stride, x_pert, pert_key, config.perturb_eps)
    seconds["perturbation"], t0 = time.perf_counter() - t0, time.perf_counter()
    proxies = {f"proxy_hacked_{s}": (k, rf.stride) for s, k in hacked.items()}
    proxies["proxy_white"] = (white, rf.stride)
    n = config.attack_images
    attack = attack_table(
        logits_fn, grad_fn, proxies, jnp.asarray(test_x[:n]),
        jnp.asarray(data.test.labels[:n]), jax.random.key(config.seed + 2), config.attack_eps,
    )  # fmt: skip
    seconds["attack"] = time.perf_counter() - t0
    return VolterraStudy(
        rf, white, auto, {f"h{n}": rel_error(white[n], auto[n]) for n in range(len(auto))},
        _proxy_accuracy(white, x_eval, y_eval, net_pred, rf.stride), hacked, hack_info, pert,
        attack, seconds,
    )  # fmt: skip
