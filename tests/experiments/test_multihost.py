"""A real two-process run: two processes on this machine, four CPU devices each, gloo
collectives, train the smoke LeNet and end with the loss and the parameters of one process
with eight devices; only process 0 writes the workdir."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest
from flax import nnx

from experiments import _app, train_lenet

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _flat(params) -> dict[str, np.ndarray]:
    leaves = jax.tree_util.tree_leaves_with_path(nnx.to_pure_dict(params))
    return {jax.tree_util.keystr(path): np.asarray(leaf) for path, leaf in leaves}


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.multidevice
@pytest.mark.slow
def test_two_processes_equal_one_process_with_eight_devices(tmp_path):
    assert jax.device_count() == 8
    workdir, port = tmp_path / "two", _free_port()
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"} | {"JAX_PLATFORMS": "cpu"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.experiments.multihost_worker",
                str(i),
                str(port),
                str(workdir),
                str(tmp_path / f"process_{i}.npz"),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(2)
    ]
    try:
        outputs = [p.communicate(timeout=240)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    for p, out in zip(procs, outputs, strict=True):
        assert p.returncode == 0, out[-4000:]

    one = train_lenet.run(_app.load_config("train_lenet", "smoke"), str(tmp_path / "one"))
    want = _flat(one.params)
    for i in range(2):  # both processes end with the one-process parameters
        got = np.load(tmp_path / f"process_{i}.npz")
        assert set(got.files) - {"writes"} == set(want)
        for name, value in want.items():
            np.testing.assert_allclose(got[name], value, rtol=1e-5, atol=1e-5, err_msg=name)

    lines = lambda d: [json.loads(x) for x in (d / "metrics.jsonl").read_text().splitlines()]
    two_lines, one_lines = lines(workdir), lines(tmp_path / "one")
    assert [m["step"] for m in two_lines] == [m["step"] for m in one_lines] == [2, 4, 6]
    for a, b in zip(two_lines, one_lines, strict=True):
        for key in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
            if key in b:
                np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)

    # process 1 wrote nothing through the workdir: every file outside the checkpoints is one
    # the one-process run writes too. Inside them orbax has each process write its own part
    # (array_metadatas/process_1, ocdbt.process_1/), as orbax requires.
    assert np.load(tmp_path / "process_1.npz")["writes"].size == 0
    assert np.load(tmp_path / "process_0.npz")["writes"].size > 0
    outside = lambda d: {f for f in _files(d) if not f.startswith("checkpoints/")}
    assert outside(workdir) == outside(tmp_path / "one")
    summary = json.loads((workdir / "summary.json").read_text())
    assert summary["environment"]["process_count"] == 2
    assert summary["environment"]["device_count"] == 8
    # the two-process checkpoints restore in one process
    again = train_lenet.run(_app.load_config("train_lenet", "smoke"), str(workdir))
    assert again.summary["resumed_from_step"] == 6
    again_flat = _flat(again.params)
    for name, value in want.items():
        np.testing.assert_allclose(again_flat[name], value, rtol=1e-5, atol=1e-5, err_msg=name)
