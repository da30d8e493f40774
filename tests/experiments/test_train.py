import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

import cnn_layers
from experiments import _app, models, train_net
from experiments.configs import common
from experiments.core import nets, train
from experiments.workdir import Workdir
from tests.experiments.idx_files import real_digits, write_cifar, write_mnist_idx

ROOT = Path(__file__).resolve().parents[2]


def _tiny_sets():
    xtr, ytr, xte, yte = real_digits(64, 32)
    prep = lambda x: (x[..., None].astype(np.float32) - 33.0) / 80.0
    return (
        train.Dataset(prep(xtr), ytr.astype(np.int32)),
        train.Dataset(prep(xte), yte.astype(np.int32)),
    )


def _config(**overrides):
    config = common.recipe("lenet", "smoke")
    with config.unlocked():
        config.num_epochs = 1
        config.learning_rate = 0.05
        config.init_scale = 0.1
        config.update(overrides)
    return config


def _tiny_vgg():
    return models.VGG(blocks=((4,), (6,)), rngs=nnx.Rngs(0))


def _train(workdir, config, make_model=None):
    train_set, test_set = _tiny_sets()
    model = models.LeNet(rngs=nnx.Rngs(0), init_scale=config.init_scale)
    model = model if make_model is None else make_model()
    return train.train(jax.random.key(0), model, train_set, test_set, config, Workdir(workdir))


def _assert_trees_close(a, b, rtol=1e-6, atol=1e-6):
    jax.tree.map(lambda u, v: np.testing.assert_allclose(u, v, rtol=rtol, atol=atol), a, b)


def test_train_entry_point_on_idx_files(tmp_path):
    """The README's data path end to end: IDX files -> --config.dataset=mnist -> workdir."""
    data_dir = write_mnist_idx(tmp_path / "mnist", n_train=48, n_test=24)
    workdir = tmp_path / "run"
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    cmd = [
        sys.executable,
        "-m",
        "experiments.train_lenet",
        f"--config={_app.config_path('train_lenet')}:smoke",
        "--config.data.dataset=mnist",
        f"--config.data.data_dir={data_dir}",
        f"--workdir={workdir}",
    ]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["dataset"] == "mnist" and summary["num_train"] == 48
    assert summary["num_test"] == 24 and 0.0 <= summary["test_accuracy"] <= 1.0
    assert json.loads((workdir / "config.json").read_text())["data"]["data_dir"] == str(data_dir)
    metrics = [json.loads(line) for line in (workdir / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "train_loss" in m] == [2, 4, 6]
    assert "test_accuracy" in metrics[-1]
    assert (workdir / "figures" / "loss_curve.png").is_file()
    arrays = np.load(workdir / "arrays" / "lenet.npz")
    assert arrays["conv1_kernel"].shape == (5, 5, 1, 20)
    assert arrays["mean_image"].shape == (28, 28, 1)
    assert sorted(p.name for p in (workdir / "checkpoints").iterdir()) == ["3", "6"]
    assert "step 6/6" in proc.stderr and "examples/s" in proc.stderr and "ETA" in proc.stderr


@pytest.mark.parametrize("net", ["lenet", "batchnorm"])
def test_interrupted_training_resumes_to_the_same_parameters(tmp_path, monkeypatch, net):
    """The LeNet, and a net whose checkpoints keep batch statistics (shifted inputs too)."""
    config = _config()
    make_model = None
    if net == "batchnorm":
        make_model = _tiny_vgg
        with config.unlocked():
            config.update(learning_rate=0.1, schedule="cosine", warmup_steps=2, max_shift=2)
    run = functools.partial(_train, config=config, make_model=make_model)
    full = run(tmp_path / "full")
    assert full.resumed_from == 0

    original = train.data_lib.batch_indices

    def interrupt_at_step_4(key, step, *args):
        if step == 4:
            raise KeyboardInterrupt("simulated preemption")
        return original(key, step, *args)

    monkeypatch.setattr(train.data_lib, "batch_indices", interrupt_at_step_4)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "cut")
    monkeypatch.setattr(train.data_lib, "batch_indices", original)
    resumed = run(tmp_path / "cut")
    assert resumed.resumed_from == 3
    _assert_trees_close(nnx.to_pure_dict(full.params), nnx.to_pure_dict(resumed.params))
    steps = [m["step"] for m in Workdir(tmp_path / "cut").metrics() if "train_loss" in m]
    assert steps == [2, 4, 6]  # the lines the interrupted run logged are not repeated
    again = run(tmp_path / "cut")
    assert again.resumed_from == 6
    assert again.steps_per_second > 0  # taken from the log of the run that trained it
    stats = nnx.to_pure_dict(nnx.state(full.model(), nnx.BatchStat))
    assert bool(jax.tree.leaves(stats)) == (net == "batchnorm")
    if net == "batchnorm":  # the running averages moved off their initial 0 and 1
        assert all(np.abs(v["mean"]).max() > 0 for v in stats["layers"].values())
        # evaluation used the running averages: the model in inference mode, as from_nnx reads it
        _, test_set = _tiny_sets()
        logits = cnn_layers.forward(cnn_layers.from_nnx(full.model()), test_set.images)
        accuracy = float(np.mean(np.argmax(logits, -1) == test_set.labels))
        assert accuracy == pytest.approx(full.test["accuracy"])


@pytest.mark.multidevice
def test_sharded_step_equals_single_device_step():
    assert jax.device_count() == 8
    train_set, _ = _tiny_sets()
    model = models.LeNet(rngs=nnx.Rngs(0), init_scale=0.1)
    apply_fn, params = models.split_model(model)
    optimizer = train.make_optimizer(_config())
    step = train.make_train_step(apply_fn, optimizer)
    images, labels = train_set.images[:32], train_set.labels[:32]
    results = {}
    for n in (1, 8):
        mesh = train.data_mesh(jax.devices()[:n])
        p = train.replicate(mesh, params)
        o = train.replicate(mesh, optimizer.init(p))
        x, y = train.shard_batch(mesh, images, labels)
        assert x.sharding.spec == jax.P("data")
        assert {s.data.shape for s in x.addressable_shards} == {(32 // n, 28, 28, 1)}
        assert len(x.addressable_shards) == n
        for _ in range(2):
            p, o, metrics = step(p, o, x, y)
        results[n] = (float(metrics["loss"]), nnx.to_pure_dict(p))
    np.testing.assert_allclose(results[8][0], results[1][0], rtol=1e-5)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6),
        results[8][1],
        results[1][1],
    )


@pytest.mark.multidevice
def test_batchnorm_step_on_a_sharded_batch_equals_one_device():
    """Loss, parameters and running statistics after two steps, 8 devices against 1; the
    statistics are those of the whole batch (checked against a direct computation)."""
    assert jax.device_count() == 8
    train_set, _ = _tiny_sets()
    pure = train.pure_model(_tiny_vgg())
    optimizer = train.make_optimizer(_config(learning_rate=0.1))
    step = train.make_stateful_train_step(pure.train_apply, optimizer)
    images, labels = train_set.images[:32], train_set.labels[:32]
    results = {}
    for n in (1, 8):
        mesh = train.data_mesh(jax.devices()[:n])
        p, s = train.replicate(mesh, pure.params), train.replicate(mesh, pure.batch_stats)
        o = train.replicate(mesh, optimizer.init(p))
        x, y = train.shard_batch(mesh, images, labels)
        assert len(x.addressable_shards) == n
        losses = []
        for _ in range(2):
            p, s, o, metrics = step(p, s, o, x, y)
            losses.append(float(metrics["loss"]))
            if n == 8 and len(losses) == 1:  # after one step on the sharded batch
                first = nnx.to_pure_dict(s)["layers"][1]
        results[n] = (losses, nnx.to_pure_dict(p), nnx.to_pure_dict(s))
    np.testing.assert_allclose(results[8][0], results[1][0], rtol=1e-5)
    _assert_trees_close(results[8][1], results[1][1], rtol=1e-5, atol=1e-6)
    _assert_trees_close(results[8][2], results[1][2], rtol=1e-5, atol=1e-6)
    # the first batch norm after one step: momentum 0.9 from (0, 1) towards the statistics of
    # conv1's output over the whole batch (N, H, W)
    kernel = nnx.to_pure_dict(pure.params)["layers"][0]["kernel"]
    z = np.asarray(
        jax.lax.conv_general_dilated(
            images, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC")
        ),
        np.float64,
    )
    m = models.vgg.BN_MOMENTUM
    np.testing.assert_allclose(first["mean"], (1 - m) * z.mean((0, 1, 2)), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(first["var"], m + (1 - m) * z.var((0, 1, 2)), rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name, dataset", [("vgg", "mnist_5k"), ("resnet", "cifar10")])
def test_train_net_smoke_writes_the_workdir_contract(tmp_path, name, dataset):
    config = _app.load_config("train_net", "smoke")
    with config.unlocked():
        config.model = name
        if dataset == "cifar10":  # 5 x 8 training and 8 test images, 32x32x3
            config.data.dataset = dataset
            config.data.data_dir = str(write_cifar(tmp_path / "cifar", per_batch=8))
    net = train_net.run(config, str(tmp_path / "run"))
    tmp_path = tmp_path / "run"
    assert json.loads((tmp_path / "config.json").read_text())["model"] == name
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["model"] == name and summary["dataset"] == dataset
    assert summary["num_train"] == (4000 if dataset == "mnist_5k" else 40)
    assert summary["test_accuracy"] == net.summary["test_accuracy"]
    metrics = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [m["step"] for m in metrics if "train_loss" in m] == [2, 4]
    assert "test_accuracy" in metrics[-1]
    assert (tmp_path / "figures" / "loss_curve.png").is_file()
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["2", "4"]
    arrays = np.load(tmp_path / "arrays" / f"{name}.npz")
    assert arrays["mean_image"].shape == ((28, 28, 1) if dataset == "mnist_5k" else (32, 32, 3))
    assert any(k.endswith("_var") for k in arrays) and any(k.endswith("_kernel") for k in arrays)
    assert type(net.layers[-1]).__name__ == "Dense"
    np.testing.assert_allclose(
        cnn_layers.forward(net.layers, net.preprocess(np.zeros((1, *arrays["mean_image"].shape)))),
        net.model(net.preprocess(np.zeros((1, *arrays["mean_image"].shape)))),
        rtol=1e-5,
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="config.model must be one of"):
        config.model = "alexnet"
        nets.trained(config, None, Workdir(tmp_path / "bad"))


def test_shard_batch_rejects_uneven_batches():
    with pytest.raises(ValueError, match="does not split over 8 devices"):
        train.shard_batch(train.data_mesh(), np.zeros((12, 2)))
