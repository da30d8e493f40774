"""Training: optax, one jitted step, data parallel over every device, resumable.

The batch is split over a 1-D mesh of all devices on the axis ``data`` and the parameters are
replicated, so the same code runs on one CPU, 8 fake CPU devices in the tests, a GPU or a TPU
slice (multi-host: ``jax.distributed.initialize()``, behind the app's ``--distributed`` flag).
A model with batch norms trains on each batch's statistics (those of the whole batch, however
it is sharded) and carries their running averages, which evaluation and checkpoints keep.

Every process of a multi-host run holds the whole data set and builds the same global batch;
each one places only the slices of its own devices (``jax.make_array_from_callback``), so the
loss and the parameters equal those of one process with all the devices.

What can go wrong is caught early and said in one line: :func:`validate_config` checks every
field before anything is loaded; a non-finite loss stops the run at its step
(:class:`TrainingDiverged`, ``summary.json`` marked failed, the checkpoints before it kept); a
checkpoint that cannot be read is reported and set aside (``<checkpoint_dir>.corrupt/``), and
the newest intact one is used.
"""

import contextlib
import math
import numbers
import shutil
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


class TrainingDiverged(FloatingPointError):
    """The training loss became NaN or infinite (the message says at which step)."""


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_real(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def validate_config(config) -> None:
    """Checks every field of a training config that :func:`train` reads, before any work.

    Raises:
      ValueError: one message listing each bad field, what it must be and what it is.
    """
    problems = []

    def need(name, ok, expected, required=True):
        if name not in config:
            if required:
                problems.append(f"{name} is missing (expected {expected})")
            return
        value = config[name]
        try:
            good = ok(value)
        except (TypeError, ValueError):
            good = False
        if not good:
            problems.append(f"{name} must be {expected}, got {value!r}")

    positive_int = lambda v: _is_int(v) and v >= 1
    need("batch_size", positive_int, "an integer >= 1")
    need("eval_batch_size", positive_int, "an integer >= 1")
    need("log_every", positive_int, "an integer >= 1")
    need("checkpoint_every", positive_int, "an integer >= 1")
    need("learning_rate", lambda v: _is_real(v) and math.isfinite(v) and v > 0, "finite and > 0")
    need("momentum", lambda v: _is_real(v) and 0 <= v < 1, "in [0, 1)")
    need("weight_decay", lambda v: _is_real(v) and math.isfinite(v) and v >= 0, "finite >= 0")
    need("num_steps", lambda v: _is_int(v) and v >= 0, "an integer >= 0 (0: use num_epochs)", False)
    epochs_ok = lambda v: _is_int(v) and (v >= 1 or (v in (0, -1) and config.get("num_steps")))
    need("num_epochs", epochs_ok, "an integer >= 1 (or any, with num_steps > 0)", False)
    if not config.get("num_steps") and "num_epochs" not in config:
        problems.append("num_steps or num_epochs is needed")
    need("eval_every", lambda v: _is_int(v) and v >= 0, "an integer >= 0", False)
    need("max_shift", lambda v: _is_int(v) and v >= 0, "an integer >= 0", False)
    need("seed", _is_int, "an integer", False)
    need("schedule", lambda v: v in ("constant", "cosine"), "'constant' or 'cosine'", False)
    if config.get("schedule") == "cosine":
        need("warmup_steps", lambda v: _is_int(v) and v >= 0, "an integer >= 0")
    need("resume_policy", lambda v: v in ("strict", "extend"), "'strict' or 'extend'", False)
    if problems:
        raise ValueError("bad training config: " + "; ".join(problems))


class Dataset(NamedTuple):
    """A split held in host memory: images NHWC float32 (already preprocessed), labels int32."""

    images: np.ndarray
    labels: np.ndarray


def data_mesh(devices: list | None = None) -> jax.sharding.Mesh:
    """A 1-D mesh over ``devices`` (default: all) with the single axis ``'data'``."""
    devices = list(jax.devices() if devices is None else devices)
    return jax.make_mesh((len(devices),), (DATA_AXIS,), devices=devices)


def shard_batch(mesh: jax.sharding.Mesh, *arrays: np.ndarray) -> tuple[jax.Array, ...]:
    """Places host arrays on the mesh split along their first (batch) axis.

    Every process passes the same (global) arrays and places the slices of its own devices,
    so this works unchanged on one host and on many.
    """
    sharding = jax.sharding.NamedSharding(mesh, jax.P(DATA_AXIS))
    n = mesh.shape[DATA_AXIS]
    for a in arrays:
        if a.shape[0] % n:
            raise ValueError(f"batch of {a.shape[0]} examples does not split over {n} devices")
    return tuple(
        jax.make_array_from_callback(a.shape, sharding, lambda index, a=a: a[index])
        for a in map(np.asarray, arrays)
    )


def replicate(mesh: jax.sharding.Mesh, tree: Any) -> Any:
    """Places every leaf of ``tree`` on every device of the mesh (through host memory, so that
    leaves on one local device also reach the devices of the other processes)."""
    host = jax.tree.map(np.asarray, tree)
    return jax.device_put(host, jax.sharding.NamedSharding(mesh, jax.P()))


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
def _quiet_orbax(most: int = logging.WARNING):
    """Orbax logs dozens of INFO lines per checkpoint through absl; keep the progress readable
    (``most=logging.FATAL``: also its errors, which the caller reports itself)."""
    level = logging.get_verbosity()
    logging.set_verbosity(min(level, most))
    try:
        yield
    finally:
        logging.set_verbosity(level)


def _abstract(tree: Any) -> Any:
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=a.sharding), tree)


def _on_schedule(log_every: int, eval_every: int, num_steps: int) -> Callable:
    """``keep(line)`` for :meth:`Workdir.truncate_metrics`: the line with only the metrics a
    run of this schedule logs at its step (None when it logs none there)."""

    def keep(line: dict) -> dict | None:
        step = line["step"]
        train_line = step % log_every == 0 or step == num_steps
        test_line = (eval_every and step % eval_every == 0) or step == num_steps
        kept = {
            k: v
            for k, v in line.items()
            if k == "step" or (test_line if k.startswith("test_") else train_line)
        }
        return kept if len(kept) > 1 else None

    return keep


class _Windows:
    """The per-step metrics since the last log line, at each checkpoint step, in
    ``<workdir>/<checkpoint_dir>.window.json``: a resumed run's first line then averages
    the same steps as an uninterrupted run's."""

    def __init__(self, workdir: Workdir, checkpoint_dir: str):
        self.workdir, self.name = workdir, f"{checkpoint_dir}.window.json"

    def _read(self) -> dict:
        try:
            found = self.workdir.read_json(self.name)
        except ValueError:
            found = None
        return found if isinstance(found, dict) else {}

    def get(self, step: int) -> list[dict]:
        if step == 0:
            return []
        rows = self._read().get(str(step))
        if rows is None:
            logging.warning(
                "%s has no entry for step %d: the first line after the resume averages fewer "
                "steps than an uninterrupted run's",
                self.workdir.path / self.name,
                step,
            )
            return []
        return [dict(row) for row in rows]

    def put(self, step: int, window: list[dict], keep: set[int]) -> None:
        table = {k: v for k, v in self._read().items() if k.isdigit() and int(k) in keep}
        table[str(step)] = [{k: float(v) for k, v in m.items()} for m in window]
        self.workdir.write_json(self.name, table)


def _restore_newest_intact(ckpt, abstract: Any, workdir: Workdir, checkpoint_dir: str):
    """``(step, state)`` of the newest checkpoint that loads, or None when there is none.

    A checkpoint that fails to load is reported in one warning line and moved (by process 0)
    to ``<workdir>/<checkpoint_dir>.corrupt/<step>``, out of the way of the steps to come.
    """
    while ckpt.checkpoints:
        newest = ckpt.checkpoints[-1]
        try:
            with _quiet_orbax(logging.FATAL):
                return newest.step, ckpt.load(newest, abstract)
        except Exception as err:  # orbax/tensorstore raise many types, with pages of detail
            first = (str(err).strip().splitlines() or [""])[0][:200]
            logging.warning(
                "checkpoint step %d in %s cannot be read (%s: %s); moved to %s.corrupt/ and "
                "trying the one before",
                newest.step,
                newest.path,
                type(err).__name__,
                first,
                workdir.path / checkpoint_dir,
            )
        if workdir.is_writer:
            aside = workdir.path / f"{checkpoint_dir}.corrupt" / str(newest.step)
            while aside.exists():
                aside = aside.with_name(aside.name + "_")
            aside.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(str(newest.path), aside)
        if jax.process_count() > 1:
            from jax.experimental import multihost_utils

            multihost_utils.sync_global_devices(f"set aside checkpoint {newest.step}")
        ckpt.reload()
    return None


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


def _schedule(config, n: int, n_test: int) -> tuple[int, int]:
    """``(steps_per_epoch, num_steps)`` of ``config`` on ``n`` training examples, checked."""
    if config.batch_size > n:
        raise ValueError(f"batch_size {config.batch_size} is larger than the {n} training examples")
    if n_test == 0:
        raise ValueError("the test set is empty")
    steps_per_epoch = n // config.batch_size
    num_steps = int(config.get("num_steps", 0) or config.num_epochs * steps_per_epoch)
    if num_steps < 1:
        raise ValueError(f"the schedule has no steps (num_epochs={config.num_epochs}, n={n})")
    return steps_per_epoch, num_steps


def _check_finite(done: int, metrics, last_saved, workdir, checkpoint_dir, config) -> None:
    """Stops the run at step ``done`` if its loss is not finite: the summary says it failed
    and where the last good checkpoint is."""
    loss = float(metrics["loss"])
    if math.isfinite(loss):
        return
    where = (
        f"the last good checkpoint is step {last_saved} in {workdir.path / checkpoint_dir}"
        if last_saved
        else "no checkpoint was saved"
    )
    message = (
        f"training diverged: the loss at step {done} is {loss} (learning_rate="
        f"{config.learning_rate}, batch_size={config.batch_size}); {where}"
    )
    workdir.write_summary(
        {
            "status": "failed",
            "error": message,
            "failed_step": done,
            "last_checkpoint_step": last_saved or 0,
        }
    )
    raise TrainingDiverged(message)


def _log_line(workdir, done, num_steps, steps_per_epoch, window, rate, config) -> None:
    """One ``metrics.jsonl`` line (the means over ``window``) and its log message."""
    means = {k: float(np.mean([float(m[k]) for m in window])) for k in window[0]}
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


def _log_test(workdir, step, apply_fn, params, batch_stats, test_set, config, mesh) -> dict:
    """Evaluates on the test set and merges the numbers into the line of ``step``."""
    state = nnx.merge_state(params, batch_stats)
    test = evaluate(apply_fn, state, test_set, batch_size=config.eval_batch_size, mesh=mesh)
    workdir.log_metrics(step, merge=True, **{f"test_{k}": v for k, v in test.items()})
    return test


def _steps_per_second(history, start, num_steps, elapsed, batch_size) -> float:
    """This run's speed, or, with nothing left to train, the one the run that trained logged."""
    if num_steps > start:
        return (num_steps - start) / elapsed
    rates = [m["examples_per_second"] for m in history if "examples_per_second" in m]
    return rates[-1] / batch_size if rates else float("nan")


def _open_checkpoints(workdir, checkpoint_dir: str, template, num_steps: int):
    """The checkpointer and the newest intact checkpoint ``(step, state)`` (or None), refusing
    one past ``num_steps``."""
    with _quiet_orbax():
        ckpt = workdir.checkpointer(checkpoint_dir)
        restored = _restore_newest_intact(ckpt, _abstract(template), workdir, checkpoint_dir)
    if restored is not None and restored[0] > num_steps:
        with _quiet_orbax():
            ckpt.close()
        raise ValueError(
            f"{workdir.path / checkpoint_dir} holds a checkpoint at step {restored[0]}, past "
            f"num_steps={num_steps}: that model trained longer than this config asks; "
            "use a new workdir"
        )
    return ckpt, restored


def _batch(key, step: int, train_set, batch_size: int, max_shift: int, mesh):
    """Step ``step``'s batch (the same for every run and process), placed on the mesh."""
    idx = data_lib.batch_indices(key, step, len(train_set.labels), batch_size)
    images = data_lib.random_shifts(key, step, train_set.images[idx], max_shift)
    return shard_batch(mesh, images, train_set.labels[idx])


class _State(NamedTuple):
    """What a step updates, replicated over the mesh."""

    params: Any
    batch_stats: Any
    opt_state: Any

    def checkpoint(self) -> dict:
        """What a checkpoint holds: the LeNet's hold no (empty) batch statistics."""
        state = {"params": self.params, "opt_state": self.opt_state}
        stats = {"batch_stats": self.batch_stats} if jax.tree.leaves(self.batch_stats) else {}
        return state | stats


class _Run(NamedTuple):
    """What the step loop of :func:`train` reads and does not change."""

    key: jax.Array
    config: Any
    workdir: Workdir
    checkpoint_dir: str
    mesh: jax.sharding.Mesh
    train_set: Any
    test_set: Any
    apply_fn: Callable
    step_fn: Callable
    ckpt: Any
    num_steps: int
    steps_per_epoch: int
    eval_every: int


def _steps(run: _Run, state: _State, start: int, resumed: bool) -> tuple[_State, float]:
    """Steps ``start`` to ``num_steps``: each loss checked for finiteness (a step late, so the
    host does not wait on the step it just launched), the log lines, test lines and checkpoints
    on their schedules. Returns the final state and the seconds the steps took."""
    config, workdir, checkpoint_dir = run.config, run.workdir, run.checkpoint_dir
    max_shift = int(config.get("max_shift", 0))
    windows = _Windows(workdir, checkpoint_dir)
    # the steps the interrupted run logged after the restored step go (all of them when
    # restarting from scratch), and so does what this run's schedule would not have logged
    # (the last line of a shorter run this one extends)
    keep = _on_schedule(config.log_every, run.eval_every, run.num_steps)
    workdir.truncate_metrics(start, keep=keep)
    # the steps since the last log line before the checkpoint, for the next line's means
    window: list[dict] = windows.get(start)
    if start:
        logging.info("resumed from the checkpoint at step %d of %d", start, run.num_steps)
    last_saved = start if resumed else None
    previous: tuple[int, Any] | None = None  # (step, metrics) not yet checked for finiteness
    t0 = time.perf_counter()
    for step in range(start, run.num_steps):
        images, labels = _batch(
            run.key, step, run.train_set, config.batch_size, max_shift, run.mesh
        )
        *updated, metrics = run.step_fn(*state, images, labels)
        state = _State(*updated)
        done = step + 1
        if previous is not None:  # the step before, most likely finished by now
            _check_finite(*previous, last_saved, workdir, checkpoint_dir, config)
        previous = (done, metrics)
        window.append(metrics)
        log_now = done % config.log_every == 0 or done == run.num_steps
        save_now = done % config.checkpoint_every == 0 or done == run.num_steps
        eval_now = run.eval_every and done % run.eval_every == 0 and done < run.num_steps
        if log_now or save_now or eval_now:
            _check_finite(*previous, last_saved, workdir, checkpoint_dir, config)
            previous = None
        if log_now:
            rate = (done - start) / (time.perf_counter() - t0)
            _log_line(workdir, done, run.num_steps, run.steps_per_epoch, window, rate, config)
            if done % config.log_every == 0:  # the last line, off the schedule, keeps it
                window = []
        if eval_now:
            test = (run.apply_fn, state.params, state.batch_stats, run.test_set, config, run.mesh)
            _log_test(workdir, done, *test)
        if save_now:
            windows.put(done, window, keep={c.step for c in run.ckpt.checkpoints})
            with _quiet_orbax():
                run.ckpt.save(done, state.checkpoint(), force=True)
            last_saved = done
    return state, time.perf_counter() - t0


def _result(run: _Run, state: _State, start: int, elapsed: float, graphdef) -> TrainResult:
    """The trained model's test metrics (logged on the last step's line unless a run before
    already did), in a :class:`TrainResult` of host arrays."""
    config, workdir, num_steps = run.config, run.workdir, run.num_steps
    apply_fn, test_set, mesh = run.apply_fn, run.test_set, run.mesh
    params, batch_stats = state.params, state.batch_stats
    state = nnx.merge_state(params, batch_stats)
    history = workdir.metrics()
    if history and history[-1]["step"] == num_steps and "test_accuracy" in history[-1]:
        test = evaluate(apply_fn, state, test_set, batch_size=config.eval_batch_size, mesh=mesh)
    else:
        test = _log_test(workdir, num_steps, apply_fn, params, batch_stats, test_set, config, mesh)
    logging.info("test loss %.4f  accuracy %.4f", test["loss"], test["accuracy"])
    speed = _steps_per_second(history, start, num_steps, elapsed, config.batch_size)
    # Hand back host arrays: the mesh is a detail of training, and callers mix the parameters
    # with arrays on the default device (or on a mesh of their own).
    return TrainResult(
        apply_fn, jax.device_get(state), workdir.metrics(), test, speed, start, graphdef
    )


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
    validate_config(config)
    mesh = data_mesh() if mesh is None else mesh
    n = len(train_set.labels)
    steps_per_epoch, num_steps = _schedule(config, n, len(test_set.labels))

    pure = pure_model(model)
    optimizer = make_optimizer(config, num_steps) if optimizer is None else optimizer
    params = replicate(mesh, pure.params)
    state = _State(
        params, replicate(mesh, pure.batch_stats), replicate(mesh, optimizer.init(params))
    )
    ckpt, restored = _open_checkpoints(workdir, checkpoint_dir, state.checkpoint(), num_steps)
    start = 0
    if restored is not None:
        start, saved = restored
        batch_stats = saved.get("batch_stats", state.batch_stats)
        state = _State(saved["params"], batch_stats, saved["opt_state"])
    run = _Run(
        key,
        config,
        workdir,
        checkpoint_dir,
        mesh,
        train_set,
        test_set,
        pure.apply_fn,
        make_stateful_train_step(pure.train_apply, optimizer),
        ckpt,
        num_steps,
        steps_per_epoch,
        int(config.get("eval_every", 0)),
    )
    try:
        state, elapsed = _steps(run, state, start, restored is not None)
    finally:
        with _quiet_orbax():
            ckpt.close()

    return _result(run, state, start, elapsed, pure.graphdef)
