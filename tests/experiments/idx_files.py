"""Writes small but valid data files in the standard formats, from real mnist_5k digits."""

import gzip
import pickle
from pathlib import Path

import numpy as np

from experiments.core import data


def idx_bytes(array: np.ndarray, magic: int) -> bytes:
    """The IDX encoding of a uint8 array (header: magic, then each dimension, big endian)."""
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def real_digits(n_train: int, n_test: int):
    x_train, y_train = data.load("mnist_5k", "train")
    x_test, y_test = data.load("mnist_5k", "test")
    to_u8 = lambda x: np.round(x[..., 0] * 255).astype(np.uint8)
    return (
        to_u8(x_train[:n_train]),
        y_train[:n_train].astype(np.uint8),
        to_u8(x_test[:n_test]),
        y_test[:n_test].astype(np.uint8),
    )


def write_mnist_idx(folder: Path, n_train: int = 64, n_test: int = 32, gz: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    xtr, ytr, xte, yte = real_digits(n_train, n_test)
    files = {
        "train-images-idx3-ubyte": idx_bytes(xtr, 2051),
        "train-labels-idx1-ubyte": idx_bytes(ytr, 2049),
        "t10k-images-idx3-ubyte": idx_bytes(xte, 2051),
        "t10k-labels-idx1-ubyte": idx_bytes(yte, 2049),
    }
    for name, raw in files.items():
        if gz:
            with gzip.open(folder / f"{name}.gz", "wb") as f:
                f.write(raw)
        else:
            (folder / name).write_bytes(raw)
    return folder


def write_cifar(folder: Path, per_batch: int = 4) -> Path:
    sub = folder / "cifar-10-batches-py"
    sub.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8),
            b"labels": list(rng.integers(0, 10, per_batch)),
        }
        with open(sub / name, "wb") as f:
            pickle.dump(batch, f)
    return folder
