"""Training: optax, one jitted step, data parallel over every device, resumable.

The batch is split over a 1-D mesh of all devices on the axis ``data`` and the parameters are
replicated, so the same code runs on one CPU, 8 fake CPU devices in the tests, a GPU or a TPU
slice (multi-host: ``jax.distributed.initialize()``, behind the app's ``--distributed`` flag).
A model with batch norms trains on each batch's statistics (those of the whole batch, however
it is sharded) and carries their running averages, which evaluation and checkpoints keep.
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

from experiments.core import data as data_lib
from experiments.workdir import Workdir

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


def make_optimizer(config, num_steps: int | None = None) -> optax.GradientTransformation:
    """SGD with momentum and L2 weight decay (MatConvNet's ``cnn_train`` update).

    ``config.learning_rate`` is constant unless ``config.schedule`` is ``'cosine'``: then it
    warms up linearly over ``config.warmup_steps`` and decays to zero at ``num_steps``.
    """
    schedule = getattr(config, "schedule", "constant")
    learning_rate = config.learning_rate
    if schedule == "cosine":
        if not num_steps:
            raise ValueError("the cosine schedule needs num_steps")
        learning_rate = optax.warmup_cosine_decay_schedule(
            0.0, config.learning_rate, int(config.warmup_steps), num_steps
        )
    elif schedule != "constant":
        raise ValueError(f"schedule must be 'constant' or 'cosine', got {schedule!r}")
    return optax.chain(
        optax.add_decayed_weights(config.weight_decay),
        optax.sgd(learning_rate, momentum=config.momentum),
    )


def cross_entropy(logits: jax.Array, labels: jax.Array) -> jax.Array:
    return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()


def make_stateful_train_step(
    train_apply: Callable, optimizer: optax.GradientTransformation
) -> Callable:
    """A jitted ``step(params, batch_stats, opt_state, images, labels) -> (params,
    batch_stats, opt_state, metrics)`` for models with state that training updates.

    ``train_apply(params, batch_stats, images) -> (logits, batch_stats)`` runs the model in
    training mode: batch norms normalise by the statistics of this batch and return their
    updated running averages. Under ``jit`` a batch sharded over the mesh is one global array,
    so those statistics are the whole batch's, as one device would compute them.
    """

    def loss_fn(params, batch_stats, images, labels):
        logits, batch_stats = train_apply(params, batch_stats, images)
        return cross_entropy(logits, labels), (logits, batch_stats)

    @jax.jit
    def step(params, batch_stats, opt_state, images, labels):
        (loss, (logits, batch_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, batch_stats, images, labels
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        accuracy = jnp.mean(jnp.argmax(logits, -1) == labels)
        return params, batch_stats, opt_state, {"loss": loss, "accuracy": accuracy}

    return step


def make_train_step(apply_fn: Callable, optimizer: optax.GradientTransformation) -> Callable:
    """A ``step(params, opt_state, images, labels) -> (params, opt_state, metrics)`` for a
    stateless ``apply_fn(params, images) -> logits`` (one jitted program)."""
    step = make_stateful_train_step(lambda p, s, x: (apply_fn(p, x), s), optimizer)

    def stateless_step(params, opt_state, images, labels):
        params, _, opt_state, metrics = step(params, (), opt_state, images, labels)
        return params, opt_state, metrics

    return stateless_step


class PureModel(NamedTuple):
    """An NNX model as pure functions of its state, for training and for inference."""

    train_apply: Callable  # (params, batch_stats, images) -> (logits, batch_stats)
    apply_fn: Callable  # (state, images) -> logits, with the running statistics
    graphdef: Any  # of the model in inference mode: nnx.merge(graphdef, state)
    params: Any  # nnx.State of the nnx.Param leaves (what the optimizer updates)
    batch_stats: Any  # nnx.State of the nnx.BatchStat leaves (empty for most nets)


def pure_model(model: nnx.Module) -> PureModel:
    """Splits ``model`` into its trainable parameters, its batch statistics and two pure
    functions: training mode (``use_running_average=False``: batch statistics, updated
    running averages) and inference mode (the running averages, as ``model.eval()``).

    Raises:
      ValueError: the model holds state other than ``nnx.Param`` and ``nnx.BatchStat``
        (e.g. the random state of a dropout layer), which this training loop does not carry.
    """
    views = {
        mode: nnx.view(model, use_running_average=mode == "eval", raise_if_not_found=False)
        for mode in ("train", "eval")
    }
    try:
        train_def, params, batch_stats = nnx.split(views["train"], nnx.Param, nnx.BatchStat)
    except ValueError as err:
        raise ValueError(
            f"train: {type(model).__name__} holds state other than nnx.Param and nnx.BatchStat, "
            f"which the training loop does not carry ({err})"
        ) from err
    eval_def = nnx.graphdef(views["eval"])

    def train_apply(params, batch_stats, x):
        # copies: the batch norms update Variables of this (the gradient's) trace level
        net = nnx.merge(train_def, params, batch_stats, copy=True)
        return net(x), nnx.state(net, nnx.BatchStat)

    def apply_fn(state, x):
        return nnx.merge(eval_def, state)(x)

    return PureModel(train_apply, apply_fn, eval_def, params, batch_stats)


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
    apply_fn: Callable  # apply_fn(params, images) -> logits, in inference mode
    params: Any  # nnx.State: the trained nnx.Param and nnx.BatchStat leaves (numpy)
    history: list[dict]
    test: dict[str, float]
    steps_per_second: float
    resumed_from: int
    graphdef: Any = None  # of the model in inference mode

    def model(self) -> nnx.Module:
        """The trained NNX model in inference mode (e.g. for ``cnn_layers.from_nnx``)."""
        return nnx.merge(self.graphdef, self.params)


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

    A model with batch norms (``nnx.BatchStat`` state) trains on the statistics of each
    (whole, unsharded-equivalent) batch and updates their running averages; the evaluation,
    the returned ``apply_fn`` and the checkpoints use and keep the running averages.

    Args:
      key: typed key for the batch order (``jax.random.key(config.seed)``).
      model: a freshly initialised NNX model (its parameters are replaced when resuming).
      train_set, test_set: preprocessed data in host memory.
      config: needs ``num_epochs`` (or ``num_steps`` > 0), ``batch_size``, ``learning_rate``,
        ``momentum``, ``weight_decay``, ``log_every``, ``checkpoint_every``, ``eval_batch_size``
        (optionally ``schedule`` and ``warmup_steps``, see :func:`make_optimizer`, and
        ``max_shift``: train on images randomly translated by up to that many pixels,
        :func:`experiments.core.data.random_shifts`).
      workdir: where metrics and checkpoints go.
      checkpoint_dir: sub-folder of the workdir for this model's checkpoints.
      mesh: the data mesh (default: all devices).
      optimizer: the update rule (default: :func:`make_optimizer` of the config).

    Returns:
      A :class:`TrainResult` with the pure ``apply_fn``, the trained state (numpy), the logged
      history, the test metrics and the measured training speed.
    """
    mesh = data_mesh() if mesh is None else mesh
    n = len(train_set.labels)
    steps_per_epoch = n // config.batch_size
    num_steps = int(config.get("num_steps", 0) or config.num_epochs * steps_per_epoch)
    if num_steps < 1:
        raise ValueError(f"the schedule has no steps (num_epochs={config.num_epochs}, n={n})")

    pure = pure_model(model)
    apply_fn = pure.apply_fn
    optimizer = make_optimizer(config, num_steps) if optimizer is None else optimizer
    params, batch_stats = replicate(mesh, pure.params), replicate(mesh, pure.batch_stats)
    opt_state = replicate(mesh, optimizer.init(params))
    step_fn = make_stateful_train_step(pure.train_apply, optimizer)

    def checkpoint():  # the LeNet's checkpoints hold no (empty) batch statistics
        state = {"params": params, "opt_state": opt_state}
        return state | ({"batch_stats": batch_stats} if jax.tree.leaves(batch_stats) else {})

    start = 0
    with _quiet_orbax():
        ckpt = workdir.checkpointer(checkpoint_dir)
        if ckpt.latest is not None:
            start = ckpt.latest.step
            state = ckpt.load(ckpt.latest, _abstract(checkpoint()))
            params, opt_state = state["params"], state["opt_state"]
            batch_stats = state.get("batch_stats", batch_stats)
    if start:
        workdir.truncate_metrics(start)
        logging.info("resumed from the checkpoint at step %d of %d", start, num_steps)
    eval_every = int(config.get("eval_every", 0))
    max_shift = int(config.get("max_shift", 0))
    window: list[dict] = []
    t0 = time.perf_counter()
    try:
        for step in range(start, num_steps):
            idx = data_lib.batch_indices(key, step, n, config.batch_size)
            images = data_lib.random_shifts(key, step, train_set.images[idx], max_shift)
            images, labels = shard_batch(mesh, images, train_set.labels[idx])
            params, batch_stats, opt_state, metrics = step_fn(
                params, batch_stats, opt_state, images, labels
            )
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
                state = nnx.merge_state(params, batch_stats)
                test = evaluate(
                    apply_fn, state, test_set, batch_size=config.eval_batch_size, mesh=mesh
                )
                workdir.log_metrics(done, **{f"test_{k}": v for k, v in test.items()})
            if done % config.checkpoint_every == 0 or done == num_steps:
                with _quiet_orbax():
                    ckpt.save(done, checkpoint(), force=True)
        elapsed = time.perf_counter() - t0
    finally:
        with _quiet_orbax():
            ckpt.close()

    state = nnx.merge_state(params, batch_stats)
    test = evaluate(apply_fn, state, test_set, batch_size=config.eval_batch_size, mesh=mesh)
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
    return TrainResult(
        apply_fn,
        jax.device_get(state),
        workdir.metrics(),
        test,
        speed,
        start,
        pure.graphdef,
    )
