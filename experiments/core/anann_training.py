"""Training the AnaNNs of ``acl_train``: the analytic optimizer (per-scalar learning rates and
decay masks for the AKPs), the AnaNN-LeNet and the four-layer nets against their plain twins,
and the family ablation. Each network trains (or resumes) in its own sub-workdir."""

import re
import time
from typing import NamedTuple

import jax
import numpy as np
import optax
from flax import nnx

from analytic_jax import get_family, kernel_slices, mosaic_kernels
from experiments.configs.common import num_epochs
from experiments.core import train
from experiments.models import anann
from experiments.workdir import Workdir

_AKP = re.compile(r"akp_([A-Z][a-z]*)")


def _akp_code(path) -> str | None:
    m = _AKP.search(jax.tree_util.keystr(path))
    return m.group(1) if m else None


def optimizer_trees(params, *, akp_lr_scale: float, frozen: tuple[str, ...] = ()):
    """Per-scalar learning-rate factors and weight-decay masks for :func:`train_analytic`.

    Analytic AKP tables ``(n, p)``: column 0 (amplitude) factor 1 with decay, the shape columns
    factor ``akp_lr_scale`` without decay; plain slices, plain convs and biases: 1 with decay;
    every AKP of a family in ``frozen``: factor 0.
    """

    def lr(path, x):
        code = _akp_code(path)
        if code is None or (get_family(code).plain and code not in frozen):
            return np.ones(x.shape, np.float32)
        if code in frozen:
            return np.zeros(x.shape, np.float32)
        out = np.full(x.shape, akp_lr_scale, np.float32)
        out[:, 0] = 1.0
        return out

    def decay(path, x):
        code = _akp_code(path)
        if code is None or get_family(code).plain:
            return np.ones(x.shape, np.float32)
        out = np.zeros(x.shape, np.float32)
        out[:, 0] = 1.0
        return out

    return jax.tree.map_with_path(lr, params), jax.tree.map_with_path(decay, params)


def analytic_optimizer(config, lr_tree, decay_tree) -> optax.GradientTransformation:
    """``train.make_optimizer``'s SGD (L2 decay, momentum) with a per-scalar learning-rate
    factor and weight-decay mask (:func:`optimizer_trees`):
    ``m <- momentum m + g + wd d p``, ``p <- p - lr s m``."""

    def decay(updates, state, params):
        wd = config.weight_decay
        return jax.tree.map(lambda g, p, d: g + wd * d * p, updates, params, decay_tree), state

    def scale(updates, state, params=None):
        lr = config.learning_rate
        return jax.tree.map(lambda m, s: -lr * s * m, updates, lr_tree), state

    def stateless(update):
        return optax.GradientTransformation(lambda params: optax.EmptyState(), update)

    return optax.chain(stateless(decay), optax.trace(decay=config.momentum), stateless(scale))


def train_analytic(
    key: jax.Array,
    model: nnx.Module,
    train_set: train.Dataset,
    test_set: train.Dataset,
    config,
    workdir: Workdir,
    *,
    akp_lr_scale: float,
    frozen: tuple[str, ...] = (),
    num_steps: int,
) -> dict:
    """Trains (or resumes) a model with AnalyticConv layers: :func:`train.train` (same batch
    order, logging and checkpoints) with :func:`analytic_optimizer`. Returns ``{"graphdef",
    "apply_fn", "params" (host), "test", "steps_per_second", "resumed_from"}``."""
    graphdef, params = nnx.split(model)
    lr_tree, decay_tree = optimizer_trees(params, akp_lr_scale=akp_lr_scale, frozen=frozen)
    config = config.copy_and_resolve_references()
    with config.unlocked():
        config.num_steps = int(num_steps)
    result = train.train(
        key,
        model,
        train_set,
        test_set,
        config,
        workdir,
        optimizer=analytic_optimizer(config, lr_tree, decay_tree),
    )
    return {
        "graphdef": graphdef,
        "apply_fn": result.apply_fn,
        "params": result.params,
        "test": result.test,
        "steps_per_second": result.steps_per_second,
        "resumed_from": result.resumed_from,
    }


def schedule(config):
    """The resolved LeNet schedule shared by every network (num_epochs filled in)."""
    sched = config.nets.lenet.copy_and_resolve_references()
    with sched.unlocked():
        sched.num_epochs = num_epochs(sched, config.data.dataset)
    return sched


def _num_steps(sched, n: int) -> int:
    return int(sched.get("num_steps", 0) or sched.num_epochs * (n // sched.batch_size))


def _row(name, test, counts, counts_bias, wall, steps, speed=None, batch=None):
    row = {
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "conv_params": counts,
        "conv_params_total": sum(counts.values()),
        "conv_params_with_bias_total": sum(counts_bias.values()),
        "wall_seconds": wall,
        "steps": steps,
    }
    if speed is not None:
        row["examples_per_second"] = speed * batch
    return row


def removed(params, code: str):
    """The params with every slice of family ``code`` set to zero (amplitude 0 / plain 0)."""

    def zero(path, x):
        if _akp_code(path) != code:
            return x
        x = np.array(x)
        if get_family(code).plain:
            x[:] = 0.0
        else:
            x[:, 0] = 0.0
        return x

    return jax.tree.map_with_path(zero, params)


def mosaic_slices(params, layer: str, spec):
    tables = {c: np.asarray(params[layer][f"akp_{c}"]) for c in spec.family_order}
    return np.asarray(kernel_slices(mosaic_kernels(tables, spec)))


class Study(NamedTuple):
    """What ``acl_train`` trained and measured."""

    num_steps: int
    models: dict  # name -> row (accuracy, conv parameters, wall time, speed)
    comparisons: dict  # AnaNN name -> accuracy change and conv parameter reduction
    acceptance: bool  # AnaNN-LeNet within 1 point and >= 40% fewer conv parameters
    ablation: list  # one row per family
    freeze_steps: int
    frozen_base: float | None  # the unfrozen ablation run's accuracy
    ablation_seconds: float
    specs: dict  # AnaNN-LeNet layer -> MosaicSpec
    init_params: dict  # AnaNN-LeNet at initialisation (pure dict)
    learned_params: dict  # after training
    arrangements: dict  # {'lenet': ..., 'four': ...}


def _anann_lenet(key, config, sched, sets, wd, n_steps):
    model = anann.build(
        lambda: anann.AnaLeNet(
            sets[0].images.shape[-1],
            arrangements=config.lenet_arrangements.to_dict(),
            init_scale=sched.init_scale,
            rngs=nnx.Rngs(sched.seed),
        )
    )
    graphdef, state = nnx.split(model)
    state = jax.tree.map(np.asarray, state)  # host copy: training does not touch it
    counts = anann.conv_param_counts(model), anann.conv_param_counts(model, with_bias=True)
    specs = {n: c.spec for n, c in anann.analytic_layers(model).items()}
    start = time.perf_counter()
    res = train_analytic(
        key, model, *sets, sched, Workdir(wd.path / "anann_lenet"),
        akp_lr_scale=config.akp_lr_scale, num_steps=n_steps,
    )  # fmt: skip
    row = _row(
        "anann_lenet", res["test"], *counts, time.perf_counter() - start, n_steps,
        res["steps_per_second"], sched.batch_size,
    )  # fmt: skip
    return row, res, specs, (lambda: nnx.merge(graphdef, state)), nnx.to_pure_dict(state)


def _four_layer_nets(key, config, sched, sets, wd, n_steps) -> dict:
    convs = tuple(tuple(c) for c in config.four.convs)
    rows = {}
    for name, arrangements in (("plain_four", None), ("anann_four", config.four.arrangements)):
        start = time.perf_counter()
        kw = {} if arrangements is None else {"arrangements": arrangements.to_dict()}
        model = anann.build(lambda kw=kw: anann.FourLayerNet(
            sets[0].images.shape[-1], convs=convs, init_scale=sched.init_scale,
            rngs=nnx.Rngs(sched.seed), **kw,
        ))  # fmt: skip
        counts = anann.conv_param_counts(model), anann.conv_param_counts(model, with_bias=True)
        if arrangements is None:
            r = train.train(key, model, *sets, sched, Workdir(wd.path / name))
            test, speed = r.test, r.steps_per_second
        else:
            r = train_analytic(
                key, model, *sets, sched, Workdir(wd.path / name),
                akp_lr_scale=config.akp_lr_scale, num_steps=n_steps,
            )  # fmt: skip
            test, speed = r["test"], r["steps_per_second"]
        rows[name] = _row(
            name, test, *counts, time.perf_counter() - start, n_steps, speed, sched.batch_size
        )
    return rows


def _ablation(key, config, sched, sets, wd, res, specs, fresh, base_acc):
    """Every family removed from the trained AnaNN-LeNet, and (``freeze_steps > 0``) frozen at
    its initial AKPs in a short run against an unfrozen one."""
    freeze_steps = int(config.ablation.freeze_steps)
    kw = dict(akp_lr_scale=config.akp_lr_scale, num_steps=freeze_steps)
    frozen_base = None
    if freeze_steps > 0:
        r = train_analytic(
            key, fresh(), *sets, sched, Workdir(wd.path / "ablation" / "freeze_none"), **kw
        )
        frozen_base = r["test"]["accuracy"]
    rows = []
    for code in dict.fromkeys(c for s in specs.values() for c in s.family_order):
        removed_test = train.evaluate(
            res["apply_fn"], removed(res["params"], code), sets[1],
            batch_size=sched.eval_batch_size, mesh=train.data_mesh(),
        )  # fmt: skip
        row = {
            "family": code,
            "slices": sum(s.counts.get(code, 0) for s in specs.values()),
            "params": sum(
                s.counts.get(code, 0) * get_family(code).n_params(s.kernel_size)
                for s in specs.values()
            ),
            "removed_accuracy": removed_test["accuracy"],
            "removed_change": removed_test["accuracy"] - base_acc,
        }
        if freeze_steps > 0:
            out = Workdir(wd.path / "ablation" / f"freeze_{code}")
            r = train_analytic(key, fresh(), *sets, sched, out, frozen=(code,), **kw)
            row["frozen_accuracy"] = r["test"]["accuracy"]
            row["frozen_change"] = r["test"]["accuracy"] - frozen_base
        rows.append(row)
    return rows, freeze_steps, frozen_base


def _comparisons(models: dict) -> dict:
    out = {}
    for plain, ana in (("plain_lenet", "anann_lenet"), ("plain_four", "anann_four")):
        if plain in models and ana in models:
            p, a = models[plain], models[ana]
            out[ana] = {
                "accuracy_change_points": 100 * (a["test_accuracy"] - p["test_accuracy"]),
                "conv_param_reduction": 1 - a["conv_params_total"] / p["conv_params_total"],
            }
    return out


def study(config, lenet, data, wd: Workdir) -> Study:
    """The AnaNNs of ``config`` trained with the plain LeNet's (``lenet``, trained) schedule on
    its preprocessing of ``data``, compared with their plain twins, and the ablation."""
    sched = schedule(config)
    key = jax.random.key(sched.seed)
    sets = tuple(
        train.Dataset(lenet.preprocess(split.images), split.labels)
        for split in (data.train, data.test)
    )
    n_steps = _num_steps(sched, len(sets[0].labels))
    plain = nnx.eval_shape(lambda: anann.AnaLeNet(arrangements={}, rngs=nnx.Rngs(0)))
    test = {"accuracy": lenet.summary["test_accuracy"], "loss": lenet.summary["test_loss"]}
    counts = anann.conv_param_counts(plain), anann.conv_param_counts(plain, with_bias=True)
    models = {
        "plain_lenet": _row("plain_lenet", test, *counts, lenet.summary["wall_seconds"], n_steps)
    }
    row, res, specs, fresh, init_params = _anann_lenet(key, config, sched, sets, wd, n_steps)
    models["anann_lenet"] = row
    if config.four.enabled:
        models |= _four_layer_nets(key, config, sched, sets, wd, n_steps)
    start = time.perf_counter()
    ablation, freeze_steps, frozen_base = _ablation(
        key, config, sched, sets, wd, res, specs, fresh, row["test_accuracy"]
    )
    comparisons = _comparisons(models)
    lenet_cmp = comparisons["anann_lenet"]
    acceptance = bool(
        lenet_cmp["accuracy_change_points"] >= -1.0 and lenet_cmp["conv_param_reduction"] >= 0.4
    )
    return Study(
        n_steps, models, comparisons, acceptance, ablation, freeze_steps, frozen_base,
        time.perf_counter() - start, specs, init_params, nnx.to_pure_dict(res["params"]),
        {"lenet": config.lenet_arrangements.to_dict(), "four": config.four.arrangements.to_dict()},
    )  # fmt: skip
