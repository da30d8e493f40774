import json

import jax.numpy as jnp
import numpy as np
import pytest

from experiments import _app, scattering_classify, scattering_stability
from experiments.lenses import scattering


def test_scattering_classify_smoke(tmp_path, nets_dir):
    config = _app.load_config("scattering_classify", "smoke")
    config.nets_dir = nets_dir
    summary = scattering_classify.run(config, str(tmp_path))
    J, L = config.J, config.L
    K = 1 + J * L + L * L * J * (J - 1) // 2
    features = np.load(tmp_path / "arrays" / "scattering_features.npz")["test_features"]
    assert features.shape == (config.max_test, K, 28 // 2**J, 28 // 2**J)
    assert summary["num_features"] == K * (28 // 2**J) ** 2
    assert summary["scattering_train_error"] == 0.0  # 200 digits, 1225 features: separable
    assert summary["scattering_test_error"] < 0.3
    assert (
        np.bincount(
            np.load(tmp_path / "arrays" / "scattering_features.npz")["test_labels"], minlength=10
        ).min()
        >= 9
    )  # the subset is stratified
    assert 0.0 <= summary["net_test_error"] <= 1.0
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["scattering_test_error"] == summary["scattering_test_error"]
    assert (tmp_path / "figures" / "classifier_loss.png").is_file()


def test_warp_by_whole_pixels_is_a_shift():
    rng = np.random.default_rng(0)
    image = jnp.asarray(rng.random((9, 11)))
    tau = jnp.stack([jnp.full((9, 11), 2.0), jnp.full((9, 11), -3.0)])
    out = np.asarray(scattering.warp(image, tau))
    expected = np.zeros((9, 11))
    expected[2:, :8] = np.asarray(image)[:-2, 3:]
    np.testing.assert_allclose(out, expected, atol=1e-6)


def test_sine_field_has_the_requested_gradient_norm():
    tau = scattering.sine_field(0.25, jnp.array([0.3, 1.1]), (28, 28))
    # Central differences underestimate a sine's derivative by sinc(omega): 0.8% at 28 px.
    assert scattering.max_jacobian_norm(np.asarray(tau)) == pytest.approx(0.25, rel=0.02)


def test_scattering_stability_smoke(tmp_path, nets_dir):
    config = _app.load_config("scattering_stability", "smoke")
    config.nets_dir = nets_dir
    summary = scattering_stability.run(config, str(tmp_path))
    slopes = summary["slopes"]
    assert set(slopes) == {"pixels", "scattering", "network"}
    for kind in ("deformation", "translation"):
        assert (
            slopes["pixels"][f"{kind}_relative_to_x"]
            > 2 * slopes["scattering"][f"{kind}_relative_to_x"]
        )
        assert slopes["pixels"][kind] > slopes["scattering"][kind] > 0
    assert (tmp_path / "figures" / "stability.png").is_file()
    assert (tmp_path / "arrays" / "stability_curves.npz").is_file()
