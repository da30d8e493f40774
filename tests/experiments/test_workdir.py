import json

import jax
import numpy as np
import pytest

from experiments import workdir as workdir_lib
from experiments.plots import figure
from experiments.workdir import Workdir


def test_contract_files(tmp_path):
    wd = Workdir(tmp_path / "run")
    wd.write_config({"lr": 0.1, "name": "x"})
    wd.log_metrics(1, loss=np.float32(2.5), acc=jax.numpy.asarray(0.5))
    wd.log_metrics(2, loss=1.5)
    wd.write_summary({"accuracy": np.float64(0.9)})
    fig, ax = figure()
    ax.plot([0, 1], [1, 0])
    wd.save_figure("curve", fig)
    wd.save_arrays("weights", w=np.arange(6.0).reshape(2, 3))
    root = tmp_path / "run"
    assert json.loads((root / "config.json").read_text()) == {"lr": 0.1, "name": "x"}
    lines = (root / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == [
        {"step": 1, "loss": 2.5, "acc": 0.5},
        {"step": 2, "loss": 1.5},
    ]
    summary = json.loads((root / "summary.json").read_text())
    assert summary["accuracy"] == 0.9
    assert summary["environment"]["jax_version"] == jax.__version__
    assert summary["environment"]["device_count"] == jax.device_count()
    assert (root / "figures" / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(wd.load_arrays("weights")["w"], np.arange(6.0).reshape(2, 3))
    leftovers = [p.name for p in root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_truncate_metrics(tmp_path):
    wd = Workdir(tmp_path)
    for step in range(1, 6):
        wd.log_metrics(step, loss=float(step))
    wd.truncate_metrics(3)
    assert [m["step"] for m in wd.metrics()] == [1, 2, 3]


def test_failed_write_leaves_the_old_file(tmp_path, monkeypatch):
    wd = Workdir(tmp_path)
    wd.write_json("summary.json", {"a": 1})

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(workdir_lib.os, "replace", broken_replace)
    with pytest.raises(OSError, match="disk full"):
        wd.write_json("summary.json", {"a": 2})
    assert json.loads((tmp_path / "summary.json").read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["summary.json"]


def test_only_process_zero_writes(tmp_path, monkeypatch):
    monkeypatch.setattr(workdir_lib.jax, "process_index", lambda: 1)
    wd = Workdir(tmp_path / "other")
    wd.write_config({"a": 1})
    wd.log_metrics(1, loss=0.0)
    wd.save_arrays("x", a=np.zeros(2))
    assert not (tmp_path / "other").exists()
