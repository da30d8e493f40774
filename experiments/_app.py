"""The one absl helper behind every entry point.

Each experiment module defines ``run(config, workdir)`` (importable, never reads flags, so a
Colab notebook can call it) and ends with::

    if __name__ == "__main__":
        _app.launch(run, "train_lenet")

which gives it ``--config`` (an ml_collections config file, default
``experiments/configs/<name>.py``; ``--config=path.py:smoke`` selects a variant and
``--config.field=value`` overrides a field), ``--workdir`` (default ``runs/<name>``) and
``--distributed`` (call ``jax.distributed.initialize()`` first, for multi-host runs: see
:func:`initialize_distributed`).

A ``ValueError`` (bad config or data, a rerun with another config) or a diverged run ends the
program with one line ``<name>: error: ...`` on stderr and exit status 1.
"""

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


def config_path(name: str) -> str:
    """The path of the default config file of experiment ``name``."""
    return str(CONFIG_DIR / f"{name}.py")


def load_config(name: str, variant: str | None = None):
    """Loads ``experiments/configs/<name>.py`` the way ``--config`` does (for notebooks/tests)."""
    import importlib

    module = importlib.import_module(f"experiments.configs.{name}")
    return module.get_config(variant) if variant else module.get_config()


def initialize_distributed() -> None:
    """``jax.distributed.initialize()``, given the process count and id by the environment
    variables ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` where the cluster (TPU pod, SLURM,
    Open MPI) does not say them itself; ``JAX_COORDINATOR_ADDRESS`` gives the coordinator."""
    import os

    import jax

    kwargs = {}
    for variable, argument in (
        ("JAX_NUM_PROCESSES", "num_processes"),
        ("JAX_PROCESS_ID", "process_id"),
    ):
        if os.environ.get(variable):
            kwargs[argument] = int(os.environ[variable])
    jax.distributed.initialize(**kwargs)


def launch(run: Callable[[Any, str], Any], name: str) -> None:
    """Defines the flags and runs ``run(FLAGS.config, FLAGS.workdir)`` under ``absl.app``."""
    from absl import app, flags, logging
    from ml_collections import config_flags

    config_flag = config_flags.DEFINE_config_file(
        "config", config_path(name), "Experiment config file (path[:variant]).", lock_config=True
    )
    workdir_flag = flags.DEFINE_string("workdir", f"runs/{name}", "Where the run writes.")
    distributed_flag = flags.DEFINE_bool(
        "distributed", False, "Call jax.distributed.initialize() (multi-host runs)."
    )

    def main(argv):
        if len(argv) > 1:
            raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
        import jax

        if distributed_flag.value:
            initialize_distributed()
        logging.info("%s on %s: %s", name, jax.default_backend(), jax.devices())
        try:
            run(config_flag.value, workdir_flag.value)
        except (ValueError, FloatingPointError) as err:
            # bad input, a refused rerun or a diverged run: one line, exit status 1 (the
            # traceback with --verbosity=1)
            logging.debug("traceback", exc_info=True)
            message = " ".join(str(err).split("\n"))
            sys.stderr.write(f"{name}: error: {type(err).__name__}: {message}\n")
            sys.stderr.flush()
            raise SystemExit(1) from None
        return None

    app.run(main)
