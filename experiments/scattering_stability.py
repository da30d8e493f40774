"""Mallat's stability theorems made visible on real digits.

    python -m experiments.scattering_stability

For a representation Phi, Theorem 2/3 of the scattering paper bound
``||Phi(x_tau) - Phi(x)||`` by ``C ||x|| (2^-J |tau|_inf + ||grad tau||_inf + ...)``: a
scattering transform is Lipschitz-continuous to deformations and nearly invariant to
translations smaller than ``2^J``, while raw pixels are not. We deform test digits,
``x_tau(u) = x(u - tau(u))`` with the smooth field

.. math::
    \\tau(u) = \\frac{s}{\\omega} \\big(\\sin(\\omega u_2 + \\varphi_1),
    \\sin(\\omega u_1 + \\varphi_2)\\big), \\qquad \\omega = 2\\pi / 28,

whose Jacobian has operator norm at most ``s`` (so ``||grad tau||_inf = s``; random phases per
image), and translate them by ``c`` pixels (``tau(u) = (0, c)``), both by bilinear
interpolation with zeros outside. For Phi = raw pixels, the scattering transform and the
features of a LeNet trained by ``train_lenet`` (ReLU of conv3, its 500-d penultimate layer) we
plot the mean of ``||Phi(x_tau) - Phi(x)|| / ||Phi(x)||`` (each representation relative to its
own norm, so representations of different scale compare) against ``s`` and ``c`` and fit a
slope through the origin. ``summary.json`` also holds the same slopes relative to ``||x||``,
the normalisation of the theorem, for pixels and scattering.
"""

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy import ndimage

import cnn_layers
import decoding_jax
import scattering_jax
from experiments import _app, models, train_lenet
from experiments.core import data
from experiments.plots import figure
from experiments.workdir import Workdir

OMEGA = 2 * np.pi / 28


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


def _slope(x: np.ndarray, y: np.ndarray) -> float:
    return float(np.dot(x, y) / np.dot(x, x))


def run(config, workdir: str) -> dict:
    wd = Workdir(workdir)
    wd.write_config(config)
    images, _ = data.load(config.dataset, "test", config.data_dir or None)
    idx = np.linspace(0, len(images) - 1, config.num_images).astype(int)
    x = jnp.asarray(images[idx, ..., 0])
    shape = x.shape[1:]

    lenet = train_lenet.run(config.lenet, config.lenet_workdir or str(wd.path / "lenet"))
    layers = cnn_layers.from_nnx(lenet.model())[: models.CONV_INDICES[-1] + 1]  # up to conv4
    bank = scattering_jax.filter_bank_2d(shape, J=config.J, L=config.L)
    phis = {
        "pixels": lambda z: z.reshape(len(z), -1),
        "scattering": lambda z: scattering_jax.scattering2d(
            z, bank, J=config.J, max_order=config.max_order
        ).reshape(len(z), -1),
        "lenet": lambda z: decoding_jax.forward(
            layers, lenet.preprocess(z[..., None]), upto=5
        ).reshape(len(z), -1),
    }
    phis = {k: jax.jit(f) for k, f in phis.items()}
    base = {k: f(x) for k, f in phis.items()}
    x_norm = jnp.linalg.norm(x.reshape(len(x), -1), axis=1)

    phases = jax.random.uniform(jax.random.key(config.seed), (len(x), 2), maxval=2 * np.pi)
    deform = jax.jit(
        jax.vmap(lambda img, ph, s: warp(img, sine_field(s, ph, shape)), in_axes=(0, 0, None))
    )
    shift = jax.jit(
        jax.vmap(
            lambda img, c: warp(
                img, jnp.stack([jnp.zeros(shape), jnp.full(shape, c)]).astype(img.dtype)
            ),
            in_axes=(0, None),
        )
    )

    measured = float(max_jacobian_norm(np.asarray(sine_field(0.2, phases[0], shape))))
    curves = {"deformation": {}, "translation": {}}
    for kind, sizes, move in (
        ("deformation", config.deformation_sizes, lambda s: deform(x, phases, s)),
        ("translation", config.translations, lambda c: shift(x, c)),
    ):
        for name, phi in phis.items():
            rel_phi, rel_x = [], []
            for s in sizes:
                diff = jnp.linalg.norm(phi(move(s)) - base[name], axis=1)
                rel_phi.append(float(jnp.mean(diff / jnp.linalg.norm(base[name], axis=1))))
                rel_x.append(float(jnp.mean(diff / x_norm)))
            curves[kind][name] = {"relative_to_phi": rel_phi, "relative_to_x": rel_x}

    summary = {
        "num_images": len(x),
        "J": config.J,
        "L": config.L,
        "lenet_test_error": lenet.summary["test_error"],
        "grad_tau_check_at_0.2": measured,
        "slopes": {},
    }
    for kind, sizes in (
        ("deformation", config.deformation_sizes),
        ("translation", config.translations),
    ):
        s = np.asarray(sizes, float)
        for name, c in curves[kind].items():
            summary["slopes"].setdefault(name, {})
            summary["slopes"][name][kind] = _slope(s, np.asarray(c["relative_to_phi"]))
            summary["slopes"][name][f"{kind}_relative_to_x"] = _slope(
                s, np.asarray(c["relative_to_x"])
            )
    for kind in ("deformation", "translation"):
        pix, sca = summary["slopes"]["pixels"], summary["slopes"]["scattering"]
        summary[f"pixels_over_scattering_{kind}"] = (
            pix[f"{kind}_relative_to_x"] / sca[f"{kind}_relative_to_x"]
        )
        summary[f"pixels_over_scattering_{kind}_relative_to_phi"] = pix[kind] / sca[kind]

    fig, axes = figure(2, 3, figsize=(14, 7.5), layout="constrained")
    panels = (
        ("deformation", config.deformation_sizes, r"$\|\nabla\tau\|_\infty$"),
        ("translation", config.translations, "translation (pixels)"),
    )
    for col, (kind, sizes, xlabel) in enumerate(panels):
        for name, c in curves[kind].items():
            slope = summary["slopes"][name][kind]
            axes[1, col].plot(
                sizes, c["relative_to_phi"], "o-", label=f"{name} (slope {slope:.2f})"
            )
            if name != "lenet":  # the LeNet's features have their own scale: only relative
                slope = summary["slopes"][name][f"{kind}_relative_to_x"]
                axes[0, col].plot(
                    sizes, c["relative_to_x"], "o-", label=f"{name} (slope {slope:.3f})"
                )
        axes[0, col].set(
            xlabel=xlabel,
            ylabel=r"$\|\Phi(x_\tau)-\Phi(x)\| / \|x\|$",
            title=f"{kind}: the theorem's normalisation (slope)",
        )
        axes[1, col].set(
            xlabel=xlabel,
            ylabel=r"$\|\Phi(x_\tau)-\Phi(x)\| / \|\Phi(x)\|$",
            title=f"{kind}: relative to each representation (slope)",
        )
        axes[0, col].legend()
        axes[1, col].legend()
    s_max, c_max = config.deformation_sizes[-1], config.translations[-1]
    strip = np.concatenate(
        [
            np.asarray(x[0]),
            np.asarray(deform(x[:1], phases[:1], s_max)[0]),
            np.asarray(shift(x[:1], c_max)[0]),
        ],
        axis=1,
    )
    axes[0, 2].imshow(strip, cmap="gray")
    axes[0, 2].set(title=f"x | deformed (s={s_max}) | shifted ({c_max} px)")
    axes[0, 2].axis("off")
    axes[1, 2].axis("off")
    wd.save_figure("stability", fig)
    wd.save_arrays(
        "stability_curves",
        **{
            f"{kind}_{name}": np.asarray(c["relative_to_phi"])
            for kind in curves
            for name, c in curves[kind].items()
        },
    )
    for kind in curves:
        for name, c in curves[kind].items():
            wd.log_metrics(0, kind=kind, representation=name, **c)
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "scattering_stability")
