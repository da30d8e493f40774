"""Benchmark suite 'analytic': one AnaNN-LeNet training step against the plain LeNet step.

Both models are MatConvNet's MNIST LeNet (conv 20@5x5, maxpool 2, conv 50@5x5, maxpool 2,
conv 500@4x4, ReLU, conv 10@1x1; VALID padding, 28x28x1 inputs) trained by the same jitted
step (softmax cross-entropy, SGD with momentum 0.9) on the same batch of 100. In AnaNN-LeNet the
first three convolutions are :class:`analytic_jax.AnalyticConv` mosaics
(``anann.LENET_ARRANGEMENTS``, the models of ``acl_train``),
whose kernels are rebuilt from their AKPs inside every step; conv4 (1x1) stays plain. The
arrangements give far fewer conv parameters (reported in ``notes``); the goal (issue 14) is a
step at most 1.1x the plain one, i.e. ``plain / analytic >= 1 / 1.1``.
"""

import json
import statistics
import time

import jax
import optax
from flax import nnx

from experiments.benchmarks.timing import program_ops, ratio, row, time_fn
from experiments.models import anann

BATCH = 100
ROUNDS = 5
CASE = "lenet_train_step_b100"
STEP_GOAL = 1.1  # AnaNN-LeNet step at most this many plain steps


def make_step(model: nnx.Module, tx: optax.GradientTransformation):
    """A jitted SGD step ``(params, opt_state, x, y) -> (params, opt_state, loss)``."""
    graphdef, params = nnx.split(model, nnx.Param)

    def loss_fn(p, x, y):
        logits = nnx.merge(graphdef, p)(x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def step(p, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(p, x, y)
        updates, opt_state = tx.update(grads, opt_state, p)
        return optax.apply_updates(p, updates), opt_state, loss

    return step, params


def run(*, repeats: int = 5) -> dict:
    """Times both training steps in this process; see the module docstring."""
    kx, ky = jax.random.split(jax.random.key(0))
    x = jax.random.uniform(kx, (BATCH, 28, 28, 1))
    y = jax.random.randint(ky, (BATCH,), 0, 10)
    tx = optax.sgd(1e-3, momentum=0.9)
    steps, counts, compile_s, medians, ops = {}, {}, {}, {}, {}
    for impl, arrangements in (("plain_lenet", {}), ("anann_lenet", anann.LENET_ARRANGEMENTS)):
        model = anann.build(
            lambda a=arrangements: anann.AnaLeNet(arrangements=a, init_scale=None, rngs=nnx.Rngs(0))
        )
        counts[impl] = sum(anann.conv_param_counts(model).values())
        step, params = make_step(model, tx)
        steps[impl] = (step, params, tx.init(params))
        _, compile_s[impl] = time_fn(step, *steps[impl][1:], x, y, repeats=1, warmup=1)
        ops[impl] = program_ops(step, *steps[impl][1:], x, y)
    # alternate the two in rounds so that a load change on the machine hits both alike
    rounds = {impl: [] for impl in steps}
    cpu = {impl: [] for impl in steps}  # process CPU time: less sensitive to a shared machine
    for _ in range(ROUNDS):
        for impl, (step, params, opt_state) in steps.items():
            start = time.process_time()
            rounds[impl].append(time_fn(step, params, opt_state, x, y, repeats=repeats)[0])
            cpu[impl].append((time.process_time() - start) / (repeats + 1))
    rows = []
    for impl in steps:
        medians[impl] = statistics.median(rounds[impl])
        rows.append(row(CASE, impl, medians[impl], compile_s[impl]))
    reduction = 1.0 - counts["anann_lenet"] / counts["plain_lenet"]
    return {
        "rows": rows,
        "ratios": {
            f"plain_step / anann_step (AnaNN-LeNet step <= {STEP_GOAL}x plain)": ratio(
                medians["plain_lenet"] / medians["anann_lenet"], 1 / STEP_GOAL
            )
        },
        "notes": {
            "device": str(jax.devices()[0].device_kind),
            "arrangements": dict(anann.LENET_ARRANGEMENTS),
            "conv_kernel_params": counts,
            "conv_param_reduction": reduction,
            "compiled_step_ops": ops,
            "cpu_s_per_step": {impl: statistics.median(v) for impl, v in cpu.items()},
            "cpu_time_ratio_plain_over_anann": statistics.median(cpu["plain_lenet"])
            / statistics.median(cpu["anann_lenet"]),
        },
    }


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
