import json

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from analytic_jax import AnalyticConv, family_kernels, param_count, parse_mosaic
from experiments import _app, acl_fit, acl_train, models
from experiments.core import anann_training, train
from experiments.models import anann

# AKPs per slice of each family, written out here as the oracle (amplitude + shape AKPs).
N_PARAMS = {"G": 6, "Lg": 2, "Lt": 2, "Tf": 3, "Ts": 3}


def _expected_params(arrangement: str, k: int) -> int:
    spec = parse_mosaic(arrangement, kernel_size=k)
    return sum(k * k if c == "P" else N_PARAMS[c] for c in spec.codes)


@pytest.mark.slow
def test_acl_fit_smoke(tmp_path, nets_dir):
    config = _app.load_config("acl_fit", "smoke")
    config.nets_dir = nets_dir
    summary = acl_fit.run(config, str(tmp_path))
    for name in ("config.json", "summary.json", "fit_table.md", "figures/fit_slices.png",
                 "figures/mosaic.png", "arrays/fit.npz"):  # fmt: skip
        assert (tmp_path / name).is_file(), name
    assert summary["kernel_shape"] == [5, 5, 1, 20]
    families = list(config.families)
    errs = np.array([summary["family_errors"][c] for c in families])  # (F, S)
    assert errs.shape == (len(families), 20)
    assert np.all((errs >= 0) & (errs <= 1 + 1e-6))  # amplitude 0 already gives error 1
    codes = summary["chosen"]["codes"]
    chosen = np.asarray(summary["chosen_rel_error"])
    for s, code in enumerate(codes):
        if code == "P":
            assert errs[:, s].min() > config.threshold
            assert chosen[s] == 0.0
        else:
            assert code == families[int(np.argmin(errs[:, s]))]
            assert errs[families.index(code), s] <= config.threshold
            assert chosen[s] == pytest.approx(errs[families.index(code), s])
    arrangement = summary["chosen"]["arrangement"]
    assert summary["chosen"]["param_count"] == _expected_params(arrangement, 5)
    assert summary["chosen"]["param_count"] == param_count(parse_mosaic(arrangement, kernel_size=5))
    assert summary["chosen"]["plain_param_count"] == 500
    for c in families:
        row = summary["families"][c]
        assert row["params_per_slice"] == N_PARAMS[c]
        assert row["chosen_count"] == codes.count(c)
        assert row["best_count"] == int((np.argmin(errs, axis=0) == families.index(c)).sum())
    arrays = np.load(tmp_path / "arrays" / "fit.npz")
    target, fitted = arrays["target"], arrays["fitted"]
    rel = np.linalg.norm(fitted - target) / np.linalg.norm(target)
    assert summary["chosen"]["kernel_rel_error"] == pytest.approx(rel, rel=1e-4, abs=1e-6)
    table = (tmp_path / "fit_table.md").read_text()
    rows = [line for line in table.split("\n") if line.startswith("| ")]
    assert [r.split(" | ")[0][2:] for r in rows[1:]] == [*families, "P"]  # one row per family


def test_acl_fit_npy_recovers_known_families(tmp_path):
    lg = family_kernels(jnp.array([[1.5, 0.4]]), "Lg", 5)[0]
    tf = family_kernels(jnp.array([[-0.8, 0.6, 0.7]]), "Tf", 5)[0]
    target = np.stack([lg, tf], axis=-1)[:, :, None, :]  # (5, 5, 1, 2): slice 0 Lg, 1 Tf
    path = tmp_path / "kernels.npy"
    np.save(path, target)
    config = _app.load_config("acl_fit", "smoke")
    config.kernels_npy = str(path)
    config.families = ("Lg", "Tf")
    config.steps = 200
    summary = acl_fit.run(config, str(tmp_path / "run"))
    assert summary["source"].startswith("npy:")
    assert summary["chosen"]["codes"] == ["Lg", "Tf"]
    assert max(summary["chosen_rel_error"]) < 1e-2
    assert summary["chosen"]["param_count"] == 2 + 3


def test_acl_fit_errors(tmp_path):
    config = _app.load_config("acl_fit", "smoke")
    config.data.dataset = "cifar10"
    with pytest.raises(ValueError, match="data_dir"):
        acl_fit.run(config, str(tmp_path / "a"))
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((5, 5, 3)))
    config = _app.load_config("acl_fit", "smoke")
    config.kernels_npy = str(bad)
    with pytest.raises(ValueError, match="HWIO"):
        acl_fit.run(config, str(tmp_path / "b"))


def test_match_plain_init_sets_slice_norms():
    conv = AnalyticConv(2, 3, 5, mosaic="(2x3)G2Lg1Tf1Ts1P1", rngs=nnx.Rngs(0))
    anann.match_plain_init(conv, jax.random.key(1), 0.01)
    slices = np.transpose(np.asarray(conv.kernel()), (3, 2, 0, 1)).reshape(6, 5, 5)
    norms = np.sqrt((slices**2).sum(axis=(1, 2)))
    np.testing.assert_allclose(norms[:5], 0.05, rtol=1e-5)  # analytic: exactly 0.01 * k
    assert 0.01 < norms[5] < 0.15  # plain: 0.01 * randn


def test_analytic_optimizer_matches_optax_and_freezes():
    model = anann.FourLayerNet(
        1, convs=((2, 3), (2, 3), (2, 3), (10, 3)),
        arrangements={"conv1": "(1x2)G1Lg1", "conv2": "(2x2)Tf2P2"}, rngs=nnx.Rngs(0),
    )  # fmt: skip
    graphdef, params = nnx.split(model)
    apply = lambda p, v: nnx.merge(graphdef, p)(v)
    x = jax.random.normal(jax.random.key(0), (4, 8, 8, 1))
    y = jnp.arange(4)
    ones = jax.tree.map(jnp.ones_like, params)
    cfg = type("C", (), {"learning_rate": 0.1, "momentum": 0.9, "weight_decay": 5e-3})()
    tx = train.make_optimizer(cfg)
    ref_step = train.make_train_step(apply, tx)
    ana = anann_training.analytic_optimizer(cfg, ones, ones)
    ana_step = train.make_train_step(apply, ana)
    p1, s1, p2, s2 = params, ana.init(params), params, tx.init(params)
    for _ in range(2):
        p1, s1, _ = ana_step(p1, s1, x, y)
        p2, s2, _ = ref_step(p2, s2, x, y)
    for a, b in zip(jax.tree.leaves(p1), jax.tree.leaves(p2), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    lr, decay = anann_training.optimizer_trees(params, akp_lr_scale=7.0, frozen=("G",))
    assert np.all(lr["conv1"]["akp_G"][...] == 0)
    np.testing.assert_array_equal(lr["conv1"]["akp_Lg"][...], [[1.0, 7.0]])
    np.testing.assert_array_equal(decay["conv1"]["akp_Lg"][...], [[1.0, 0.0]])
    assert np.all(lr["conv2"]["akp_P"][...] == 1) and np.all(decay["conv2"]["akp_P"][...] == 1)
    frozen = anann_training.analytic_optimizer(cfg, lr, decay)
    frozen_step = train.make_train_step(apply, frozen)
    p3, s3 = params, frozen.init(params)
    for _ in range(2):
        p3, s3, _ = frozen_step(p3, s3, x, y)
    np.testing.assert_array_equal(p3["conv1"]["akp_G"][...], params["conv1"]["akp_G"][...])
    for name, code in (("conv1", "Lg"), ("conv2", "Tf"), ("conv2", "P")):
        changed = p3[name][f"akp_{code}"][...] != params[name][f"akp_{code}"][...]
        assert np.all(changed), (name, code)  # every AKP of an unfrozen family moves
    removed = anann_training.removed(nnx.to_pure_dict(params), "Tf")
    assert np.all(removed["conv2"]["akp_Tf"][:, 0] == 0)
    assert np.any(removed["conv2"]["akp_P"] != 0)


@pytest.mark.slow
def test_acl_train_smoke(tmp_path, nets_dir):
    config = _app.load_config("acl_train", "smoke")
    config.nets_dir = nets_dir
    acl_train.run(config, str(tmp_path))
    for name in ("config.json", "summary.json", "results.md", "ablation.md",
                 "figures/mosaic_conv1.png", "figures/training_curves.png",
                 "arrays/anann_lenet.npz", "anann_lenet/metrics.jsonl", "plain_four/metrics.jsonl",
                 "anann_four/metrics.jsonl", "ablation/freeze_G/metrics.jsonl"):  # fmt: skip
        assert (tmp_path / name).is_file(), name
    on_disk = json.loads((tmp_path / "summary.json").read_text())
    assert on_disk["models"].keys() == {"plain_lenet", "anann_lenet", "plain_four", "anann_four"}

    plain = models.LeNet(rngs=nnx.Rngs(0))  # the real LeNet's nnx.Params
    want = {n: getattr(plain, n).kernel[...].size for n in anann.CONV_NAMES}
    assert on_disk["models"]["plain_lenet"]["conv_params"] == want
    sizes = {
        "conv1": (1, 20, 5),
        "conv2": (20, 50, 5),
        "conv3": (50, 500, 4),
        "conv4": (500, 10, 1),
    }
    arr = config.lenet_arrangements
    for name, (cin, cout, k) in sizes.items():
        expected = _expected_params(arr[name], k) if arr[name] else cin * cout * k * k
        assert on_disk["models"]["anann_lenet"]["conv_params"][name] == expected
        if arr[name]:
            assert expected == param_count(parse_mosaic(arr[name], kernel_size=k))
    cin = 1
    for j, (cout, k) in enumerate(config.four.convs):
        name = f"conv{j + 1}"
        a = config.four.arrangements[name]
        assert on_disk["models"]["plain_four"]["conv_params"][name] == cin * cout * k * k
        expected = _expected_params(a, k) if a else cin * cout * k * k
        assert on_disk["models"]["anann_four"]["conv_params"][name] == expected
        cin = cout
    for m in on_disk["models"].values():
        assert 0.0 <= m["test_accuracy"] <= 1.0
        assert m["conv_params_total"] == sum(m["conv_params"].values())

    codes = list(dict.fromkeys(
        c for a in arr.values() if a for c in parse_mosaic(a, kernel_size=5).family_order
    ))  # fmt: skip
    rows = on_disk["ablation"]
    assert [r["family"] for r in rows] == codes  # one row per family of the arrangement
    for r in rows:
        assert 0.0 <= r["removed_accuracy"] <= 1.0 and 0.0 <= r["frozen_accuracy"] <= 1.0
    table = (tmp_path / "ablation.md").read_text()
    assert sum(line.startswith(f"| {c} |") for c in codes for line in table.split("\n")) == len(
        codes
    )
    mosaic = np.load(tmp_path / "arrays" / "anann_lenet.npz")
    assert mosaic["conv1_learned"].shape == (20, 5, 5)
    assert not np.allclose(mosaic["conv1_learned"], mosaic["conv1_init"])
