import json

import numpy as np
import pytest

import decoding_jax as dj
from experiments import _app, decode_lenet
from experiments.core import nets, subsets
from experiments.lenses import _responses, decoding_paper
from experiments.plots import decoding as decode_plots
from experiments.workdir import Workdir

METHODS = ("bicubic", "nearest", "bilinear")
LAYERS = ("L1", "L3", "L5", "L7")
DECODED_SHAPES = {"L1": (20, 5, 5, 1), "L3": (50, 14, 14, 1), "L5": (500, 28, 28, 1)}
DECODED_SHAPES["L7"] = (10, 28, 28, 1)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, nets_dir):
    """One smoke run of the whole experiment, shared by the tests below."""
    config = _app.load_config("decode_lenet", "smoke")
    config.nets_dir = nets_dir
    workdir = tmp_path_factory.mktemp("decode_lenet")
    summary = decode_lenet.run(config, str(workdir))
    return config, workdir, summary


@pytest.mark.slow
def test_run_writes_the_workdir_contract(smoke_run):
    config, workdir, summary = smoke_run
    names = [
        "config.json",
        "summary.json",
        "table1.md",
        "figures/figure1_l7_class_max.png",
        "arrays/decoded_filters.npz",
        "arrays/table1.npz",
        "arrays/figure1.npz",
        "arrays/self_consistency.npz",
    ]
    names += [f"figures/figure4_decoded_filters_{m}.png" for m in METHODS]
    names += [f"figures/self_consistency_failures_{m}.png" for m in METHODS]
    for name in names:
        assert (workdir / name).is_file() and (workdir / name).stat().st_size > 0, name
    on_disk = json.loads((workdir / "summary.json").read_text())
    assert on_disk["table1"] == json.loads(json.dumps(summary["table1"]))
    assert json.loads((workdir / "config.json").read_text())["nets"]["lenet"]["num_steps"] == 6
    assert (workdir / "figures" / "figure1_l7_class_max.png").stat().st_size > 0
    # the layer list's forward pass is the Flax model's own (independent implementations)
    assert summary["forward_vs_model_max_rel_err"] < 1e-5


@pytest.mark.slow
def test_table1_has_every_method_and_layer(smoke_run):
    config, workdir, summary = smoke_run
    errors = np.load(workdir / "arrays" / "table1.npz")
    for name in LAYERS:
        for m in (*METHODS, "deconvnet"):
            cell = summary["table1"][name][m]
            # min-max normalised responses lie in [0, 1], so their MSE lies in [0, 1]
            assert np.isfinite(cell["mean"]) and 0.0 <= cell["mean"] <= 1.0, (name, m)
            assert np.isfinite(cell["std"]) and cell["std"] >= 0.0, (name, m)
            per_image = errors[f"{m}_{name}"]
            n = config.deconvnet_images if m == "deconvnet" else config.num_images
            assert per_image.shape == (n,)
            np.testing.assert_allclose(per_image.mean(), cell["mean"], rtol=1e-6)
            assert np.isfinite(summary["table1_zscore"][name][m]["mean"])
    assert "minmax" in summary["table1_definition"]
    labels = np.load(workdir / "arrays" / "figure1.npz")["labels"]
    assert np.bincount(labels, minlength=10).tolist() == [4] * 10  # stratified selection


@pytest.mark.slow
def test_decoded_filters_depend_on_the_unpooling(smoke_run):
    _, workdir, _ = smoke_run
    decoded = np.load(workdir / "arrays" / "decoded_filters.npz")
    for name, shape in DECODED_SHAPES.items():
        for m in METHODS:
            assert decoded[f"{m}_{name}"].shape == shape
    # L1 has no pooling below it: its decoded filters are the conv1 filters for every method
    np.testing.assert_array_equal(decoded["bicubic_L1"], decoded["nearest_L1"])
    for name in ("L3", "L5", "L7"):
        a, b = decoded[f"bicubic_{name}"], decoded[f"nearest_{name}"]
        assert np.abs(a - b).max() > 1e-3 * np.abs(a).max(), name


@pytest.mark.slow
def test_figure1_matrix_against_a_brute_force_sum(smoke_run):
    """M[k, c] = max over the test images of class c of sum_v I[v] df_k[v] (numpy, float64)."""
    config, workdir, _ = smoke_run
    fig1 = np.load(workdir / "arrays" / "figure1.npz")
    decoded = np.load(workdir / "arrays" / "decoded_filters.npz")
    data = nets.load_data(config.data)
    net = nets.trained(config, data, Workdir(workdir))  # reused from the shared nets_dir
    idx = fig1["test_index"]
    images = net.preprocess(data.test.images[idx]).astype(np.float64)
    labels = data.test.labels[idx]
    np.testing.assert_array_equal(labels, fig1["labels"])
    for m in METHODS:
        df = decoded[f"{m}_L7"].astype(np.float64)
        est = np.einsum("nhwc,khwc->nk", images, df)
        expected = np.stack([est[labels == c].max(axis=0) for c in range(10)], axis=1)
        scale = np.abs(expected).max()
        np.testing.assert_allclose(fig1[f"{m}_max"], expected, rtol=0, atol=1e-5 * scale)
        winners = fig1[f"{m}_argmax_test_index"]
        for k in range(10):
            for c in range(10):
                members = idx[labels == c]
                assert winners[k, c] == members[np.argmax(est[labels == c][:, k])]


@pytest.mark.slow
def test_self_consistency_fractions(smoke_run):
    _, workdir, summary = smoke_run
    arrays = np.load(workdir / "arrays" / "self_consistency.npz")
    for mode in decoding_paper.SC_MODES:
        for m in METHODS:
            for name, units in (("L3", 50), ("L5", 500), ("L7", 10)):
                frac = summary["self_consistency"][mode][m][name]
                assert 0.0 <= frac <= 1.0
                winner = arrays[f"{mode}_{m}_{name}_winner"]
                rank = arrays[f"{mode}_{m}_{name}_own_rank"]
                assert winner.shape == rank.shape == (units,)
                own = winner == np.arange(units)
                assert frac == pytest.approx(own.mean())
                np.testing.assert_array_equal(rank[own], 0)  # the winner has no unit above it
                assert (rank[~own] >= 1).all()


def test_filter_placed_at_its_receptive_field_correlates_with_itself():
    """The decoded response of a placed filter, at the centre output, is its squared norm."""
    rng = np.random.default_rng(0)
    filters = rng.normal(size=(3, 14, 14, 1)).astype(np.float32)
    canvas, p0 = _responses.place_at_receptive_field(filters, (28, 28, 1), (8, 8), 2)
    assert canvas.shape == (3, 28, 28, 1) and p0 == (4, 4)
    resp = np.asarray(dj.decoded_response(canvas, filters, stride=2))
    assert resp.shape == (3, 8, 8, 3)  # LeNet's L3 geometry
    own = resp[np.arange(3), p0[0], p0[1], np.arange(3)]
    np.testing.assert_allclose(own, (filters.astype(np.float64) ** 2).sum((1, 2, 3)), rtol=1e-5)
    # outside the receptive field the canvas is blank
    assert canvas[:, :8].max() == 0 and canvas[:, 22:].max() == 0
    assert canvas[:, :, :8].max() == 0 and canvas[:, :, 22:].max() == 0


def test_stratified_indices_and_mosaic():
    labels = np.repeat(np.arange(3), [5, 2, 4])
    idx = subsets.stratified_indices(labels, 7)
    assert np.all(np.diff(idx) > 0) and len(idx) == 7
    assert np.bincount(labels[idx]).tolist() == [3, 2, 2]
    assert subsets.stratified_indices(labels, 0).tolist() == list(range(11))
    tiles = np.arange(2 * 2 * 3, dtype=float).reshape(2, 2, 3) - 5
    m = decode_plots.mosaic(tiles, cols=2)
    assert m.shape == (2, 7) and np.isnan(m[:, 3]).all()
    np.testing.assert_allclose(m[:, :3], tiles[0] / 5)
    np.testing.assert_allclose(m[:, 4:], tiles[1] / 6)
