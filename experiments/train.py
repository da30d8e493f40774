"""Training: optax, one jitted step, data parallel over every device, resumable.

The batch is split over a 1-D mesh of all devices on the axis ``data`` and the parameters are
replicated, so the same code runs on one CPU, 8 fake CPU devices in the tests, a GPU or a TPU
slice (multi-host: ``jax.distributed.initialize()``, behind the app's ``--distributed`` flag).
"""

import contextlib
import time
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax import nnx

from experiments import data as data_lib
from experiments._outputs import Workdir

DATA_AXIS = "data"


class Dataset(NamedTuple):
    """A split held in host memory: images NHWC float32 (already preprocessed), labels int32."""

    images: np.ndarray
    labels: np.ndarray


def data_mesh(devices: list | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh over ``devices`` (default: all) with the single axis ``'data'``."""
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh((len(devices),), (DATA_AXIS,), devices=devices)


def shard_batch(mesh: jax.sharding.Mesh, *arrays: np.ndarray) -> tuple[jax.Array, ...]:
    """Places arrays on the mesh split along their first (batch) axis."""
    sharding = jax.sharding.NamedSharding(mesh, jax.P(DATA_AXIS))
    n = mesh.shape[DATA_AXIS]
    for a in arrays:
        if a.shape[0] % n:
            raise ValueError(f"batch of {a.shape[0]} examples does not split over {n} devices")
    return tuple(jax.device_put(a, sharding) for a in arrays)


def replicate(mesh: jax.sharding.Mesh, tree: Any) -> Any:
    """Places every leaf of ``tree`` on every device of the mesh."""
    return jax.device_put(tree, jax.sharding.NamedSharding(mesh, jax.P()))


def make_optimizer(config) -> optax.GradientTransformation:
    """SGD with momentum and L2 weight decay (MatConvNet's ``cnn_train`` update)."""
    return optax.chain(
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(config.learning_rate, momentum=config.momentum),
    )


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_train_step(apply_fn: Callable, optimizer: optax.GradientTransformation) -> Callable:
    """A jitted ``step(params, opt_state, images, labels) -> (params, opt_state, metrics)``."""

    def loss_fn(params, images, labels):
        logits = apply_fn(params, images)
        return cross_entropy(logits, labels), logits

    @jax.jit
    def step(params, opt_state, images, labels):
        (loss, logits), grads = jax.value_and_grad(loss_fn, has_aux=True)(params, images, labels)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
        return params, opt_state, {"loss": loss, "accuracy": accuracy}

    return step


def evaluate(
    apply_fn: Callable, params: Any, dataset: Dataset, *, batch_size: int, mesh: jax.sharding.Mesh
) -> dict[str, float]:
    """Mean cross-entropy and accuracy over the whole split (the last batch is padded)."""
    n = len(dataset.labels)
    batch_size = -(-batch_size // mesh.size) * mesh.size

    @jax.jit
    def sums(params, images, labels, mask):
        logits = apply_fn(params, images)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, labels)
        correct = jnp.argmax(logits, -1) == labels
        return jnp.sum(loss * mask), jnp.sum(correct * mask)

    total_loss, total_correct = 0.0, 0.0
    for start in range(0, n, batch_size):
        images = dataset.images[start : start + batch_size]
        labels = dataset.labels[start : start + batch_size]
        mask = np.ones(len(labels), np.float32)
        pad = batch_size - len(labels)
        if pad:
            images = np.concatenate([images, np.zeros((pad, *images.shape[1:]), images.dtype)])
            labels = np.concatenate([labels, np.zeros(pad, labels.dtype)])
            mask = np.concatenate([mask, np.zeros(pad, np.float32)])
        loss, correct = sums(params, *shard_batch(mesh, images, labels, mask))
        total_loss += float(loss)
        total_correct += float(correct)
    return {"loss": total_loss / n, "accuracy": total_correct / n}


@contextlib.contextmanager
def _quiet_orbax():
    """Orbax logs dozens of INFO lines per checkpoint through absl; keep the progress readable."""
    level = logging.get_verbosity()
    logging.set_verbosity(min(level, logging.WARNING))
    try:
        yield
    finally:
        logging.set_verbosity(level)


def _abstract(tree: Any) -> Any:
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), tree)


class TrainResult(NamedTuple):
    apply_fn: Callable
    params: Any
    history: list[dict]
    test: dict[str, float]
    steps_per_second: float
    resumed_from: int


def train(
    key: jax.Array,
    model: nnx.Module,
    train_set: Dataset,
    test_set: Dataset,
    config,
    workdir: Workdir,
    *,
    checkpoint_dir: str = "checkpoints",
    mesh: jax.sharding.Mesh | None = None,
    optimizer: optax.GradientTransformation | None = None,
) -> TrainResult:
    """Trains ``model`` with the optax SGD recipe, resuming from the newest checkpoint.

    Args:
      key: typed key for the batch order (``jax.random.key(config.seed)``).
      model: a freshly initialised NNX model (its parameters are replaced when resuming).
      train_set, test_set: preprocessed data in host memory.
      config: needs ``num_epochs`` (or ``num_steps`` > 0), ``batch_size``, ``learning_rate``,
        ``momentum``, ``weight_decay``, ``log_every``, ``checkpoint_every``, ``eval_batch_size``.
      workdir: where metrics and checkpoints go.
      checkpoint_dir: sub-folder of the workdir for this model's checkpoints.
      mesh: the data mesh (default: all devices).
      optimizer: the update rule (default: :func:`make_optimizer` of the config).

    Returns:
      A :class:`TrainResult` with the pure ``apply_fn``, the trained params (numpy), the logged
      history, the test metrics and the measured training speed.
    """
    mesh = data_mesh() if mesh is None else mesh
    n = len(train_set.labels)
    steps_per_epoch = n // config.batch_size
    num_steps = int(config.get("num_steps", 0) or config.num_epochs * steps_per_epoch)
    if num_steps < 1:
        raise ValueError(f"the schedule has no steps (num_epochs={config.num_epochs}, n={n})")

    graphdef, params = nnx.split(model)

    def apply_fn(params, x):
        return nnx.merge(graphdef, params)(x)

    optimizer = make_optimizer(config) if optimizer is None else optimizer
    params = replicate(mesh, params)
    opt_state = replicate(mesh, optimizer.init(params))
    step_fn = make_train_step(apply_fn, optimizer)

    start = 0
    with _quiet_orbax():
        ckpt = workdir.checkpointer(checkpoint_dir)
        if ckpt.latest is not None:
            start = ckpt.latest.step
            state = ckpt.load(ckpt.latest, _abstract({"params": params, "opt_state": opt_state}))
            params, opt_state = state["params"], state["opt_state"]
    if start:
        workdir.truncate_metrics(start)
        logging.info("resumed from the checkpoint at step %d of %d", start, num_steps)
    eval_every = int(config.get("eval_every", 0))
    window: list[dict] = []
    t0 = time.perf_counter()
    try:
        for step in range(start, num_steps):
            idx = data_lib.batch_indices(key, step, n, config.batch_size)
            images, labels = shard_batch(mesh, train_set.images[idx], train_set.labels[idx])
            params, opt_state, metrics = step_fn(params, opt_state, images, labels)
            window.append(metrics)
            done = step + 1
            if done % config.log_every == 0 or done == num_steps:
                means = {k: float(np.mean([float(m[k]) for m in window])) for k in window[0]}
                window = []
                rate = (done - start) / (time.perf_counter() - t0)
                workdir.log_metrics(
                    done,
                    epoch=done / steps_per_epoch,
                    examples_per_second=rate * config.batch_size,
                    **{f"train_{k}": v for k, v in means.items()},
                )
                logging.info(
                    "step %d/%d  loss %.4f  accuracy %.4f  %.0f examples/s  ETA %.0f s",
                    done,
                    num_steps,
                    means["loss"],
                    means["accuracy"],
                    rate * config.batch_size,
                    (num_steps - done) / rate,
                )
            if eval_every and done % eval_every == 0 and done < num_steps:
                test = evaluate(
                    apply_fn, params, test_set, batch_size=config.eval_batch_size, mesh=mesh
                )
                workdir.log_metrics(done, **{f"test_{k}": v for k, v in test.items()})
            if done % config.checkpoint_every == 0 or done == num_steps:
                with _quiet_orbax():
                    ckpt.save(done, {"params": params, "opt_state": opt_state}, force=True)
        elapsed = time.perf_counter() - t0
    finally:
        with _quiet_orbax():
            ckpt.close()

    test = evaluate(apply_fn, params, test_set, batch_size=config.eval_batch_size, mesh=mesh)
    history = workdir.metrics()
    if not (history and history[-1]["step"] == num_steps and "test_accuracy" in history[-1]):
        workdir.log_metrics(num_steps, **{f"test_{k}": v for k, v in test.items()})
    logging.info("test loss %.4f  accuracy %.4f", test["loss"], test["accuracy"])
    if num_steps > start:
        speed = (num_steps - start) / elapsed
    else:  # nothing left to train: report the speed the run that trained it logged
        rates = [m["examples_per_second"] for m in history if "examples_per_second" in m]
        speed = rates[-1] / config.batch_size if rates else float("nan")
    # Hand back host arrays: the mesh is a detail of training, and callers mix the parameters
    # with arrays on the default device (or on a mesh of their own).
    return TrainResult(apply_fn, jax.device_get(params), workdir.metrics(), test, speed, start)
