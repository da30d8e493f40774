"""Broken data files: each one a ValueError that names the file and the problem; pixels are
scaled by 1/255 exactly once."""

import gzip
import pickle

import numpy as np
import pytest

from experiments.core import data
from tests.experiments.idx_files import idx_bytes, real_digits, write_cifar, write_mnist_idx


def _gz(path, raw):
    with gzip.open(path, "wb") as f:
        f.write(raw)


def _npz(path, **arrays):
    np.savez(path, **arrays)
    return path.parent


def _digits_npz(tmp_path, scale=1.0, dtype=np.uint8):
    xtr, ytr, xte, yte = real_digits(8, 4)
    return _npz(
        tmp_path / "mnist.npz",
        x_train=(xtr * scale).astype(dtype),
        y_train=ytr,
        x_test=(xte * scale).astype(dtype),
        y_test=yte,
    )


@pytest.mark.parametrize("bad", [200, 10])
def test_idx_labels_outside_the_classes(tmp_path, bad):
    write_mnist_idx(tmp_path, n_train=8, n_test=4)
    labels = np.arange(8, dtype=np.uint8) % 10
    labels[5] = bad
    _gz(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(labels, 2049))
    with pytest.raises(
        ValueError,
        match=rf"train-labels-idx1-ubyte.gz: 1 labels outside the classes 0..9 "
        rf"\(e.g. label {bad} of example 5\)",
    ):
        data.load("mnist", "train", tmp_path)


@pytest.mark.parametrize("label", [99, -5])
def test_cifar_labels_outside_the_classes(tmp_path, label):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "data_batch_2"
    batch = pickle.loads(path.read_bytes())
    batch[b"labels"][1] = label
    path.write_bytes(pickle.dumps(batch))
    with pytest.raises(ValueError, match=rf"data_batch_2: 1 labels outside .*label {label} "):
        data.load("cifar10", "train", tmp_path)


def test_idx_images_of_another_size(tmp_path):
    write_mnist_idx(tmp_path, n_train=8, n_test=4)
    _gz(tmp_path / "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((4, 20, 20), np.uint8), 2051))
    with pytest.raises(
        ValueError, match=r"t10k-images-idx3-ubyte.gz: images of size 20x20x1, expected 28x28x1"
    ):
        data.load("mnist", "test", tmp_path)


def test_npz_images_of_another_size(tmp_path):
    x = np.zeros((3, 32, 32), np.uint8)
    _npz(tmp_path / "mnist.npz", x_train=x, y_train=np.zeros(3), x_test=x, y_test=np.zeros(3))
    with pytest.raises(ValueError, match=r"mnist.npz: images of size 32x32x1, expected 28x28x1"):
        data.load("mnist", "train", tmp_path)


def test_zero_examples(tmp_path):
    write_mnist_idx(tmp_path, n_train=8, n_test=4)
    _gz(tmp_path / "t10k-images-idx3-ubyte.gz", idx_bytes(np.zeros((0, 28, 28), np.uint8), 2051))
    _gz(tmp_path / "t10k-labels-idx1-ubyte.gz", idx_bytes(np.zeros((0,), np.uint8), 2049))
    with pytest.raises(ValueError, match=r"t10k-images-idx3-ubyte.gz: no examples"):
        data.load("mnist", "test", tmp_path)


@pytest.mark.parametrize("keep", [0, 40, 300])
def test_truncated_npz_is_named(tmp_path, keep):
    folder = _digits_npz(tmp_path)
    path = folder / "mnist.npz"
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ValueError, match=r"mnist.npz: not a readable .npz file"):
        data.load("mnist", "train", folder)


def test_npz_without_the_split(tmp_path):
    _npz(tmp_path / "mnist.npz", x_train=np.zeros((2, 28, 28), np.uint8), y_train=np.zeros(2))
    with pytest.raises(ValueError, match=r"mnist.npz: missing array 'x_test'"):
        data.load("mnist", "test", tmp_path)


@pytest.mark.parametrize("keep", [0, 10, 1000])
def test_truncated_cifar_pickle_is_named(tmp_path, keep):
    write_cifar(tmp_path)
    path = tmp_path / "cifar-10-batches-py" / "test_batch"
    path.write_bytes(path.read_bytes()[:keep])
    with pytest.raises(ValueError, match=r"test_batch: not a CIFAR-10 python batch"):
        data.load("cifar10", "test", tmp_path)


def test_pixel_scale_is_applied_once(tmp_path):
    """uint8, float in [0, 255] and float already in [0, 1] give the same images."""
    want, _ = data.load("mnist", "train", _digits_npz(tmp_path))
    assert want.max() == 1.0
    for name, scale in (("f255", 1.0), ("f1", 1 / 255)):
        (tmp_path / name).mkdir()
        got, _ = data.load("mnist", "train", _digits_npz(tmp_path / name, scale, np.float64))
        np.testing.assert_allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("lo,hi", [(-1.0, 1.0), (0.0, 300.0), (0.0, np.nan)])
def test_pixels_out_of_range_are_refused(tmp_path, lo, hi):
    x = np.full((2, 28, 28), lo)
    x[0, 0, 0] = hi
    _npz(tmp_path / "mnist.npz", x_train=x, y_train=np.zeros(2, int), x_test=x, y_test=[0, 1])
    with pytest.raises(ValueError, match=r"mnist.npz: (pixels in|images hold NaN)"):
        data.load("mnist", "train", tmp_path)


def test_non_integer_labels_are_refused(tmp_path):
    x = np.zeros((2, 28, 28), np.uint8)
    _npz(tmp_path / "mnist.npz", x_train=x, y_train=[0.5, 1.0], x_test=x, y_test=[0, 1])
    with pytest.raises(ValueError, match=r"mnist.npz: labels of dtype float64, expected integer"):
        data.load("mnist", "train", tmp_path)
