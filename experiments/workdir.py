"""The workdir contract: the only module that writes what an experiment produces.

A workdir holds::

    config.json          the run's configuration
    metrics.jsonl        one JSON object per line, each with a "step"
    summary.json         final scalars, jax version, devices, git revision (if any)
    figures/*.png        matplotlib figures (Agg)
    arrays/*.npz         numpy arrays
    checkpoints/<step>/  orbax v1 checkpoints
    checkpoints.window.json   the metrics since the last log line at each checkpoint step
    checkpoints.corrupt/      checkpoints that could not be read, set aside
    *.html, *.json       reports written with ``write_text`` / ``write_json``

Every file is written to a temporary name in the same folder and renamed into place, so a run
that is killed never leaves a half-written file; the temporary files a killed run left behind
are removed when the next run opens the workdir. ``metrics.jsonl`` whose last line was torn
(appended to by hand, or a full disk) loses that line with a warning.

A workdir belongs to one configuration: :meth:`Workdir.write_config` refuses a config that
differs from the ``config.json`` already there in any field that changes the result (all but
:data:`HARMLESS_FIELDS`), listing the fields; with ``resume_policy='extend'`` the run length
(:data:`LENGTH_FIELDS`) may change too, unless a ``schedule='cosine'`` spans it.

Only process 0 writes; the other processes of a multi-host run get the same object with every
write a no-op (orbax checkpoints are the exception: every process takes part in them, as orbax
requires).
"""

import io
import json
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
from absl import logging

# Config fields a rerun may change without changing what the run computes.
HARMLESS_FIELDS = frozenset({"checkpoint_every", "eval_batch_size", "resume_policy"})
# Fields that set how long a run trains: they may change with resume_policy='extend'.
LENGTH_FIELDS = frozenset({"num_steps", "num_epochs"})
RESUME_POLICIES = ("strict", "extend")
# atomic_write_bytes' temporary names: .<name>.<pid>.<random>.tmp
_TMP_NAME = re.compile(r"^\..+\.(\d+)\.[^.]+\.tmp$")
_TMP_MAX_AGE_S = 3600.0  # older temporary files are orphans whatever their pid


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
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent
    )
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def remove_orphaned_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Deletes the temporary files of :func:`atomic_write_bytes` under ``folder`` whose writer
    is gone (its pid no longer runs, or the file is over an hour old); returns them."""
    removed = []
    for path in Path(folder).rglob(".*.tmp"):
        match = _TMP_NAME.match(path.name)
        if match is None or not path.is_file():
            continue
        try:
            age = time.time() - path.stat().st_mtime
            if _pid_alive(int(match.group(1))) and age < _TMP_MAX_AGE_S:
                continue
            path.unlink()
        except FileNotFoundError:
            continue
        removed.append(path)
    return removed


def _flat(tree: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(tree, Mapping):
        return {prefix: tree}
    out: dict[str, Any] = {}
    for key, value in tree.items():
        out |= _flat(value, f"{prefix}.{key}" if prefix else str(key))
    return out


def config_changes(old: Mapping, new: Mapping) -> list[str]:
    """The fields in which two configs (as JSON objects) differ, as ``'name: old -> new'``
    (a field only one of them has shows as ``(absent)``), sorted by name."""
    a, b = _flat(old), _flat(new)
    missing = "(absent)"
    return [
        f"{k}: {json.dumps(a.get(k, missing))} -> {json.dumps(b.get(k, missing))}"
        for k in sorted(a.keys() | b.keys())
        if a.get(k, missing) != b.get(k, missing)
    ]


def refused_changes(old: Mapping, new: Mapping) -> list[str]:
    """The changes of :func:`config_changes` a rerun may not make (see the module docstring)."""
    flat_new = _flat(new)
    policies = {v for k, v in flat_new.items() if k.rsplit(".", 1)[-1] == "resume_policy"}
    extend = "extend" in policies
    refused = []
    for change in config_changes(old, new):
        name = change.split(":", 1)[0]
        leaf = name.rsplit(".", 1)[-1]
        if leaf in HARMLESS_FIELDS:
            continue
        if leaf in LENGTH_FIELDS and extend:
            parent = name.rsplit(".", 1)[0] + "." if "." in name else ""
            if flat_new.get(f"{parent}schedule") != "cosine":
                continue
            change += " (a cosine schedule spans the run: extending it changes every step)"
        refused.append(change)
    return refused


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
            for orphan in remove_orphaned_temporaries(self.path):
                logging.info("removed %s, left behind by an earlier run", orphan)

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
        """Writes ``config.json``; if the workdir already has one (an earlier run), first
        checks that ``config`` changes no field that changes the result.

        Raises:
          ValueError: naming the workdir and listing the refused changes (one line).
        """
        new = json.loads(json.dumps(_jsonable(config)))
        policy = _flat(new).get("resume_policy", "strict")
        if policy not in RESUME_POLICIES:
            raise ValueError(f"resume_policy must be one of {RESUME_POLICIES}, got {policy!r}")
        old = self.read_json("config.json")
        if old is not None:
            refused = refused_changes(old, new)
            if refused:
                names = {c.split(":", 1)[0].rsplit(".", 1)[-1] for c in refused}
                hint = "; to train longer add --config.resume_policy=extend"
                raise ValueError(
                    f"workdir {self.path} holds a run with another config; changed: "
                    f"{'; '.join(refused)}. Use a new --workdir or delete this one"
                    + (hint if names & LENGTH_FIELDS and policy != "extend" else "")
                )
        return self.write_json("config.json", new)

    def write_summary(self, scalars: Mapping[str, Any]) -> Path:
        """Writes ``summary.json``: the given numbers plus :func:`environment`, and
        ``status: 'completed'`` unless the scalars say otherwise (a failed run says
        ``'failed'``)."""
        summary = {"status": "completed", **_jsonable(scalars), "environment": environment()}
        return self.write_json("summary.json", summary)

    # -- metrics ----------------------------------------------------------------------------
    def metrics(self) -> list[dict]:
        """The lines of ``metrics.jsonl`` written so far.

        A last line that is not valid JSON (a torn append) is dropped with a warning, and the
        next write removes it; a bad line elsewhere is a ``ValueError`` naming its number.
        """
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return []
        lines = path.read_text(errors="replace").splitlines()
        out = []
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
                if not isinstance(record, dict) or "step" not in record:
                    raise ValueError("not an object with a 'step'")
            except ValueError as err:
                if number == len(lines):
                    logging.warning("%s: dropping its torn last line %d (%s)", path, number, err)
                    break
                raise ValueError(f"{path}: line {number} is not a metrics record ({err})") from err
            out.append(record)
        return out

    def log_metrics(self, step: int, *, merge: bool = False, **scalars: Any) -> None:
        """Appends one JSON object ``{"step": step, **scalars}`` to ``metrics.jsonl``; with
        ``merge``, adds the scalars to the last line instead when it has the same step."""
        if not self.is_writer:
            return
        lines = self.metrics()
        record = {"step": int(step), **_jsonable(scalars)}
        if merge and lines and lines[-1]["step"] == record["step"]:
            lines[-1] = lines[-1] | record
        else:
            lines.append(record)
        self._write_metrics(lines)

    def truncate_metrics(
        self, after_step: int, keep: Callable[[dict], dict | None] | None = None
    ) -> None:
        """Drops metric lines with ``step > after_step`` (a resumed run will log them again;
        ``after_step=0``: a run that restarts from scratch drops them all) and a torn last
        line; ``keep(line)``, when given, returns each remaining line as it should stay, or
        None to drop it too."""
        if not self.is_writer:
            return
        path = self.path / "metrics.jsonl"
        if not path.is_file():
            return
        kept = [m for m in self.metrics() if m["step"] <= after_step]
        if keep is not None:
            kept = [line for line in map(keep, kept) if line]
        text = "".join(json.dumps(m, sort_keys=True) + "\n" for m in kept)
        if text != path.read_text(errors="replace"):
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
