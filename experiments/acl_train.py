"""AnaNN-LeNet and a four-layer AnaNN against their plain twins; family ablation; mosaics.

    python -m experiments.acl_train --workdir=runs/acl_train           # mnist_5k
    python -m experiments.acl_train --config.lenet_workdir=runs/train_lenet

Every network sees the same data (MatConvNet's preprocessing: 0-255 pixels minus the mean
training image) and the same schedule (``config.lenet``: batch, epochs, SGD momentum 0.9,
learning rate, weight decay, seed). The plain LeNet is :func:`train_lenet.run` (in
``lenet_workdir``, shared with other experiments); the plain four-layer net is
:func:`train.train`. The analytic networks are trained by :func:`train_analytic`, the same SGD
with two changes for the AKPs: the shape AKPs (sigma, theta, lambda, ...) get the learning
rate ``learning_rate * akp_lr_scale`` and no weight decay (their amplitudes and the plain
slices get the plain recipe). Every network has its own sub-workdir (``anann_lenet/``,
``plain_four/``, ``anann_four/``, ``ablation/freeze_<code>/``) with metrics and checkpoints,
so a rerun resumes everything.

Ablation (the paper's Figure 4b), one row per family of the AnaNN-LeNet arrangement:
``removed``: the trained net with that family's kernels set to zero in every layer (no
retraining); ``frozen``: the net trained from the same initialisation with that family's AKPs
frozen (``ablation.freeze_steps`` steps, a shorter schedule, against an unfrozen run of the
same length). Writes ``results.md``, ``ablation.md``, ``summary.json``,
``figures/mosaic_<layer>.png`` (Figure 4a: kernels per slice at init and after training,
framed by family colour), ``figures/training_curves.png`` and ``arrays/anann_lenet.npz``.
"""

import re
import time

import jax
import numpy as np
import optax
from flax import nnx

from analytic_jax import get_family, kernel_slices
from experiments import _app, train_lenet
from experiments.acl_fit import plot_mosaic
from experiments.core import train
from experiments.models import anann
from experiments.plots import figure
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


def _schedule(config):
    """The resolved LeNet schedule shared by every network (num_epochs filled in)."""
    sched = config.lenet.copy_and_resolve_references()
    with sched.unlocked():
        sched.num_epochs = train_lenet.num_epochs(sched)
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


def _removed(params, code: str):
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


def _mosaic_slices(params, layer: str, spec):
    tables = {c: np.asarray(params[layer][f"akp_{c}"]) for c in spec.family_order}
    from analytic_jax import mosaic_kernels

    return np.asarray(kernel_slices(mosaic_kernels(tables, spec)))


def _md_table(header, rows) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def run(config, workdir: str) -> dict:
    """Trains the four networks and the ablation; writes the workdir; returns the summary."""
    t_run = time.perf_counter()
    wd = Workdir(workdir)
    wd.write_config(config)
    sched = _schedule(config)
    mesh = train.data_mesh()
    key = jax.random.key(sched.seed)

    start = time.perf_counter()
    lenet = train_lenet.run(config.lenet, config.lenet_workdir or str(wd.path / "lenet"))
    train_set, test_set = lenet.train_set, lenet.test_set
    n_steps = _num_steps(sched, len(train_set.labels))
    plain_model = nnx.eval_shape(lambda: anann.AnaLeNet(arrangements={}, rngs=nnx.Rngs(0)))
    models = {
        "plain_lenet": _row(
            "plain_lenet",
            {"accuracy": lenet.summary["test_accuracy"], "loss": lenet.summary["test_loss"]},
            anann.conv_param_counts(plain_model),
            anann.conv_param_counts(plain_model, with_bias=True),
            time.perf_counter() - start,
            n_steps,
        )
    }  # fmt: skip

    lenet_arr = config.lenet_arrangements.to_dict()

    start = time.perf_counter()
    model = anann.build(
        lambda: anann.AnaLeNet(
            train_set.images.shape[-1],
            arrangements=lenet_arr,
            init_scale=sched.init_scale,
            rngs=nnx.Rngs(sched.seed),
        )
    )
    init_graphdef, init_state = nnx.split(model)
    init_state = jax.tree.map(np.asarray, init_state)  # host copy: training does not touch it
    init_params = nnx.to_pure_dict(init_state)

    def anann_lenet():
        return nnx.merge(init_graphdef, init_state)

    counts = anann.conv_param_counts(model)
    counts_bias = anann.conv_param_counts(model, with_bias=True)
    specs = {n: c.spec for n, c in anann.analytic_layers(model).items()}
    res = train_analytic(
        key, model, train_set, test_set, sched, Workdir(wd.path / "anann_lenet"),
        akp_lr_scale=config.akp_lr_scale, num_steps=n_steps,
    )  # fmt: skip
    models["anann_lenet"] = _row(
        "anann_lenet", res["test"], counts, counts_bias, time.perf_counter() - start, n_steps,
        res["steps_per_second"], sched.batch_size,
    )  # fmt: skip
    lenet_apply, lenet_params = res["apply_fn"], res["params"]

    four_convs = tuple(tuple(c) for c in config.four.convs)
    four_arr = config.four.arrangements.to_dict()
    if config.four.enabled:
        start = time.perf_counter()
        plain4 = anann.build(lambda: anann.FourLayerNet(
            train_set.images.shape[-1], convs=four_convs, init_scale=sched.init_scale,
            rngs=nnx.Rngs(sched.seed),
        ))  # fmt: skip
        c4 = anann.conv_param_counts(plain4)
        c4b = anann.conv_param_counts(plain4, with_bias=True)
        r4 = train.train(key, plain4, train_set, test_set, sched, Workdir(wd.path / "plain_four"))
        models["plain_four"] = _row(
            "plain_four", r4.test, c4, c4b, time.perf_counter() - start, n_steps,
            r4.steps_per_second, sched.batch_size,
        )  # fmt: skip
        start = time.perf_counter()
        ana4 = anann.build(lambda: anann.FourLayerNet(
            train_set.images.shape[-1], convs=four_convs, arrangements=four_arr,
            init_scale=sched.init_scale, rngs=nnx.Rngs(sched.seed),
        ))  # fmt: skip
        a4 = anann.conv_param_counts(ana4)
        a4b = anann.conv_param_counts(ana4, with_bias=True)
        r = train_analytic(
            key, ana4, train_set, test_set, sched, Workdir(wd.path / "anann_four"),
            akp_lr_scale=config.akp_lr_scale, num_steps=n_steps,
        )  # fmt: skip
        models["anann_four"] = _row(
            "anann_four", r["test"], a4, a4b, time.perf_counter() - start, n_steps,
            r["steps_per_second"], sched.batch_size,
        )  # fmt: skip

    # -- ablation (Figure 4b) ---------------------------------------------------------------
    start = time.perf_counter()
    families = list(dict.fromkeys(c for s in specs.values() for c in s.family_order))
    base_acc = models["anann_lenet"]["test_accuracy"]
    ablation = []
    freeze_steps = int(config.ablation.freeze_steps)
    frozen_base = None
    if freeze_steps > 0:
        r = train_analytic(
            key, anann_lenet(), train_set, test_set, sched,
            Workdir(wd.path / "ablation" / "freeze_none"),
            akp_lr_scale=config.akp_lr_scale, num_steps=freeze_steps,
        )  # fmt: skip
        frozen_base = r["test"]["accuracy"]
    for code in families:
        removed = train.evaluate(
            lenet_apply, _removed(lenet_params, code), test_set,
            batch_size=sched.eval_batch_size, mesh=mesh,
        )  # fmt: skip
        n_slices = sum(s.counts.get(code, 0) for s in specs.values())
        n_params = sum(
            s.counts.get(code, 0) * get_family(code).n_params(s.kernel_size) for s in specs.values()
        )
        row = {
            "family": code,
            "slices": n_slices,
            "params": n_params,
            "removed_accuracy": removed["accuracy"],
            "removed_change": removed["accuracy"] - base_acc,
        }
        if freeze_steps > 0:
            r = train_analytic(
                key, anann_lenet(), train_set, test_set, sched,
                Workdir(wd.path / "ablation" / f"freeze_{code}"),
                akp_lr_scale=config.akp_lr_scale, frozen=(code,), num_steps=freeze_steps,
            )  # fmt: skip
            row["frozen_accuracy"] = r["test"]["accuracy"]
            row["frozen_change"] = r["test"]["accuracy"] - frozen_base
        ablation.append(row)
    ablation_seconds = time.perf_counter() - start

    # -- tables -----------------------------------------------------------------------------
    rows = []
    for name, m in models.items():
        c = m["conv_params"]
        rows.append([name, f"{m['test_accuracy']:.4f}", *(c[k] for k in anann.CONV_NAMES),
                     m["conv_params_total"], m["conv_params_with_bias_total"],
                     f"{m['wall_seconds']:.0f}"])  # fmt: skip
    comparisons = {}
    for plain, ana in (("plain_lenet", "anann_lenet"), ("plain_four", "anann_four")):
        if plain in models and ana in models:
            p, a = models[plain], models[ana]
            comparisons[ana] = {
                "accuracy_change_points": 100 * (a["test_accuracy"] - p["test_accuracy"]),
                "conv_param_reduction": 1 - a["conv_params_total"] / p["conv_params_total"],
            }
    lenet_cmp = comparisons["anann_lenet"]
    acceptance = bool(
        lenet_cmp["accuracy_change_points"] >= -1.0 and lenet_cmp["conv_param_reduction"] >= 0.4
    )
    text = (
        f"# AnaNN vs plain on {sched.dataset} ({n_steps} steps, batch {sched.batch_size}, "
        f"lr {sched.learning_rate}, AKP lr x{config.akp_lr_scale})\n\n"
        + _md_table(
            [
                "model",
                "test acc",
                "conv1",
                "conv2",
                "conv3",
                "conv4",
                "conv kernels",
                "with biases",
                "wall s",
            ],
            rows,
        )  # fmt: skip
        + "\n"
        + "".join(
            f"* {k}: accuracy change {v['accuracy_change_points']:+.2f} points, "
            f"conv params -{100 * v['conv_param_reduction']:.1f}%\n"
            for k, v in comparisons.items()
        )
        + f"* acceptance (AnaNN-LeNet within 1 point, >= 40% fewer conv params): {acceptance}\n"
    )
    wd.write_text("results.md", text)
    head = ["family", "slices", "params", "removed acc", "change"]
    if freeze_steps > 0:
        head += [f"frozen acc ({freeze_steps} steps)", "change vs unfrozen"]
    arows = []
    for r in ablation:
        vals = [r["family"], r["slices"], r["params"], f"{r['removed_accuracy']:.4f}",
                f"{100 * r['removed_change']:+.2f}"]  # fmt: skip
        if freeze_steps > 0:
            vals += [f"{r['frozen_accuracy']:.4f}", f"{100 * r['frozen_change']:+.2f}"]
        arows.append(vals)
    wd.write_text(
        "ablation.md",
        f"# Family ablation of AnaNN-LeNet (test accuracy {base_acc:.4f}"
        + (f"; unfrozen {freeze_steps}-step run {frozen_base:.4f}" if frozen_base else "")
        + ")\n\nchanges in points\n\n"
        + _md_table(head, arows),
    )

    # -- figures ----------------------------------------------------------------------------
    layer = config.mosaic_layer
    spec = specs[layer]
    init_slices = _mosaic_slices(init_params, layer, spec)
    learned = nnx.to_pure_dict(lenet_params)
    learned_slices = _mosaic_slices(learned, layer, spec)
    m = min(config.mosaic_max_slices, spec.n_slices)
    fig = plot_mosaic(
        [init_slices[:m], learned_slices[:m]],
        spec.codes[:m],
        ["at initialisation", "after training"],
        f"AnaNN-LeNet {layer} {spec.arrangement}",
    )
    wd.save_figure(f"mosaic_{layer}", fig)
    wd.save_arrays(
        "anann_lenet",
        **{f"{n}_init": _mosaic_slices(init_params, n, s) for n, s in specs.items()},
        **{f"{n}_learned": _mosaic_slices(learned, n, s) for n, s in specs.items()},
    )
    fig, ax = figure(figsize=(6, 3.5))
    for name, sub in (("plain_lenet", None), ("anann_lenet", "anann_lenet"),
                      ("plain_four", "plain_four"), ("anann_four", "anann_four")):  # fmt: skip
        if name not in models:
            continue
        path = (
            Workdir(config.lenet_workdir or wd.path / "lenet")
            if sub is None
            else Workdir(wd.path / sub)
        )
        hist = [h for h in path.metrics() if "train_loss" in h]
        ax.plot([h["step"] for h in hist], [h["train_loss"] for h in hist], label=name)
    ax.set(xlabel="step", ylabel="training cross-entropy", yscale="log")
    ax.legend()
    wd.save_figure("training_curves", fig)

    summary = {
        "dataset": sched.dataset,
        "num_steps": n_steps,
        "akp_lr_scale": config.akp_lr_scale,
        "arrangements": {"lenet": lenet_arr, "four": four_arr},
        "models": models,
        "comparisons": comparisons,
        "acceptance": acceptance,
        "ablation": ablation,
        "ablation_freeze_steps": freeze_steps,
        "ablation_unfrozen_accuracy": frozen_base,
        "ablation_seconds": ablation_seconds,
        "wall_seconds": time.perf_counter() - t_run,
    }
    wd.write_summary(summary)
    return summary


if __name__ == "__main__":
    _app.launch(run, "acl_train")
