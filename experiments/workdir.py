"""The workdir contract: the only module that writes what an experiment produces.

A workdir holds::

    config.json          the run's configuration
    metrics.jsonl        one JSON object per line, each with a "step"
    summary.json         final scalars, jax version, devices, git revision (if any)
    figures/*.png        matplotlib figures (Agg)
    arrays/*.npz         numpy arrays
    checkpoints/<step>/  orbax v1 checkpoints
    *.html, *.json       reports written with ``write_text`` / ``write_json``

Every file is written to a temporary name in the same folder and renamed into place, so a run
that is killed never leaves a half-written file. Only process 0 writes; the other processes of
a multi-host run get the same object with every write a no-op (orbax checkpoints are the
exception: every process takes part in them, as orbax requires).
"""

import io
import json
import os
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, jax.Array)):
        arr = np.asarray(value)
        return arr.item() if arr.ndim == 0 else arr.tolist()
    if isinstance(value, (np.generic,)):
        return value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    if hasattr(value, "to_dict"):  # ml_collections.ConfigDict
        return _jsonable(value.to_dict())
    return value


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Writes ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    return path


def git_revision() -> str | None:
    """The git revision of the cnn-lens checkout, or None outside a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def environment() -> dict:
    """The jax version, the devices and the git revision, recorded in every summary."""
    return {
        "jax_version": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "device_count": jax.device_count(),
        "process_count": jax.process_count(),
        "git_revision": git_revision(),
    }


class Workdir:
    """Writes the files of one run's workdir (see the module docstring)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.is_writer = jax.process_index() == 0
        if self.is_writer:
            self.path.mkdir(parents=True, exist_ok=True)

    # -- JSON files -------------------------------------------------------------------------
    def write_json(self, name: str, obj: Any) -> Path:
        path = self.path / name
        if self.is_writer:
            text = json.dumps(_jsonable(obj), indent=2, sort_keys=True)
            atomic_write_bytes(path, (text + "\n").encode())
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        if self.is_writer:
            atomic_write_bytes(path, text.encode())
        return path

    def read_json(self, name: str) -> Any:
        path = self.path / name
        return json.loads(path.read_text()) if path.is_file() else None

    def write_config(self, config: Any) -> Path:
        return self.write_json("config.json", config)

    def write_summary(self, scalars: Mapping[str, Any]) -> Path:
        """Writes ``summary.json``: the given numbers plus :func:`environment`."""
        return self.write_json("summary.json", {**_jsonable(scalars), "environment": environment()})

    # -- metrics ----------------------------------------------------------------------------
    def metrics(self) -> list[dict]:
        """The lines of ``metrics.jsonl`` written so far."""
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def log_metrics(self, step: int, **scalars: Any) -> None:
        """Appends one JSON object ``{"step": step, **scalars}`` to ``metrics.jsonl``."""
        if not self.is_writer:
            return
        lines = self.metrics()
        lines.append({"step": int(step), **_jsonable(scalars)})
        self._write_metrics(lines)

    def truncate_metrics(self, after_step: int) -> None:
        """Drops metric lines with ``step > after_step`` (a resumed run will log them again)."""
        if not self.is_writer:
            return
        lines = self.metrics()
        kept = [m for m in lines if m.get("step", 0) <= after_step]
        if len(kept) != len(lines):
            self._write_metrics(kept)

    def _write_metrics(self, lines: list[dict]) -> None:
        text = "".join(json.dumps(m, sort_keys=True) + "\n" for m in lines)
        atomic_write_bytes(self.path / "metrics.jsonl", text.encode())

    # -- figures and arrays -----------------------------------------------------------------
    def save_figure(self, name: str, fig: Any) -> Path:
        """Saves a matplotlib figure as ``figures/<name>.png`` and closes it."""
        path = self.path / "figures" / f"{name}.png"
        if self.is_writer:
            buf = io.BytesIO()
            fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
            atomic_write_bytes(path, buf.getvalue())
        import matplotlib.pyplot as plt

        plt.close(fig)
        return path

    def save_arrays(self, name: str, **arrays: Any) -> Path:
        """Saves ``arrays/<name>.npz``."""
        path = self.path / "arrays" / f"{name}.npz"
        if self.is_writer:
            buf = io.BytesIO()
            np.savez_compressed(buf, **{k: np.asarray(v) for k, v in arrays.items()})
            atomic_write_bytes(path, buf.getvalue())
        return path

    def load_arrays(self, name: str) -> dict[str, np.ndarray] | None:
        path = self.path / "arrays" / f"{name}.npz"
        if not path.is_file():
            return None
        with np.load(path) as f:
            return dict(f)

    # -- checkpoints ------------------------------------------------------------------------
    def checkpointer(self, subdir: str = "checkpoints"):
        """An orbax v1 ``training.Checkpointer`` on ``<workdir>/<subdir>``.

        It saves only when asked with ``force=True`` (the training loop decides when) and keeps
        the three newest steps.
        """
        from orbax.checkpoint.experimental import v1 as ocp

        policies = ocp.training.save_decision_policies
        return ocp.training.Checkpointer(
            (self.path / subdir).absolute(),
            save_decision_policy=policies.FixedIntervalPolicy(1 << 62),
            preservation_policy=ocp.training.preservation_policies.LatestN(3),
            cleanup_tmp_directories=True,
        )
