"""The Volterra lens on any network with smooth activations: the output units as a finite
Volterra series around the mean image.

* white box: ``volterra_jax.from_layers`` composes the kernels of orders 0, 1, 2 layer by layer.
  Without padding that is the network's own series, checked against autodiff (order 1). With
  padding the composition describes the network whose hidden paddings are replaced by
  zero-padding the image (``cnn_layers``' border rule), which for units that all touch the
  border (a global pool over a 7x7 map) is another network: there the lens takes the real
  network's Taylor kernels by autodiff (``proxy_kernels``, orders 0-2) and reports how far the
  composition is from them;
* how much of the network the truncated series carries on real test digits (relative error of
  the logits, and agreement of the predicted class);
* black box: a hacking network fits the kernels from (input, output) pairs alone;
* attacks at one L-inf budget: from the hacked kernels, from the white-box kernels, FGSM with
  the true gradient, and random signs.

The kernels are over the image (the part of the padded frame the image covers), so every
number compares on the same pixels.
"""

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

import volterra_jax as vj
from cnn_layers._random import normal
from experiments.core import subsets
from experiments.lenses import _net


class Volterra(NamedTuple):
    white: vj.VolterraKernels  # the net's kernels over the image: h1 (H, W, C, O), h2 (.., O)
    source: str  # 'composition' (no padding) or 'autodiff' (padding: see the module docstring)
    composition_vs_autodiff: dict  # order -> ||composed - autodiff|| / ||autodiff||
    hacked: vj.VolterraKernels  # fitted from the black box, in the same units
    hack_losses: np.ndarray
    hacked_errors: dict  # order -> ||hacked - white|| / ||white||
    net_accuracy: float  # the smooth net on the lens's test images
    series_error: dict  # order -> relative error of the truncated series' logits
    series_agreement: dict  # order -> fraction of images where the series predicts the net's class
    attack_eps: tuple  # L-inf budgets in units of pixels in [0, 1]
    attack_success: dict  # attack -> success rate per budget
    attack_images: int


def relative_error(a, b) -> float:
    """``||a - b|| / ||b||``."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _crop(kernels: vj.VolterraKernels, rows: slice, cols: slice) -> vj.VolterraKernels:
    h2 = kernels.h2[rows, cols][:, :, :, rows, cols]
    return vj.VolterraKernels(kernels.h0, kernels.h1[rows, cols], h2)


def _attacks(key, layers, white, hacked, x, y, pixel_scale, config) -> tuple[dict, int]:
    logits = np.asarray(_net.logits_fn(layers, x))[:, 0, 0]
    correct = logits.argmax(1) == y
    xc, yc = x[correct], jnp.asarray(y[correct])

    def loss(z):
        out = _net.logits_fn(layers, z)[:, 0, 0]
        return optax.softmax_cross_entropy_with_integer_labels(out, yc).sum()

    sign_grad = jnp.sign(jax.grad(loss)(xc))
    noise = jnp.sign(normal(key, xc.shape))
    rates = {"proxy_hacked": [], "proxy_white_box": [], "fgsm": [], "random_sign": []}
    for eps in config.attack_eps:
        e = eps * pixel_scale
        candidates = {
            "proxy_hacked": vj.proxy_attack(hacked, xc, yc, eps=e, steps=config.attack_steps)
            if e > 0
            else xc,
            "proxy_white_box": vj.proxy_attack(white, xc, yc, eps=e, steps=config.attack_steps)
            if e > 0
            else xc,
            "fgsm": xc + e * sign_grad,
            "random_sign": xc + e * noise,
        }
        for name, adv in candidates.items():
            pred = np.asarray(_net.logits_fn(layers, adv))[:, 0, 0].argmax(1)
            rates[name].append(float(np.mean(pred != np.asarray(yc))))
    return rates, int(correct.sum())


def compute(net, data, config, *, key) -> Volterra:
    """The Volterra lens on ``net`` (a :class:`experiments.core.nets.Net` with smooth
    activations) and ``config.num_images`` class-balanced test images of ``data``.

    ``config``: ``num_images``, ``hack_steps``, ``hack_rank``, ``hack_batch``,
    ``hack_learning_rate``, ``hack_input_norm`` (norm of the black-box probes, pixels in
    [0, 1]), ``attack_eps`` (a tuple), ``attack_steps``.
    """
    layers = net.layers
    idx = subsets.stratified_indices(data.test.labels, config.num_images)
    x = jnp.asarray(net.preprocess(data.test.images[idx]))
    y = np.asarray(data.test.labels[idx])
    shape = tuple(x.shape[1:])
    rows, cols = _net.image_frame(layers, shape)
    full = jax.jit(lambda ls: vj.from_layers(ls, order=2, input_shape=shape))(layers)
    composed = _crop(full, rows, cols)
    padded = full.h1.shape[:2] != shape[:2]
    auto = vj.proxy_kernels(_net.logits_fn, layers, shape, order=2 if padded else 1)
    gap = {n: relative_error(composed[n], auto[n]) for n in range(len(auto))}
    white = auto if padded else composed
    logits = np.asarray(_net.logits_fn(layers, x))[:, 0, 0]
    series_error, agreement = {}, {}
    for order in (1, 2):
        approx = np.asarray(vj.series(x, vj.VolterraKernels(*list(white)[: order + 1])))[:, 0, 0]
        series_error[order] = relative_error(approx, logits)
        agreement[order] = float(np.mean(approx.argmax(1) == logits.argmax(1)))

    # Black box: only (input, output) pairs, inputs z in units of the pixel range around the
    # mean image, small enough that the series at the mean image dominates.
    key_hack, key_attack = jax.random.split(key)
    base = vj.unit_norm_sampler(shape, config.hack_batch)
    hacked = vj.hack(
        key_hack,
        lambda z: _net.logits_fn(layers, z * net.pixel_scale),
        shape,
        logits.shape[1],
        order=2,
        rank=config.hack_rank,
        steps=config.hack_steps,
        learning_rate=config.hack_learning_rate,
        sampler=lambda k: config.hack_input_norm * base(k),
    )
    s = net.pixel_scale
    hk = hacked.kernels
    hacked_x = vj.VolterraKernels(hk.h0, hk.h1 / s, hk.h2 / s**2)
    rates, n_attacked = _attacks(key_attack, layers, white, hacked_x, x, y, s, config)
    return Volterra(
        white=jax.tree.map(np.asarray, white),
        source="autodiff" if padded else "composition",
        composition_vs_autodiff=gap,
        hacked=jax.tree.map(np.asarray, hacked_x),
        hack_losses=np.asarray(hacked.losses),
        hacked_errors={n: relative_error(hacked_x[n], white[n]) for n in (0, 1, 2)},
        net_accuracy=float(np.mean(logits.argmax(1) == y)),
        series_error=series_error,
        series_agreement=agreement,
        attack_eps=tuple(config.attack_eps),
        attack_success=rates,
        attack_images=n_attacked,
    )
