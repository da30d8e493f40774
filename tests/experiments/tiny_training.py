"""A tiny training run (one conv layer, 64 examples, 6 steps) for the resume tests, and a worker
that trains it in a separate process and kills itself at a chosen point.

    python -m tests.experiments.tiny_training WORKDIR MODE

MODE is ``full`` (train to the end), ``kill_at_step=N`` (SIGKILL while fetching the batch of
step N) or ``kill_in_save=N`` (SIGKILL inside orbax's save of step N: the data is written, the
temporary folder not yet renamed into place).
"""

import os
import signal
import sys

import jax
import numpy as np
from flax import nnx

from experiments.core import train
from experiments.workdir import Workdir


class TinyNet(nnx.Module):
    def __init__(self, rngs: nnx.Rngs):
        self.conv = nnx.Conv(1, 3, (3, 3), strides=(3, 3), rngs=rngs)
        self.dense = nnx.Linear(3 * 4 * 4, 10, rngs=rngs)

    def __call__(self, x):
        h = jax.nn.relu(self.conv(x))
        return self.dense(h.reshape(h.shape[0], -1))


def tiny_sets(n_train: int = 64, n_test: int = 32):
    rng = np.random.default_rng(7)
    proto = rng.normal(size=(10, 12, 12, 1)).astype(np.float32)
    ytr, yte = rng.integers(0, 10, n_train), rng.integers(0, 10, n_test)
    noise = lambda n: 0.5 * rng.normal(size=(n, 12, 12, 1)).astype(np.float32)
    return (
        train.Dataset(proto[ytr] + noise(n_train), ytr.astype(np.int32)),
        train.Dataset(proto[yte] + noise(n_test), yte.astype(np.int32)),
    )


def tiny_config(**overrides):
    import ml_collections

    c = ml_collections.ConfigDict()
    c.seed = 0
    c.batch_size = 16
    c.eval_batch_size = 32
    c.learning_rate = 0.05
    c.momentum = 0.9
    c.weight_decay = 5e-4
    c.num_epochs = 1
    c.num_steps = 6
    c.log_every = 2
    c.checkpoint_every = 3
    c.update(overrides)
    return c


def run(workdir, config=None, train_set=None) -> train.TrainResult:
    config = tiny_config() if config is None else config
    sets = tiny_sets()
    train_set = sets[0] if train_set is None else train_set
    model = TinyNet(nnx.Rngs(0))
    return train.train(jax.random.key(0), model, train_set, sets[1], config, Workdir(workdir))


def _kill():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def main(workdir: str, mode: str) -> None:
    if mode.startswith("kill_at_step="):
        at = int(mode.split("=")[1])
        original = train.data_lib.batch_indices

        def batch_indices(key, step, *args):
            if step == at:
                _kill()
            return original(key, step, *args)

        train.data_lib.batch_indices = batch_indices
    elif mode.startswith("kill_in_save="):
        from orbax.checkpoint._src.path import atomicity

        name = mode.split("=")[1]
        original_rename = atomicity.async_path.rename

        async def rename(src, dst, *args, **kwargs):
            if os.path.basename(str(dst)) == name:
                _kill()
            return await original_rename(src, dst, *args, **kwargs)

        atomicity.async_path.rename = rename
    elif mode != "full":
        raise SystemExit(f"unknown mode {mode!r}")
    run(workdir)


if __name__ == "__main__":
    jax.config.update("jax_num_cpu_devices", 8)
    main(*sys.argv[1:])
