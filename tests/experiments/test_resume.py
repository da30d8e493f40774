"""Interrupted, corrupted and misconfigured runs end equal to an uninterrupted run (parameters
to 1e-6, the same metric steps, strictly increasing) or with one clear error."""

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from experiments import _app
from experiments.core import train
from experiments.workdir import Workdir
from tests.experiments import tiny_training
from tests.experiments.tiny_training import tiny_config

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run: its parameters and its metric steps."""
    path = tmp_path_factory.mktemp("reference")
    result = tiny_training.run(path)
    steps = [m["step"] for m in Workdir(path).metrics()]
    assert steps == [2, 4, 6]  # the last line holds the train and the test metrics
    return nnx.to_pure_dict(result.params), Workdir(path).metrics()


def _assert_equal_to(reference, workdir, result=None):
    params, lines = reference
    result = tiny_training.run(workdir) if result is None else result
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6),
        params,
        nnx.to_pure_dict(result.params),
    )
    got = Workdir(workdir).metrics()
    steps = [m["step"] for m in got]
    assert steps == [m["step"] for m in lines]
    assert all(a < b for a, b in zip(steps, steps[1:], strict=False))
    for a, b in zip(lines, got, strict=True):  # losses too, not only the steps
        assert sorted(a) == sorted(b)
        np.testing.assert_allclose(a["train_loss"], b["train_loss"], rtol=1e-5)
    return result


def _worker(workdir, mode):
    cmd = [sys.executable, "-m", "tests.experiments.tiny_training", str(workdir), mode]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_kill_before_the_first_checkpoint(tmp_path, reference):
    """SIGKILL at step 3: metrics of steps 2 exist, no checkpoint; the rerun starts over."""
    proc = _worker(tmp_path, "kill_at_step=2")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    assert [m["step"] for m in Workdir(tmp_path).metrics()] == [2]
    assert not list((tmp_path / "checkpoints").glob("[0-9]*"))
    result = _assert_equal_to(reference, tmp_path)
    assert result.resumed_from == 0


def test_kill_during_a_checkpoint_save(tmp_path, reference):
    """SIGKILL inside orbax's save of step 6 (written, not yet renamed into place)."""
    proc = _worker(tmp_path, "kill_in_save=6")
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert "3" in names and "6" not in names and any("tmp" in n for n in names), names
    result = _assert_equal_to(reference, tmp_path)
    assert result.resumed_from == 3
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["3", "6"]  # the torn save is gone


def test_sigint(tmp_path, reference, monkeypatch):
    original = train.data_lib.batch_indices

    def interrupt(key, step, *args):
        if step == 4:
            signal.raise_signal(signal.SIGINT)
        return original(key, step, *args)

    monkeypatch.setattr(train.data_lib, "batch_indices", interrupt)
    # Python's own SIGINT handler, whatever an earlier test or library installed
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with pytest.raises(KeyboardInterrupt):
            tiny_training.run(tmp_path)
    finally:
        signal.signal(signal.SIGINT, previous)
    monkeypatch.setattr(train.data_lib, "batch_indices", original)
    assert [m["step"] for m in Workdir(tmp_path).metrics()] == [2, 4]
    assert _assert_equal_to(reference, tmp_path).resumed_from == 3


def test_torn_metrics_line(tmp_path, reference, monkeypatch):
    """A half line at the end of metrics.jsonl is dropped (with a warning), not a crash."""
    test_sigint(tmp_path, reference, monkeypatch)  # a finished run, then a torn append
    with open(tmp_path / "metrics.jsonl", "a") as f:
        f.write('{"step": 7, "train_lo')
    assert [m["step"] for m in Workdir(tmp_path).metrics()] == [2, 4, 6]
    (tmp_path / "checkpoints" / "6").rename(tmp_path / "elsewhere")  # resume from step 3
    _assert_equal_to(reference, tmp_path)
    assert (tmp_path / "metrics.jsonl").read_text().endswith("}\n")


def test_a_bad_line_in_the_middle_is_named(tmp_path):
    (tmp_path / "metrics.jsonl").write_text('{"step": 1}\n{"step": 2, \n{"step": 3}\n')
    with pytest.raises(ValueError, match=r"metrics.jsonl: line 2 is not a metrics record"):
        Workdir(tmp_path).metrics()


def _data_files(step_dir):
    return [p for p in step_dir.rglob("*") if p.is_file() and "d" == p.parent.name]


@pytest.mark.parametrize("damage", ["truncated_data", "empty_metadata"])
def test_corrupted_newest_checkpoint(tmp_path, reference, damage, caplog):
    tiny_training.run(tmp_path)
    newest = tmp_path / "checkpoints" / "6"
    if damage == "truncated_data":
        files = _data_files(newest)
        assert files, sorted(str(p) for p in newest.rglob("*"))
        for path in files:
            path.write_bytes(path.read_bytes()[:20])
    else:
        metadata = [p for p in newest.rglob("*") if p.is_file() and "METADATA" in p.name]
        assert metadata, sorted(str(p) for p in newest.rglob("*"))
        for path in metadata:
            path.write_bytes(b"")
    with caplog.at_level("WARNING"):
        result = _assert_equal_to(reference, tmp_path)
    assert result.resumed_from == 3
    warnings = [r.getMessage() for r in caplog.records if "cannot be read" in r.getMessage()]
    assert len(warnings) == 1 and "checkpoint step 6" in warnings[0], warnings
    assert "\n" not in warnings[0] and len(warnings[0]) < 600
    assert (tmp_path / "checkpoints.corrupt" / "6").is_dir()  # set aside, not deleted


def test_diverged_run_stops_at_its_step(tmp_path, monkeypatch):
    """A NaN input in the batch of step 5: stop there, keep checkpoint 3, summary failed."""
    original = train.data_lib.random_shifts

    def nan_at_step_5(key, step, images, max_shift):
        images = original(key, step, images, max_shift)
        return np.where(step == 4, np.nan, images).astype(images.dtype)

    monkeypatch.setattr(train.data_lib, "random_shifts", nan_at_step_5)
    with pytest.raises(train.TrainingDiverged, match=r"the loss at step 5 is nan .*step 3 in"):
        tiny_training.run(tmp_path)
    assert sorted(p.name for p in (tmp_path / "checkpoints").glob("[0-9]*")) == ["3"]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["failed_step"] == 5
    assert summary["last_checkpoint_step"] == 3
    assert [m["step"] for m in Workdir(tmp_path).metrics()] == [2, 4]  # the good steps


@pytest.mark.parametrize(
    "field,value,expected",
    [
        ("learning_rate", float("nan"), "learning_rate must be finite and > 0, got nan"),
        ("learning_rate", -1.0, "learning_rate must be finite and > 0, got -1.0"),
        ("batch_size", 0, "batch_size must be an integer >= 1, got 0"),
        ("checkpoint_every", 0, "checkpoint_every must be an integer >= 1, got 0"),
        ("log_every", 0, "log_every must be an integer >= 1, got 0"),
        ("eval_batch_size", 0, "eval_batch_size must be an integer >= 1, got 0"),
        ("num_steps", -3, "num_steps must be an integer >= 0"),
        ("momentum", 1.5, "momentum must be in [0, 1), got 1.5"),
        ("weight_decay", float("inf"), "weight_decay must be finite >= 0, got inf"),
    ],
)
def test_bad_config_is_refused_before_any_data_is_loaded(field, value, expected, monkeypatch):
    from experiments.core import nets

    def no_data(config):
        raise AssertionError("data loaded before the config was checked")

    monkeypatch.setattr(nets, "load_data", no_data)
    config = _app.load_config("decode_lenet", "smoke")  # any experiment on a trained net
    with config.unlocked():
        config.nets.lenet[field] = value
    with pytest.raises(ValueError, match=r"bad training config: .*" + re.escape(expected)):
        nets.prepare(config)


def test_changed_config_on_rerun_is_refused(tmp_path):
    wd = Workdir(tmp_path)
    wd.write_config(tiny_config())
    changed = tiny_config(learning_rate=0.1, batch_size=8, checkpoint_every=2)
    with pytest.raises(ValueError) as err:
        Workdir(tmp_path).write_config(changed)
    message = str(err.value)
    assert "\n" not in message
    assert "batch_size: 16 -> 8; learning_rate: 0.05 -> 0.1." in message
    assert "checkpoint_every" not in message  # it changes nothing the run computes
    assert json.loads((tmp_path / "config.json").read_text())["learning_rate"] == 0.05
    with pytest.raises(ValueError, match=r"num_steps: 6 -> 9\. .*resume_policy=extend"):
        wd.write_config(tiny_config(num_steps=9))
    wd.write_config(tiny_config(num_steps=9, resume_policy="extend"))
    cosine = tiny_config(schedule="cosine", warmup_steps=1)
    (tmp_path / "config.json").unlink()
    wd.write_config(cosine)
    with pytest.raises(ValueError, match=r"num_steps: 6 -> 9 \(a cosine schedule spans"):
        wd.write_config(
            tiny_config(schedule="cosine", warmup_steps=1, num_steps=9, resume_policy="extend")
        )


def test_extending_a_run_equals_the_longer_run(tmp_path, reference):
    short = tiny_config(num_steps=3)
    Workdir(tmp_path).write_config(short)
    tiny_training.run(tmp_path, short)
    longer = tiny_config(resume_policy="extend")
    Workdir(tmp_path).write_config(longer)
    result = tiny_training.run(tmp_path, longer)
    assert result.resumed_from == 3
    # the short run's last line (step 3, with its test metrics) is not on the longer run's
    # schedule and goes; the line of step 4 averages steps 3 and 4 as the longer run's does
    _assert_equal_to(reference, tmp_path, result)


def test_fewer_steps_than_the_checkpoint_is_refused(tmp_path):
    tiny_training.run(tmp_path)
    with pytest.raises(ValueError, match=r"checkpoint at step 6, past num_steps=3"):
        tiny_training.run(tmp_path, tiny_config(num_steps=3, resume_policy="extend"))


def test_orphaned_temporary_files_are_removed(tmp_path):
    dead = tmp_path / "figures" / ".loss.png.999999999.abcd.tmp"
    old = tmp_path / ".metrics.jsonl.1.abcd.tmp"  # pid 1 lives, but the file is a day old
    live = tmp_path / f".summary.json.{os.getpid()}.abcd.tmp"
    other = tmp_path / ".notes.tmp"  # not one of ours
    for path in (dead, old, live, other):
        path.parent.mkdir(exist_ok=True)
        path.write_text("x")
    os.utime(old, (0, 0))
    Workdir(tmp_path)
    assert not dead.exists() and not old.exists()
    assert live.exists() and other.exists()


def test_entry_point_error_is_one_line(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "experiments.train_lenet",
        f"--config={ROOT / 'experiments/configs/train_lenet.py'}:smoke",
        "--config.net.learning_rate=nan",
        f"--workdir={tmp_path}",
    ]
    env = {**os.environ, "JAX_PLATFORMS": "cpu"}
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr[-2000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        "train_lenet: error: ValueError: bad training config: "
        "learning_rate must be finite and > 0, got nan"
    )
    assert "Traceback" not in proc.stderr
