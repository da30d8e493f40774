import json

import jax
import jax.numpy as jnp
import numpy as np

from experiments import _app, volterra_mnist, volterra_validate
from experiments.lenses import volterra_paper


def test_volterra_validate_smoke(tmp_path):
    config = _app.load_config("volterra_validate", "smoke")
    summary = volterra_validate.run(config, str(tmp_path))
    structures = list(config.structures)
    for name in structures:
        assert (tmp_path / "figures" / f"kernels_{name}.png").is_file()
        assert (tmp_path / "arrays" / f"kernels_{name}.npz").is_file()
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert set(on_disk["table"]) == set(structures)
    table_md = (tmp_path / "validation_table.md").read_text()
    methods = 2 + len(config.hack_orders)
    assert table_md.count("\n") == 2 + methods * len(structures)

    # analytic (from_layers) and autodiff (proxy_kernels) kernels agree in float64
    assert summary["max_analytic_vs_autodiff"] < 1e-10
    for name in structures:
        rows = summary["table"][name]
        hacked = {f"hacked_o{o}" for o in config.hack_orders}
        assert set(rows) == {"autodiff", "sigmoid"} | hacked
        for method, row in rows.items():
            for n in range(3 if method != "hacked_o1" else 2):
                r = row[f"h{n}"]
                assert np.isfinite([r["min"], r["median"], r["max"]]).all()
                assert 0 <= r["min"] <= r["median"] <= r["max"]
        # the hacked order-1 kernels are close to the true ones, not exact
        assert 0 < rows["hacked_o1"]["h1"]["min"] and rows["hacked_o1"]["h1"]["max"] < 0.2
    # two layers: sigmoid and its Taylor polynomial agree to order 2 at the expansion point 0
    two = summary["table"]["1d_two_layer"]["sigmoid"]
    assert two["h1"]["max"] < 1e-12 and two["h2"]["max"] < 1e-12

    # closed form of the 1-D two-layer h1: sigmoid'(0) times the full convolution f * g
    with jax.enable_x64(True):
        net_key = jax.random.split(jax.random.key(0))[0]
        g, f = volterra_validate.structure_convs(net_key, "1d_two_layer", config)
        expected = 0.25 * np.convolve(np.asarray(f.w).ravel(), np.asarray(g.w).ravel())
    arrays = np.load(tmp_path / "arrays" / "kernels_1d_two_layer.npz")
    np.testing.assert_allclose(arrays["analytic_h1"].ravel(), expected, rtol=0, atol=1e-12)


def test_crop_sampler_takes_crops_of_the_images():
    images = np.arange(2 * 6 * 5, dtype=np.float32).reshape(2, 6, 5, 1)
    crops = jax.jit(volterra_paper.crop_sampler(images, (3, 2, 1), 8))(jax.random.key(0))
    assert crops.shape == (8, 3, 2, 1)
    for c in np.asarray(crops):
        i, y, x = np.unravel_index(int(c[0, 0, 0]), images.shape[:3])
        np.testing.assert_array_equal(c, images[i, y : y + 3, x : x + 2])


def test_volterra_mnist_smoke(tmp_path):
    config = _app.load_config("volterra_mnist", "smoke")
    summary = volterra_mnist.run(config, str(tmp_path))
    for fig in ("loss_curve", "kernels_h1", "kernels_h2", "perturbation", "attack"):
        assert (tmp_path / "figures" / f"{fig}.png").is_file(), fig
    for arr in ("kernels", "perturbation", "attack"):
        assert (tmp_path / "arrays" / f"{arr}.npz").is_file(), arr
    assert (tmp_path / "metrics.jsonl").is_file()
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["test_accuracy"] == summary["test_accuracy"]
    assert summary["receptive_field"] == [17, 17, 1, 2]

    # white box: from_layers and autodiff agree (float32)
    assert set(summary["analytic_vs_autodiff"]) == {"h0", "h1", "h2"}
    assert max(summary["analytic_vs_autodiff"].values()) < 1e-4
    kernels = np.load(tmp_path / "arrays" / "kernels.npz")
    assert kernels["white_h1"].shape == (17, 17, 1, 10)
    assert kernels["hacked_images_h2"].shape == (17, 17, 1) * 2 + (10,)
    for info in summary["hacked"].values():
        errs = list(info["error_vs_white"].values())
        assert np.isfinite(errs).all() and min(errs) >= 0
        assert np.isfinite([info["final_loss"], info["first_loss"]]).all()

    # perturbation at the expansion point: the series' prediction converges as eps -> 0,
    # order 1 linearly and orders <= 2 faster
    rows = [r for r in summary["perturbation"] if r["base"] == "zero" and r["delta"] == "random"]
    eps = [r["eps"] for r in rows]
    small, large = rows[int(np.argmin(eps))], rows[int(np.argmax(eps))]
    assert small["upto1_rel_error"] < 1e-2
    assert small["upto1_rel_error"] < large["upto1_rel_error"]
    assert large["upto2_rel_error"] < large["upto1_rel_error"]
    assert all(np.isfinite(list(r.values())[2:]).all() for r in summary["perturbation"])

    # attacks: nothing succeeds at eps = 0, rates are fractions
    attack = summary["attack"]
    names = [k for k in attack if k not in ("eps", "num_attacked", "num_correct")]
    assert {"fgsm", "noise", "proxy_white", "proxy_hacked_images"} == set(names)
    zero = attack["eps"].index(0.0)
    for name in names:
        assert attack[name][zero] == 0.0
        assert all(0.0 <= r <= 1.0 for r in attack[name])
    assert all(jnp.isfinite(t) for t in summary["seconds"].values())
