"""The scattering lens: a fixed wavelet scattering transform next to a trained network.

* :func:`classify`: scattering coefficients (channels averaged) with a linear classifier,
  trained on the training split, its test error (Bruna & Mallat's MNIST experiment);
* :func:`stability`: Mallat's stability theorems made visible. Test digits are deformed,
  ``x_tau(u) = x(u - tau(u))`` with the smooth field
  ``tau(u) = (s / w) (sin(w u_2 + p_1), sin(w u_1 + p_2))``, ``w = 2 pi / 28``, whose Jacobian
  has operator norm at most ``s`` (random phases per image), and translated by ``c`` pixels,
  both bilinearly with zeros outside. For raw pixels, the scattering transform and the
  network's penultimate features (the input of its output layer) we measure the mean of
  ``||Phi(x_tau) - Phi(x)||`` relative to ``||Phi(x)||`` (each representation against its own
  norm) and relative to ``||x||`` (the theorem's normalisation), and fit a slope through the
  origin against ``s`` and ``c``;
* :func:`compute`: both.
"""

import functools
import time
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import ndimage

import cnn_layers
import scattering_jax
from experiments.core import features, linear, subsets
from experiments.lenses import _net

OMEGA = 2 * np.pi / 28


class Classification(NamedTuple):
    J: int
    L: int
    max_order: int
    num_train: int
    num_test: int
    num_features: int
    train_error: float
    test_error: float
    feature_seconds: float
    images_per_second: float
    history: np.ndarray  # the classifier's training loss per L-BFGS step
    test_indices: np.ndarray  # the test images used
    test_features: np.ndarray  # their coefficients (N, K, m, n)


class Stability(NamedTuple):
    sizes: dict  # 'deformation' -> ||grad tau||_inf values; 'translation' -> pixels
    curves: dict  # kind -> representation -> {'relative_to_phi': [...], 'relative_to_x': [...]}
    slopes: dict  # representation -> {kind: slope, f'{kind}_relative_to_x': slope}
    pixels_over_scattering: dict  # kind -> slope ratio in the theorem's normalisation
    grad_tau_check: float  # measured ||grad tau||_inf of the field of size 0.2
    example: np.ndarray  # (H, 3W): a digit, deformed at the largest size, shifted the most


class Scattering(NamedTuple):
    classification: Classification
    stability: Stability


@functools.lru_cache(maxsize=8)
def _scattering_fn(shape: tuple[int, int], J: int, L: int, max_order: int):
    bank = scattering_jax.filter_bank_2d(shape, J=J, L=L)
    return jax.jit(lambda x: scattering_jax.scattering2d(x, bank, J=J, max_order=max_order))


def scattering_features(images: np.ndarray, *, J: int, L: int, max_order: int, batch_size: int):
    """Scattering coefficients of NHWC images (channels averaged), ``(N, K, m, n)``."""
    gray = images.mean(axis=-1)
    fn = _scattering_fn(gray.shape[1:], J, L, max_order)
    return features.extract(fn, gray, batch_size=batch_size, name="scattering")


def classify(data, config) -> Classification:
    """``config``: ``J``, ``L``, ``max_order``, ``feature_batch``, ``l2``, ``steps``,
    ``max_train``, ``max_test`` (0: the whole split)."""
    tr = subsets.evenly_spaced(len(data.train.labels), config.max_train)
    te = subsets.evenly_spaced(len(data.test.labels), config.max_test)
    start = time.perf_counter()
    kw = dict(J=config.J, L=config.L, max_order=config.max_order, batch_size=config.feature_batch)
    f_train = scattering_features(data.train.images[tr], **kw)
    f_test = scattering_features(data.test.images[te], **kw)
    seconds = time.perf_counter() - start
    clf, history = linear.fit_logistic(
        f_train, data.train.labels[tr], l2=config.l2, steps=config.steps
    )
    return Classification(
        config.J,
        config.L,
        config.max_order,
        len(tr),
        len(te),
        int(np.prod(f_train.shape[1:])),
        clf.error(f_train, data.train.labels[tr]),
        clf.error(f_test, data.test.labels[te]),
        seconds,
        (len(tr) + len(te)) / seconds,
        np.asarray(history),
        te,
        f_test,
    )


def warp(image: jax.Array, tau: jax.Array) -> jax.Array:
    """``x(u - tau(u))`` for an (H, W) image and a displacement field (2, H, W), bilinear."""
    h, w = image.shape
    rows, cols = jnp.meshgrid(
        jnp.arange(h, dtype=image.dtype), jnp.arange(w, dtype=image.dtype), indexing="ij"
    )
    coords = [rows - tau[0], cols - tau[1]]
    return ndimage.map_coordinates(image, coords, order=1, mode="constant", cval=0.0)


def sine_field(size: float, phases: jax.Array, shape: tuple[int, int]) -> jax.Array:
    """The smooth field of the module docstring with ``||grad tau||_inf = size``."""
    rows, cols = jnp.meshgrid(jnp.arange(shape[0]), jnp.arange(shape[1]), indexing="ij")
    amp = size / OMEGA
    return jnp.stack(
        [amp * jnp.sin(OMEGA * cols + phases[0]), amp * jnp.sin(OMEGA * rows + phases[1])]
    )


def max_jacobian_norm(tau: np.ndarray) -> float:
    """``||grad tau||_inf`` measured on the grid by central differences (a check of the field)."""
    d = [np.gradient(tau[i], axis=a) for i in range(2) for a in range(2)]
    jac = np.stack(d, -1).reshape(*tau.shape[1:], 2, 2)
    return float(np.linalg.norm(jac, ord=2, axis=(-2, -1)).max())


def _slope(x, y) -> float:
    x, y = np.asarray(x, float), np.asarray(y, float)
    return float(np.dot(x, y) / np.dot(x, x))


def _representations(net, shape, config) -> dict:
    bank = scattering_jax.filter_bank_2d(shape, J=config.J, L=config.L)
    upto = (_net.output_path(net.layers)[0] - 1,)  # the input of the output layer

    def net_features(z):
        x = z * net.pixel_scale - (0.0 if net.mean_image is None else net.mean_image[None])
        return cnn_layers.forward(net.layers, x, upto=upto).reshape(len(z), -1)

    phis = {
        "pixels": lambda z: z.reshape(len(z), -1),
        "scattering": lambda z: scattering_jax.scattering2d(
            z.mean(axis=-1), bank, J=config.J, max_order=config.max_order
        ).reshape(len(z), -1),
        "network": net_features,
    }
    return {k: jax.jit(f) for k, f in phis.items()}


def stability(net, data, config, *, key) -> Stability:
    """``config``: ``num_images``, ``J``, ``L``, ``max_order``, ``deformation_sizes``,
    ``translations`` (tuples). Every channel is moved by the same field; the scattering
    transform sees the channels' mean."""
    idx = subsets.evenly_spaced(len(data.test.labels), config.num_images)
    x = jnp.asarray(data.test.images[idx])
    shape = tuple(x.shape[1:3])
    phis = _representations(net, shape, config)
    base = {k: f(x) for k, f in phis.items()}
    x_norm = jnp.linalg.norm(x.reshape(len(x), -1), axis=1)
    phases = jax.random.uniform(key, (len(x), 2), maxval=2 * np.pi)
    channels = jax.vmap(warp, in_axes=(2, None), out_axes=2)
    deform = jax.jit(
        jax.vmap(lambda img, ph, s: channels(img, sine_field(s, ph, shape)), in_axes=(0, 0, None))
    )
    zeros = jnp.zeros(shape, x.dtype)
    shift = jax.jit(
        jax.vmap(lambda img, c: channels(img, jnp.stack([zeros, zeros + c])), in_axes=(0, None))
    )
    sizes = {
        "deformation": tuple(config.deformation_sizes),
        "translation": tuple(config.translations),
    }
    moves = {"deformation": lambda s: deform(x, phases, s), "translation": lambda c: shift(x, c)}
    curves, slopes = {}, {name: {} for name in phis}
    for kind, values in sizes.items():
        curves[kind] = {}
        moved = [moves[kind](v) for v in values]
        for name, phi in phis.items():
            diff = [jnp.linalg.norm(phi(z) - base[name], axis=1) for z in moved]
            rel_phi = [float(jnp.mean(d / jnp.linalg.norm(base[name], axis=1))) for d in diff]
            rel_x = [float(jnp.mean(d / x_norm)) for d in diff]
            curves[kind][name] = {"relative_to_phi": rel_phi, "relative_to_x": rel_x}
            slopes[name][kind] = _slope(values, rel_phi)
            slopes[name][f"{kind}_relative_to_x"] = _slope(values, rel_x)
    ratio = {
        kind: slopes["pixels"][f"{kind}_relative_to_x"]
        / slopes["scattering"][f"{kind}_relative_to_x"]
        for kind in sizes
    }
    s_max, c_max = sizes["deformation"][-1], sizes["translation"][-1]
    strip = [x[:1], deform(x[:1], phases[:1], s_max), shift(x[:1], c_max)]
    example = np.concatenate([np.asarray(z[0]).mean(axis=-1) for z in strip], axis=1)
    check = max_jacobian_norm(np.asarray(sine_field(0.2, phases[0], shape)))
    return Stability(sizes, curves, slopes, ratio, check, example)


def compute(net, data, config, *, key) -> Scattering:
    """Both views; ``config`` holds the fields of :func:`classify` and :func:`stability`
    (``config.num_images`` is the stability test's image count)."""
    return Scattering(classify(data, config), stability(net, data, config, key=key))
